// A reload's follow-up, carried out on the loop in slices after the switch to the next config
// (daemon.hpp, "reload's follow-up"; docs/ARCHITECTURE.md). The switch itself — the running
// config, the generation, the reply and last_reload — is one handler (commit_reload); what
// grows with the services a reload keeps, adds or removes runs here, at most kCheckSlice per
// slice:
//   1. the quorum counts move to the next config's positions, service by service
//      (HealthyCounts::carry_over_step; a health change or drain of a service not carried yet
//      carries that one at once, so no answer is ever wrong meanwhile);
//   2. the quorum of each service the reload touched (added, changed, other backends or
//      checks) is decided, in config order, and tracked-service weights follow.
// Until a touched service's turn its decision is the previous one (an added service has
// none: it is not below quorum for a tracked instance); a health change decides it at once.
// A status snapshot asked for meanwhile is taken when the slices end (a few milliseconds), so
// status never shows a half-counted reload. The next reload finishes what is left before it
// replaces the config the positions belong to.
#include <boost/asio/post.hpp>

#include "common/log.hpp"
#include "common/reaper.hpp"
#include "common/thread_cpu.hpp"
#include "daemon/daemon.hpp"

namespace l4lb::daemon {
namespace {
// Services carried or decided between two looks at the clock: a few microseconds of work.
constexpr std::size_t kServicesPerStep = 64;
}  // namespace

void Daemon::start_reload_slices(std::vector<std::size_t> touched) {
  reload_slices_ = {};
  reload_slices_.active = true;
  reload_slices_.touched = std::move(touched);
  reload_slices_.started = Clock::now();
  // After the handler that switched the config: never part of it.
  boost::asio::post(io_, [this] { reload_slice(); });
}

bool Daemon::reload_slice_work(TimePoint deadline) {
  while (healthy_counts_.pending()) {
    if (auto left = healthy_counts_.carry_over_step(kServicesPerStep)) {
      reaper::dispose(std::move(*left));  // the previous counts: 10,000s of blocks
      break;
    }
    if (Clock::now() >= deadline) return false;
  }
  auto& r = reload_slices_;
  while (r.quorum_done < r.touched.size()) {
    const std::size_t end = std::min(r.touched.size(), r.quorum_done + kServicesPerStep);
    for (; r.quorum_done < end; ++r.quorum_done) {
      const std::size_t i = r.touched[r.quorum_done];
      if (i < config_->services.size()) note_shared_checks(config_->services[i]);
      update_quorum_of(i);
    }
    if (r.quorum_done < r.touched.size() && Clock::now() >= deadline) return false;
  }
  return true;
}

void Daemon::reload_slice() {
  if (!reload_slices_.active || stopping_) return;
  const auto begin = Clock::now();
  const auto cpu0 = thread_cpu_time();
  const bool done = reload_slice_work(begin + kCheckSlice);
  const auto spent = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - begin);
  const auto cpu = thread_cpu_time() - cpu0;
  reload_slices_.longest = std::max(reload_slices_.longest, spent);
  reload_slices_.longest_cpu = std::max(reload_slices_.longest_cpu, cpu);
  ++reload_slices_.slices;
  log::debug("reload slice {} took {} us ({} us of CPU)", reload_slices_.slices, spent.count(),
             cpu.count());
  if (done) return end_reload_slices();
  // The next slice after whatever else is queued on the loop (probe results, control I/O).
  boost::asio::post(io_, [this] { reload_slice(); });
}

void Daemon::finish_reload_slices() {
  if (!reload_slices_.active) return;
  (void)reload_slice_work(TimePoint::max());
  end_reload_slices();
}

void Daemon::end_reload_slices() {
  const auto& r = reload_slices_;
  log::info(
      "reload slices: {} services' quorum in {} slice(s), longest {} us ({} us of CPU), {:.1f} "
      "ms in all",
      r.touched.size(), r.slices, r.longest.count(), r.longest_cpu.count(),
      std::chrono::duration<double, std::milli>(Clock::now() - r.started).count());
  reaper::dispose(std::move(reload_slices_.touched));
  reload_slices_ = {};
  // Every service decided: the weights once for all (update_quorum_of pushed them only for
  // tracked services that crossed).
  update_tracked_weights(config_->vrrp);
  // The snapshots that waited, each after whatever is queued now.
  for (auto& take : std::exchange(after_reload_slices_, {})) boost::asio::post(io_, take);
  release_reload_memory();
}

}  // namespace l4lb::daemon
