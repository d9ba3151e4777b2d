// The loop's side of status and metrics: take a snapshot (short, on the loop), render it on
// the render worker, stream the text chunk by chunk to every request that waited for it. See
// docs/ARCHITECTURE.md for what runs where.
#include <unistd.h>

#include <algorithm>
#include <array>
#include <utility>

#include "common/log.hpp"
#include "daemon/daemon.hpp"
#include "daemon/metrics.hpp"

namespace l4lb::daemon {

namespace {

// 256 KiB pieces, at most 4 alive per text: the slowest reader holds the worker back, never
// more than ~1 MiB of a text in memory. A reader that takes nothing for 30 s (control) or
// 10 s (HTTP) is dropped by its session; the stream's own stall limit is the backstop.
constexpr TextStream::Limits kStreamLimits{256 * 1024, 4, std::chrono::seconds(60)};
// A reader that falls behind the others keeps at most this much of a text unwritten
// (TextFanout; docs/CONTROL.md): past it, it is disconnected.
constexpr std::size_t kSlowReaderCap = 16 * 1024 * 1024;
constexpr TextFanout::Limits kFanoutLimits{kStreamLimits.max_live, kSlowReaderCap};

}  // namespace

void Daemon::render(Want want, TextFanout::Reader reader) {
  RenderLane& lane = want == Want::status_summary ? summary_lane_ : full_lane_;
  lane.waiting.push_back(RenderWaiter{want, std::move(reader)});
  // Someone waits for the worker: the running rendering no longer waits for its slowest
  // reader (it falls behind and buffers, up to its cap).
  if (lane.fans)
    for (auto& fan : *lane.fans) fan.press();
  start_render(lane);
}

StatusSnapshot Daemon::snapshot(ipvs::Table kernel,
                                std::optional<vrrp::Engine::Status> vrrp) const {
  StatusSnapshot s;
  s.config = config_;
  s.config_file = config_path_;
  s.pid = ::getpid();
  s.started_at = started_at_;
  s.generation = generation_;
  s.reloads_ok = reloads_ok_;
  s.reloads_failed = reloads_failed_;
  s.last_reload = last_reload_;
  if (vrrp) {
    s.vrrp = std::move(vrrp->instances);
    s.rtnetlink = vrrp->netlink;
  }
  if (health_) {
    s.health_running = true;  // the checks themselves are read while rendering (start_render)
    s.healthy_counts = healthy_counts_.all();
    const auto stats = health_->stats();
    s.half_open = stats.half_open;
    s.health_local_resource_errors = stats.local_resource_errors;
    s.log_suppressed.emplace_back("health", health_->log_suppressed());
  }
  s.log_suppressed.emplace_back("quorum", quorum_log_.suppressed_total());
  s.slow_readers_dropped = slow_readers_dropped_;
  s.drains = drains_;
  s.kernel = std::move(kernel);
  s.ipvs_available = ipvs_ != nullptr;
  s.ipvs_error = ipvs_error_;
  s.ipvs_operations = ipvs_operations_;
  s.ipvs_operation_errors = ipvs_operation_errors_;
  s.ipvs_conflicts = ipvs_conflicts_;
  s.ipvs_tuning = ipvs_tuning_status();
  s.ipvs_sync = ipvs_sync_status();
  s.nft = nft_status();
  if (ipvs_repair_) s.ipvs_repair = ipvs_repair_->status();
  s.lag.push_back({"loop", "timer_lateness", loop_lag_.histogram()});
  if (vrrp) s.lag.push_back({"l4lb-vrrp", "timer_lateness", vrrp->lag});
  for (const Worker* w : {&full_lane_.worker, &summary_lane_.worker, &reload_worker_, &nft_worker_})
    s.lag.push_back({w->name(), "queue_delay", w->queue_delay()});
  if (ipvs_plans_)
    s.lag.push_back(
        {ipvs_plans_->worker().name(), "queue_delay", ipvs_plans_->worker().queue_delay()});
  return s;
}

std::optional<ProcessStats> Daemon::process_stats() {
  std::lock_guard<PiMutex> lock(process_stats_mutex_);  // both render lanes call it
  std::string error;
  auto stats = process_stats_.read(error);
  if (!stats && !std::exchange(process_stats_warned_, true))
    log::warning("status: process statistics unavailable ({}); daemon.process is left out", error);
  return stats;
}

void Daemon::start_render(RenderLane& lane) {
  if (lane.running || lane.waiting.empty()) return;
  lane.running = true;
  // One fanout per text (status, summary, metrics), on the loop; chunks come back to them
  // through the worker's queue to the loop (never io_context::post from the worker).
  auto fans = std::make_shared<std::array<TextFanout, 3>>(std::array<TextFanout, 3>{
      TextFanout(kFanoutLimits, "status reply"), TextFanout(kFanoutLimits, "status summary reply"),
      TextFanout(kFanoutLimits, "metrics scrape")});
  for (auto& w : lane.waiting) (*fans)[static_cast<std::size_t>(w.want)].add(std::move(w.reader));
  lane.waiting.clear();
  const bool want_status = !(*fans)[0].empty(), want_summary = !(*fans)[1].empty(),
             want_metrics = !(*fans)[2].empty();
  for (auto& fan : *fans) {
    fan.on_drop([this] { ++slow_readers_dropped_; });
    // The texts of one rendering are written one after the other: the readers of the later
    // ones wait for the worker, so none of them waits for a slow reader of another.
    if (want_status + want_summary + want_metrics > 1) fan.press();
  }
  lane.fans = fans;
  auto take = [this, &lane, fans](ipvs::Table kernel, std::optional<vrrp::Engine::Status> vrrp) {
    auto snap = std::make_shared<StatusSnapshot>(snapshot(std::move(kernel), std::move(vrrp)));
    if (health_) {
      // The checks are read run by run while the texts are written (check_source.hpp): no
      // copy of the whole table is held while readers pace the rendering.
      auto checks = std::make_shared<LoopChecks>(
          lane.worker, [this]() -> const health::Monitor* { return health_.get(); });
      lane.abort.push_back(checks->abort_handle());
      snap->checks = std::move(checks);
    }
    // The streams are made here, on the loop, so that the loop holds their abort handles:
    // a fanout whose readers are all gone, or the daemon's end, stops the worker.
    auto streams = std::make_shared<std::array<std::unique_ptr<TextStream>, 3>>();
    for (std::size_t i = 0; i < fans->size(); ++i) {
      if ((*fans)[i].empty()) continue;
      (*streams)[i] =
          std::make_unique<TextStream>(kStreamLimits, [&lane, fans, i](TextStream::Piece piece) {
            lane.worker.send_to_loop([fans, i, piece = std::move(piece)]() mutable {
              (*fans)[i].chunk(std::move(piece));
            });
          });
      (*fans)[i].on_empty((*streams)[i]->abort_handle());
      lane.abort.push_back((*streams)[i]->abort_handle());
    }
    lane.worker.post([this, &lane, snap, fans, streams]() mutable -> Worker::Continuation {
      // Written straight into the streams (status.cpp): no document tree, and never a whole
      // text in memory. Each text ends complete or failed (aborted: no reader left, or the
      // daemon ends; or an allocation failed), so every reader gets its end.
      snap->process = process_stats();
      snap->allocator = allocator_stats();
      std::array<bool, 3> complete{};
      for (std::size_t i = 0; i < streams->size(); ++i) {
        TextStream* out = (*streams)[i].get();
        if (!out) continue;
        try {
          if (i == 2)
            metrics_to(*out, *snap);
          else
            status_reply_to(*out, *snap, i == 0 ? StatusView::full : StatusView::summary);
          out->finish();
          complete[i] = true;
        } catch (const TextStream::Aborted&) {
        } catch (const std::exception& e) {
          log::err("rendering failed: {}", e.what());
        }
      }
      snap.reset();
      streams.reset();  // its buffers; the chunks themselves live until written
      return [this, &lane, fans, complete] {
        for (std::size_t i = 0; i < fans->size(); ++i) (*fans)[i].end(complete[i]);
        lane.abort.clear();
        lane.fans.reset();
        lane.running = false;
        start_render(lane);  // requests that came in meanwhile share the next rendering
      };
    });
  };
  // While a reload's follow-up runs (reload_slices.cpp) the snapshot waits for its end: the
  // quorum counts are then all of the new config's.
  auto go = [this, take](ipvs::Table kernel, std::optional<vrrp::Engine::Status> vrrp) {
    if (!reload_slices_.active) return take(std::move(kernel), std::move(vrrp));
    after_reload_slices_.push_back(
        [take, kernel = std::move(kernel), vrrp = std::move(vrrp)]() mutable {
          take(std::move(kernel), std::move(vrrp));
        });
  };
  // The VRRP status first (a message to its thread and back, microseconds), then the kernel
  // table: the snapshot is taken when the table arrives, so that it shows that moment's state.
  auto read_table = [this, go](std::optional<vrrp::Engine::Status> vrrp) {
    if (!ipvs_) return go(ipvs::Table{}, std::move(vrrp));
    if (!table_reader_) return go(ipvs_->current(), std::move(vrrp));
    table_reader_->read([this, go, vrrp = std::move(vrrp)](std::optional<ipvs::Table> table,
                                                           const std::string& error) {
      if (!table) {
        log::warning("ipvs dump for status failed: {}", error);
        return go(ipvs_ ? ipvs_->model() : ipvs::Table{}, vrrp);
      }
      go(std::move(*table), vrrp);
    });
  };
  if (!vrrp_) return read_table(std::nullopt);
  vrrp_->status([read_table](vrrp::Engine::Status s) { read_table(std::move(s)); });
}

void Daemon::log_summaries() {
  const TimePoint now = Clock::now();
  if (health_)
    if (auto line = health_->log_summary(now)) log::notice("{}", *line);
  if (auto line = quorum_log_.summary(now)) log::notice("{}", *line);
  summary_timer_.expires_after(std::chrono::seconds(1));
  summary_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) log_summaries();
  });
}

}  // namespace l4lb::daemon
