// The loop's side of status and metrics: take a snapshot (short, on the loop), render it on
// the render worker, hand the text to every request that waited for it. See
// docs/ARCHITECTURE.md for what runs where.
#include <malloc.h>
#include <unistd.h>

#include "common/log.hpp"
#include "daemon/daemon.hpp"
#include "daemon/metrics.hpp"

namespace l4lb::daemon {

void Daemon::render(bool want_status, bool want_metrics,
                    std::function<void(const Rendered&)> done) {
  render_waiting_.push_back(RenderWaiter{want_status, want_metrics, std::move(done)});
  start_render();
}

StatusSnapshot Daemon::snapshot(ipvs::Table kernel) const {
  StatusSnapshot s;
  s.config = config_shared_;
  s.config_file = config_path_;
  s.pid = ::getpid();
  s.started_at = started_at_;
  s.generation = generation_;
  s.reloads_ok = reloads_ok_;
  s.reloads_failed = reloads_failed_;
  s.last_reload = last_reload_;
  if (vrrp_) {
    s.vrrp = vrrp_->status();
    s.rtnetlink = vrrp_->netlink_stats();
  }
  if (health_) {
    s.health_running = true;
    s.health = health_->snapshot();
    const auto stats = health_->stats();
    s.half_open = stats.half_open;
    s.health_local_resource_errors = stats.local_resource_errors;
    s.log_suppressed.emplace_back("health", health_->log_suppressed());
  }
  s.log_suppressed.emplace_back("quorum", quorum_log_.suppressed_total());
  s.drains = drains_;
  s.kernel = std::move(kernel);
  s.ipvs_available = ipvs_ != nullptr;
  s.ipvs_error = ipvs_error_;
  s.ipvs_operations = ipvs_operations_;
  s.ipvs_operation_errors = ipvs_operation_errors_;
  s.ipvs_conflicts = ipvs_conflicts_;
  s.ipvs_tuning = ipvs_tuning_status();
  if (ipvs_repair_) s.ipvs_repair = ipvs_repair_->status();
  s.lag.push_back({"loop", "timer_lateness", loop_lag_.histogram()});
  for (const Worker* w : {&render_worker_, &reload_worker_})
    s.lag.push_back({w->name(), "queue_delay", w->queue_delay()});
  return s;
}

void Daemon::start_render() {
  if (render_running_ || render_waiting_.empty()) return;
  render_running_ = true;
  auto waiters = std::make_shared<std::vector<RenderWaiter>>(std::move(render_waiting_));
  render_waiting_.clear();
  bool want_status = false, want_metrics = false;
  for (const auto& w : *waiters) {
    want_status |= w.status;
    want_metrics |= w.metrics;
  }
  auto go = [this, waiters, want_status, want_metrics](ipvs::Table kernel) {
    const auto taken = Clock::now();
    auto snap = std::make_shared<const StatusSnapshot>(snapshot(std::move(kernel)));
    const auto snapshot_us =
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - taken).count();
    log::debug("status snapshot took {} us on the loop", snapshot_us);
    render_worker_.post([this, snap, waiters, want_status,
                         want_metrics]() mutable -> Worker::Continuation {
      Rendered r;
      {
        const nlohmann::json doc = status_document(*snap);
        snap.reset();
        if (want_status)
          r.status_reply =
              std::make_shared<const std::string>(R"({"ok":true,"status":)" + doc.dump() + "}\n");
        if (want_metrics) r.metrics = std::make_shared<const std::string>(render_metrics(doc));
      }
      // The document of a large table is tens of MiB of small allocations; give them back
      // to the system instead of keeping the peak as the daemon's resident size.
      ::malloc_trim(0);
      return [this, r, waiters] {
        for (auto& w : *waiters)
          if (w.done) w.done(r);
        render_running_ = false;
        start_render();  // requests that came in meanwhile share the next rendering
      };
    });
  };
  if (!ipvs_) return go(ipvs::Table{});
  if (!table_reader_) return go(ipvs_->current());
  // The snapshot is taken when the table arrives, so that it shows the state of that moment.
  table_reader_->read([this, go](std::optional<ipvs::Table> table, const std::string& error) {
    if (!table) {
      log::warning("ipvs dump for status failed: {}", error);
      return go(ipvs_ ? ipvs_->model() : ipvs::Table{});
    }
    go(std::move(*table));
  });
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
