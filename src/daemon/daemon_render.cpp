// The loop's side of status and metrics: take a snapshot (short, on the loop), render it on
// the render worker, hand the text to every request that waited for it. See
// docs/ARCHITECTURE.md for what runs where.
#include <unistd.h>

#include <algorithm>
#include <boost/asio/post.hpp>

#include "common/log.hpp"
#include "common/reaper.hpp"
#include "daemon/daemon.hpp"
#include "daemon/metrics.hpp"

namespace l4lb::daemon {

void Daemon::render(Want want, std::function<void(const Rendered&)> done) {
  render_waiting_.push_back(RenderWaiter{want, std::move(done)});
  start_render();
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
    s.health_running = true;  // the checks themselves are copied in slices (snapshot_checks)
    s.healthy_counts = healthy_counts_.all();
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
  s.ipvs_sync = ipvs_sync_status();
  s.nft = nft_status();
  if (ipvs_repair_) s.ipvs_repair = ipvs_repair_->status();
  s.lag.push_back({"loop", "timer_lateness", loop_lag_.histogram()});
  if (vrrp) s.lag.push_back({"l4lb-vrrp", "timer_lateness", vrrp->lag});
  for (const Worker* w : {&render_worker_, &reload_worker_})
    s.lag.push_back({w->name(), "queue_delay", w->queue_delay()});
  return s;
}

void Daemon::start_render() {
  if (render_running_ || render_waiting_.empty()) return;
  render_running_ = true;
  auto waiters = std::make_shared<std::vector<RenderWaiter>>(std::move(render_waiting_));
  render_waiting_.clear();
  bool want_status = false, want_summary = false, want_metrics = false;
  for (const auto& w : *waiters) {
    want_status |= w.want == Want::status;
    want_summary |= w.want == Want::status_summary;
    want_metrics |= w.want == Want::metrics;
  }
  auto go = [this, waiters, want_status, want_summary, want_metrics](
                ipvs::Table kernel, std::optional<vrrp::Engine::Status> vrrp) {
    auto job = std::make_shared<SnapshotJob>();
    job->snapshot = snapshot(std::move(kernel), std::move(vrrp));
    job->started = Clock::now();
    // The summary alone needs the checks of the services that are not all fine.
    job->summary_only = !want_status && !want_metrics;
    job->done = [this, waiters, want_status, want_summary, want_metrics](SnapshotJob& finished) {
      log::debug(
          "status snapshot: {} slices ({} over {} us), longest {} us, {} us in all",
          finished.slices, finished.long_slices, 2 * kSnapshotSlice.count(),
          finished.longest_slice.count(),
          std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - finished.started)
              .count());
      if (finished.summary_only)  // copied service by service, in config order
        std::sort(finished.snapshot.health.begin(), finished.snapshot.health.end(),
                  [](const auto& a, const auto& b) { return a.first < b.first; });
      auto snap = std::make_shared<const StatusSnapshot>(std::move(finished.snapshot));
      render_worker_.post([this, snap, waiters, want_status, want_summary,
                           want_metrics]() mutable -> Worker::Continuation {
        Rendered r;
        // Written straight into the reply text (status.cpp): no document tree. Reaped: the
        // last holder is usually a session on the loop, and freeing megabytes is a munmap.
        if (want_summary)
          r.status_summary_reply =
              reaper::make_reaped<std::string>(status_reply(*snap, StatusView::summary));
        if (want_status)
          r.status_reply = reaper::make_reaped<std::string>(status_reply(*snap, StatusView::full));
        if (want_metrics) r.metrics = reaper::make_reaped<std::string>(metrics_text(*snap));
        // No malloc_trim here: it locks the loop's arena for up to 100 ms at this size. The
        // large buffers are mappings of their own, returned when freed (tune_allocator).
        snap.reset();
        return [this, r, waiters] {
          for (auto& w : *waiters)
            if (w.done) w.done(r);
          render_running_ = false;
          start_render();  // requests that came in meanwhile share the next rendering
        };
      });
    };
    // Room for every check up front: growing the vector would copy it all in one slice.
    if (health_ && !job->summary_only)
      job->snapshot.health.reserve(health_->size() + health_->size() / 8);
    snapshot_checks(std::move(job));
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

void Daemon::snapshot_checks(std::shared_ptr<SnapshotJob> job) {
  // One slice now, the next after whatever else is queued on the loop (adverts, checks).
  const auto begin = Clock::now();
  const bool last =
      !health_ || (job->summary_only ? summary_checks_slice(*job)
                                     : health_->snapshot_slice(job->cursor, job->snapshot.health,
                                                               kSnapshotSlice));
  job->longest_slice =
      std::max(job->longest_slice,
               std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - begin));
  ++job->slices;
  if (Clock::now() - begin > 2 * kSnapshotSlice) ++job->long_slices;
  if (last) return job->done(*job);
  boost::asio::post(io_,
                    [this, job = std::move(job)]() mutable { snapshot_checks(std::move(job)); });
}

bool Daemon::summary_checks_slice(SnapshotJob& job) {
  // The snapshot's own config and counts: a reload between two slices does not mix configs.
  StatusSnapshot& snap = job.snapshot;
  if (!snap.config) return true;
  const auto& services = snap.config->services;
  const auto deadline = Clock::now() + kSnapshotSlice;
  for (std::size_t n = 1; job.service_cursor < services.size(); ++n) {
    const config::Service& s = services[job.service_cursor++];
    if (summary_needs_checks(snap, s, job.counts_offset))
      health_->snapshot_service(s.name, snap.health);
    job.counts_offset += s.ports.size();
    if (n % 64 == 0 && Clock::now() >= deadline) break;
  }
  return job.service_cursor == services.size();
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
