// A reload's health-check changes, carried out on the loop in slices after the rest of the
// reload is applied (daemon.hpp, "check changes"). Until a new check exists its backend is
// unknown, as a just-created check's is; a removed service's check that still runs for a few
// milliseconds reports to no service (service_index_ no longer names it).
#include <boost/asio/post.hpp>

#include "common/log.hpp"
#include "common/reaper.hpp"
#include "common/thread_cpu.hpp"
#include "daemon/daemon.hpp"

namespace l4lb::daemon {

void Daemon::queue_check_changes(health::CheckChanges changes) {
  if (changes.empty()) return;
  pending_checks_.push_back(std::move(changes));
  if (pending_checks_.size() == 1) {
    check_slices_ = {};
    check_slices_.started = Clock::now();
    // After the handler that queued them (a reload's apply): never part of it.
    boost::asio::post(io_, [this] { apply_check_slice(); });
  }
}

void Daemon::apply_check_slice() {
  if (stopping_ || pending_checks_.empty() || !health_) return;
  const auto begin = Clock::now();
  const auto cpu = thread_cpu_time();
  auto& front = pending_checks_.front();
  const bool last = health_->apply_changes_slice(front, check_slices_.done, kCheckSlice);
  const auto spent = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - begin);
  check_slices_.longest = std::max(check_slices_.longest, spent);
  const auto spent_cpu = thread_cpu_time() - cpu;
  check_slices_.longest_cpu = std::max(check_slices_.longest_cpu, spent_cpu);
  ++check_slices_.slices;
  log::debug("health check slice {}: up to change {} of {}, {} us ({} us of CPU)",
             check_slices_.slices, last ? front.size() : check_slices_.done, front.size(),
             spent.count(), spent_cpu.count());
  if (last) {
    check_slices_.changes += front.size();
    // 40,000 keys and specs for 5,000 services: freed on the reaper, not in this handler.
    reaper::dispose(std::move(front));
    pending_checks_.pop_front();
    check_slices_.done = 0;
    if (pending_checks_.empty()) {
      log::info(
          "health checks changed: {} in {} slice(s), longest {} us ({} us of CPU), {:.1f} ms in "
          "all",
          check_slices_.changes, check_slices_.slices, check_slices_.longest.count(),
          check_slices_.longest_cpu.count(),
          std::chrono::duration<double, std::milli>(Clock::now() - check_slices_.started).count());
      release_reload_memory();
      return;
    }
  }
  // The next slice after whatever else is queued on the loop (adverts, probe results).
  boost::asio::post(io_, [this] { apply_check_slice(); });
}

}  // namespace l4lb::daemon
