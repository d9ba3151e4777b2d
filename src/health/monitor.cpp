#include "health/monitor.hpp"

#include "common/log.hpp"
#include "health/deadlines.hpp"
#include "health/half_open.hpp"
#include "health/probe.hpp"

namespace l4lb::health {

namespace asio = boost::asio;

struct Monitor::Check : std::enable_shared_from_this<Check> {
  Check(Monitor& m, BackendKey k, CheckSpec s)
      : monitor(m), key(std::move(k)), spec(std::make_shared<const CheckSpec>(std::move(s))) {}

  // Puts the next run at `at`; a run scheduled before is void.
  void schedule(TimePoint at) {
    slot = at;
    monitor.plan(at, weak_from_this(), ++generation);
  }

  void run() {
    ++monitor.stats_.probes_started;
    ++monitor.stats_.in_flight;
    probe = start_probe(
        monitor.io_, spec,
        [weak = weak_from_this()](const ProbeResult& r) {
          if (auto self = weak.lock()) self->on_result(r);
        },
        memory);
  }

  void stop() {
    ++generation;
    if (probe) {
      probe->cancel();
      probe.reset();
      --monitor.stats_.in_flight;
    }
  }

  void on_result(const ProbeResult& r) {
    auto keep_alive = shared_from_this();  // on_change may make apply() drop this check
    probe.reset();
    --monitor.stats_.in_flight;
    ++monitor.stats_.probes_finished;
    if (r.reason == reason::local_resources) {
      // A full descriptor table is our fault, never the backend's: keep the last known
      // state and streaks, try again at the next interval.
      ++monitor.stats_.local_resource_errors;
      monitor.note_local_error(r.error_text());
      schedule(next_start(slot, Clock::now(), spec->interval));
      return;
    }
    ++health.checks;
    health.latency.record(r.latency);
    if (r.ok) {
      ++health.successes;
      health.last_error.clear();
      health.last_latency_us = r.latency;
      health.last_latency = std::chrono::duration_cast<Duration>(r.latency);
    } else {
      health.count_failure(r.reason);
      health.last_error = r.error_text();
    }
    Streak streak{health.status, health.consecutive_ok, health.consecutive_fail};
    auto changed = apply_result(streak, r.ok, spec->rise, spec->fall, monitor.start_mode_);
    health.consecutive_ok = streak.consecutive_ok;
    health.consecutive_fail = streak.consecutive_fail;
    schedule(next_start(slot, Clock::now(), spec->interval));
    if (changed)
      monitor.transition(*this, *changed, r.ok ? std::string("check passed") : r.error_text());
  }

  Monitor& monitor;
  BackendKey key;
  std::shared_ptr<const CheckSpec> spec;
  BackendHealth health;
  std::shared_ptr<Probe> probe;
  std::shared_ptr<ProbeMemory> memory = std::make_shared<ProbeMemory>();
  TimePoint slot{};
  std::uint64_t generation = 0;  // of the run planned last
};

Monitor::Monitor(asio::io_context& io, OnChange on_change)
    : io_(io),
      on_change_(std::move(on_change)),
      timer_(io, [this](TimePoint now) { start_due(now); }) {}

namespace {
std::int64_t millis(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
}  // namespace

void Monitor::plan(TimePoint at, std::weak_ptr<Check> check, std::uint64_t generation) {
  auto [it, added] = runs_.try_emplace(millis(at));
  if (added && !spare_.empty()) {  // a bucket's vector, kept with its capacity
    it->second = std::move(spare_.back());
    spare_.pop_back();
  }
  it->second.push_back(Run{at, std::move(check), generation});
  timer_.due(at);
}

TimePoint Monitor::earliest_run() const {
  const auto& first = runs_.begin()->second;
  TimePoint at = first.front().at;
  for (const Run& r : first) at = std::min(at, r.at);
  return at;
}

void Monitor::start_due(TimePoint now) {
  // Collected first: a run that fails at once reports on a later turn, but stay safe anyway.
  std::vector<std::shared_ptr<Check>> due;
  due.swap(due_);  // a buffer kept between firings: at 10,000 checks/s this allocates nothing
  const std::int64_t now_ms = millis(now);
  while (!runs_.empty() && runs_.begin()->first <= now_ms) {
    auto it = runs_.begin();
    std::vector<Run> later;  // in the millisecond of `now`, not yet due
    for (Run& r : it->second) {
      if (r.at > now) {
        later.push_back(std::move(r));
        continue;
      }
      auto check = r.check.lock();
      if (check && check->generation == r.generation) due.push_back(std::move(check));
    }
    if (!later.empty()) {
      it->second = std::move(later);
      break;
    }
    it->second.clear();
    spare_.push_back(std::move(it->second));
    runs_.erase(it);
  }
  if (!runs_.empty()) timer_.due(earliest_run());
  for (auto& check : due) check->run();
  due.clear();
  due_.swap(due);
}

Monitor::~Monitor() { shutdown(); }

void Monitor::transition(Check& check, Status to, const std::string& why) {
  const Status from = check.health.status;
  check.health.status = to;
  check.health.last_transition = std::chrono::system_clock::now();
  ++check.health.transitions;
  // The streak is in the line so that logs show rise/fall at work ("after 3 successes").
  const bool up = to == Status::up;
  const int streak = up ? check.health.consecutive_ok : check.health.consecutive_fail;
  // Thousands of backends can flip at once (a switch reboots): past the rate, lines become a
  // per-second summary (log_summary), so the journal and the loop are not flooded.
  if (log_limit_.allow(Clock::now(), up ? 0 : to == Status::down ? 1 : 2))
    log::notice(
        "health service={} port={} backend={} {} -> {} after {} consecutive {} ({})",
        check.key.service, port_label(check.key), check.spec->target(), to_string(from),
        to_string(to), streak,
        up ? (streak == 1 ? "success" : "successes") : (streak == 1 ? "failure" : "failures"), why);
  if (on_change_) on_change_(check.key, to);
}

void Monitor::apply(const std::vector<config::Service>& services) {
  auto wanted = make_specs(services);
  const TimePoint now = Clock::now();
  // Remove what is no longer wanted.
  for (auto it = checks_.begin(); it != checks_.end();) {
    if (!wanted.contains(it->first)) {
      it->second->stop();
      it = checks_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& [key, spec] : wanted) {
    auto it = checks_.find(key);
    if (it == checks_.end()) {
      auto check = std::make_shared<Check>(*this, key, std::move(spec));
      check->schedule(now + start_offset(key, check->spec->interval));
      checks_.emplace(key, std::move(check));
      continue;
    }
    Check& check = *it->second;
    if (*check.spec == spec) continue;
    log::info("health service={} port={} backend={} check changed, restarting", key.service,
              port_label(key), spec.target());
    check.stop();
    check.spec = std::make_shared<const CheckSpec>(std::move(spec));
    check.memory = std::make_shared<ProbeMemory>();
    check.schedule(now + start_offset(key, check.spec->interval));
  }
}

std::optional<BackendHealth> Monitor::get(const BackendKey& key) const {
  auto it = checks_.find(key);
  if (it == checks_.end()) return std::nullopt;
  return it->second->health;
}

Status Monitor::status(const BackendKey& key) const {
  auto it = checks_.find(key);
  return it == checks_.end() ? Status::unknown : it->second->health.status;
}

std::optional<CheckSpec> Monitor::spec(const BackendKey& key) const {
  auto it = checks_.find(key);
  if (it == checks_.end()) return std::nullopt;
  return *it->second->spec;
}

std::vector<std::pair<BackendKey, BackendHealth>> Monitor::snapshot() const {
  std::vector<std::pair<BackendKey, BackendHealth>> out;
  out.reserve(checks_.size());
  for (const auto& [key, check] : checks_) out.emplace_back(key, check->health);
  return out;
}

bool Monitor::snapshot_slice(std::optional<BackendKey>& cursor,
                             std::vector<std::pair<BackendKey, BackendHealth>>& out,
                             std::chrono::microseconds budget) const {
  auto it = cursor ? checks_.upper_bound(*cursor) : checks_.begin();
  const auto deadline = Clock::now() + budget;
  // Reading the clock costs more than copying one check: look at it every 64.
  for (std::size_t n = 1; it != checks_.end(); ++it, ++n) {
    out.emplace_back(it->first, it->second->health);
    if (n % 64 == 0 && Clock::now() >= deadline) {
      cursor = it->first;
      return std::next(it) == checks_.end();
    }
  }
  return true;
}

void Monitor::shutdown() {
  for (auto& [key, check] : checks_) check->stop();
  checks_.clear();
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
  if (asio::has_service<detail::HalfOpen>(io_)) s.half_open = detail::HalfOpen::of(io_).stats();
  return s;
}

}  // namespace l4lb::health
