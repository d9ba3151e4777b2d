#include "health/monitor.hpp"

#include <algorithm>
#include <functional>

#include "common/log.hpp"
#include "health/deadlines.hpp"
#include "health/half_open.hpp"
#include "health/probe.hpp"

namespace l4lb::health {

namespace asio = boost::asio;

struct Monitor::Check {
  Check(Monitor& m, CheckSpec s) : spec(std::move(s)), slot_id(m.take_slot(*this)) {}
  Check(const Check&) = delete;
  Check& operator=(const Check&) = delete;

  // Puts the next run at `at`; a run scheduled before is void.
  void schedule(Monitor& m, TimePoint at) {
    slot = at;
    m.plan(at, slot_id, ++m.slots_[slot_id].generation);
  }

  void run(Monitor& m) {
    ++m.stats_.probes_started;
    ++m.stats_.in_flight;
    // Raw pointers, no ownership: a check's probe is cancelled before the check goes (stop),
    // and a cancelled probe neither calls back nor touches its memory again.
    probe = start_probe(
        m.io_, spec, [&m, self = this](const ProbeResult& r) { self->on_result(m, r); },
        std::shared_ptr<ProbeMemory>(std::shared_ptr<void>(), &memory));
  }

  void stop(Monitor& m) {
    ++m.slots_[slot_id].generation;
    if (probe) {
      probe->cancel();
      probe.reset();
      --m.stats_.in_flight;
    }
  }

  // Last thing it does: on_change (in transition) may make apply() remove this check.
  void on_result(Monitor& m, const ProbeResult& r) {
    probe.reset();
    --m.stats_.in_flight;
    ++m.stats_.probes_finished;
    if (r.reason == reason::local_resources) {
      // A full descriptor table is our fault, never the backend's: keep the last known
      // state and streaks, try again at the next interval.
      ++m.stats_.local_resource_errors;
      m.note_local_error(r.error_text());
      schedule(m, next_start(slot, Clock::now(), spec.params->interval));
      return;
    }
    BackendHealth& rec = health;
    rec.latency.record(r.latency);
    if (r.ok)
      rec.note_success(r.latency);
    else
      rec.note_failure(r.reason, r.error_text());
    Streak streak{rec.status, rec.consecutive_ok, rec.consecutive_fail};
    auto changed = apply_result(streak, r.ok, spec.params->rise, spec.params->fall, m.start_mode_);
    rec.consecutive_ok = streak.consecutive_ok;
    rec.consecutive_fail = streak.consecutive_fail;
    schedule(m, next_start(slot, Clock::now(), spec.params->interval));
    if (changed) m.transition(*this, *changed, r.ok ? std::string("check passed") : r.error_text());
  }

  // No reference to the Monitor (its methods are handed it): with the slot id beside the
  // 18-byte ProbeMemory and the record inline, the map node is 288 B, a block of the checks'
  // own pool, for each of 80,000 checks. (The record was shared, 16 B here and a 128 B heap
  // block apart, while whole-table snapshots held records: see copy_slice.)
  const BackendKey* key = nullptr;  // the map node's
  CheckSpec spec;  // the target; the parameters shared with the service's other checks
  BackendHealth health;
  std::shared_ptr<Probe> probe;
  ProbeMemory memory;
  std::uint32_t slot_id;  // in Monitor::slots_
  TimePoint slot{};
};

Monitor::Monitor(asio::io_context& io, OnChange on_change)
    : io_(io),
      on_change_(std::move(on_change)),
      timer_(io, [this](TimePoint now) { start_due(now); }),
      // A tree node: the key and check, after the tree's links (color and three pointers).
      check_nodes_(sizeof(std::pair<const BackendKey, Check>) + 4 * sizeof(void*),
                   alignof(std::pair<const BackendKey, Check>)),
      checks_(CheckMap::allocator_type(check_nodes_)) {
  // The node size the comment on Check's members promises (LP64; 32 B of tree links).
  static_assert(sizeof(void*) != 8 || sizeof(std::pair<const BackendKey, Check>) + 32 <= 288);
}

std::uint32_t Monitor::take_slot(Check& check) {
  std::uint32_t id;
  if (!free_slots_.empty()) {
    id = free_slots_.back();
    free_slots_.pop_back();
  } else {
    id = static_cast<std::uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  slots_[id].check = &check;
  return id;
}

void Monitor::remove(CheckMap::iterator it) {
  Check& check = it->second;
  check.stop(*this);  // voids its planned run
  slots_[check.slot_id].check = nullptr;
  free_slots_.push_back(check.slot_id);
  checks_.erase(it);
}

void Monitor::plan(TimePoint at, std::uint32_t slot, std::uint32_t generation) {
  runs_.push_back(Run{at, slot, generation});
  std::push_heap(runs_.begin(), runs_.end(), std::greater<>{});
  timer_.due(at);
}

TimePoint Monitor::earliest_run() const { return runs_.front().at; }

void Monitor::start_due(TimePoint now) {
  // Collected first: a run that fails at once reports on a later turn, but stay safe anyway.
  std::vector<Check*> due;
  due.swap(due_);  // a buffer kept between firings: at 10,000 checks/s this allocates nothing
  while (!runs_.empty() && runs_.front().at <= now) {
    std::pop_heap(runs_.begin(), runs_.end(), std::greater<>{});
    const Run r = runs_.back();
    runs_.pop_back();
    const Slot& slot = slots_[r.slot];
    if (slot.check && slot.generation == r.generation) due.push_back(slot.check);
  }
  if (!runs_.empty()) timer_.due(earliest_run());
  // run() never completes a probe from inside (start_probe), so no check goes meanwhile.
  for (Check* check : due) check->run(*this);
  due.clear();
  due_.swap(due);
}

Monitor::~Monitor() { shutdown(); }

void Monitor::transition(Check& check, Status to, const std::string& why) {
  BackendHealth& rec = check.health;
  const Status from = rec.status;
  rec.status = to;
  rec.last_transition = std::chrono::system_clock::now();
  ++rec.transitions;
  // The streak is in the line so that logs show rise/fall at work ("after 3 successes").
  const bool up = to == Status::up;
  const int streak = up ? rec.consecutive_ok : rec.consecutive_fail;
  // Thousands of backends can flip at once (a switch reboots): past the rate, lines become a
  // per-second summary (log_summary), so the journal and the loop are not flooded.
  if (log_limit_.allow(Clock::now(), up ? 0 : to == Status::down ? 1 : 2))
    log::notice(
        "health service={} port={} backend={} {} -> {} after {} consecutive {} ({})",
        check.key->service, port_label(*check.key), check.spec.target(), to_string(from),
        to_string(to), streak,
        up ? (streak == 1 ? "success" : "successes") : (streak == 1 ? "failure" : "failures"), why);
  // A copy: on_change may remove the check, and its key with it.
  if (on_change_) on_change_(BackendKey(*check.key), to);
}

void Monitor::apply(const std::vector<config::Service>& services) {
  CheckChanges changes;
  {
    // Gone before the checks are made: the specs of every running check (7 MB at 80,000
    // checks) need not sit beside them.
    std::vector<CheckSpecs::Entry> running;
    running.reserve(checks_.size());
    for (const auto& [key, check] : checks_) running.emplace_back(key, check.spec);
    changes = diff_specs(CheckSpecs::from_sorted(std::move(running)), make_specs(services));
  }
  apply_changes(std::move(changes));
}

void Monitor::apply_changes(CheckChanges changes) {
  std::size_t done = 0;
  apply_changes_slice(changes, done, std::chrono::microseconds::max());
}

bool Monitor::apply_changes_slice(CheckChanges& changes, std::size_t& done,
                                  std::chrono::microseconds budget) {
  const TimePoint now = Clock::now();
  const TimePoint deadline =
      budget == std::chrono::microseconds::max() ? TimePoint::max() : now + budget;
  auto restart = [&](const BackendKey& key, Check& check, CheckSpec&& spec) {
    if (check.spec == spec) return;
    log::info("health service={} port={} backend={} check changed, restarting", key.service,
              port_label(key), spec.target());
    check.stop(*this);
    check.spec = std::move(spec);
    check.memory = ProbeMemory{};
    check.schedule(*this, now + start_offset(key, check.spec.params->interval));
  };
  auto add = [&](const BackendKey& key, CheckSpec&& spec) {
    auto it = checks_.lower_bound(key);
    if (it != checks_.end() && it->first == key) return restart(key, it->second, std::move(spec));
    auto at = checks_.try_emplace(it, key, *this, std::move(spec));
    Check& check = at->second;
    check.key = &at->first;
    check.schedule(*this, now + start_offset(at->first, check.spec.params->interval));
  };
  const std::size_t removed = changes.removed.size();
  const std::size_t added = changes.added.size();
  const std::size_t total = changes.size();
  // Room for the removed checks' slots before the first of them is freed: growing this vector
  // by doubling while thousands of freed blocks waited in malloc's fast bins made each growth
  // consolidate them all (malloc_consolidate: 0.8-1.7 ms in one slice of a 40,000-check
  // removal). The slots and the runs need no room made: they grow block by block (deques).
  if (done == 0) free_slots_.reserve(free_slots_.size() + removed);
  for (std::size_t n = 0; done < total; ++done, ++n) {
    // Reading the clock costs more than one change: look at it every 16.
    if (n > 0 && n % 16 == 0 && Clock::now() >= deadline) return false;
    if (done < removed) {
      auto it = checks_.find(changes.removed[done]);
      if (it == checks_.end()) continue;
      remove(it);
    } else if (done < removed + added) {
      auto& [key, spec] = changes.added[done - removed];
      add(key, std::move(spec));
    } else {
      auto& [key, spec] = changes.changed[done - removed - added];
      add(key, std::move(spec));
    }
  }
  return true;
}

std::optional<BackendHealth> Monitor::get(const BackendKey& key) const {
  auto it = checks_.find(key);
  if (it == checks_.end()) return std::nullopt;
  return it->second.health;
}

Status Monitor::status(const BackendKey& key) const {
  auto it = checks_.find(key);
  return it == checks_.end() ? Status::unknown : it->second.health.status;
}

std::optional<CheckSpec> Monitor::spec(const BackendKey& key) const {
  auto it = checks_.find(key);
  if (it == checks_.end()) return std::nullopt;
  return it->second.spec;
}

bool Monitor::copy_slice(std::optional<BackendKey>& cursor, std::size_t max, Copies& out) const {
  auto it = cursor ? checks_.upper_bound(*cursor) : checks_.begin();
  for (std::size_t n = 0; it != checks_.end() && n < max; ++it, ++n) {
    out.emplace_back(it->first, it->second.health);
    cursor = it->first;
  }
  return it == checks_.end();
}

void Monitor::copy_service(const std::string& service, Copies& out) const {
  // The keys of one service are adjacent (it is the first member of the key); step back over
  // any that sort before the probe key (port 0 with a smaller address).
  auto it = checks_.lower_bound(BackendKey{service, 0, net::Address{}});
  while (it != checks_.begin() && std::prev(it)->first.service == service) --it;
  for (; it != checks_.end() && it->first.service == service; ++it)
    out.emplace_back(it->first, it->second.health);
}

void Monitor::for_each(
    const std::function<void(const BackendKey&, const BackendHealth&)>& f) const {
  for (const auto& [key, check] : checks_) f(key, check.health);
}

void Monitor::shutdown() {
  while (!checks_.empty()) remove(checks_.begin());
  slots_.clear();
  free_slots_.clear();
  runs_.clear();
  timer_.cancel();
}

void Monitor::note_local_error(const std::string& what) {
  // One line per ten seconds at most: when descriptors run out, every check fails at once.
  const auto now = Clock::now();
  if (last_local_error_log_ != TimePoint{} &&
      now - last_local_error_log_ < std::chrono::seconds(10))
    return;
  last_local_error_log_ = now;
  log::err(
      "health checks short of local resources ({}): backends keep their last state; {} "
      "probe(s) affected so far",
      what, stats_.local_resource_errors);
}

Monitor::Stats Monitor::stats() const {
  Stats s = stats_;
  s.check_memory = check_nodes_.stats();
  if (asio::has_service<detail::HalfOpen>(io_)) s.half_open = detail::HalfOpen::of(io_).stats();
  return s;
}

}  // namespace l4lb::health
