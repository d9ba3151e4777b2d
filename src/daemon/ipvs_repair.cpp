#include "daemon/ipvs_repair.hpp"

#include <algorithm>
#include <memory>

#include "common/log.hpp"

namespace l4lb::daemon {

namespace {
constexpr std::size_t kLoggedItems = 10;  // per check; the rest is a count
}

IpvsRepair::IpvsRepair(boost::asio::io_context& io, ipvs::Programmer& programmer,
                       ipvs::TableReader* reader, std::function<void()> reconcile,
                       ipvs::PlanWorker* plans)
    : programmer_(programmer),
      io_(io),
      reader_(reader),
      reconcile_(std::move(reconcile)),
      plans_(plans),
      periodic_(io),
      retry_(io) {}

IpvsRepair::~IpvsRepair() { *alive_ = false; }

void IpvsRepair::set_interval(std::chrono::milliseconds interval) {
  if (interval == interval_) return;
  interval_ = interval;
  arm_periodic();
}

void IpvsRepair::arm_periodic() {
  periodic_.cancel();
  if (interval_.count() <= 0 || stopped_) return;
  periodic_.expires_after(interval_);
  periodic_.async_wait([this, alive = alive_](const boost::system::error_code& ec) {
    if (ec || !*alive) return;
    stale_in_row_ = 0;  // a new period: a busy loop gets its few attempts again
    check(false);
    arm_periodic();
  });
}

void IpvsRepair::after_apply(const ipvs::ApplyResult& result) {
  if (stopped_) return;
  if (repairing_ > 0) {
    // The plan that carried the last repair (the first to end after it was asked for: the
    // check held the programmer until then).
    ++counters_.repairs;
    counters_.repair_operations += result.issued;
    log::notice("ipvs drift repaired: {} change(s) found, {} operation(s) sent", repairing_,
                result.issued);
    repairing_ = 0;
  }
  note_failure(result);
  if (waiting_ && !in_flight_ && (!plans_ || plans_->idle())) {
    waiting_ = false;
    check(std::exchange(waiting_resync_, false));
  }
}

void IpvsRepair::note_failure(const ipvs::ApplyResult& result) {
  // Conflicts are someone else's services: nothing to retry. Skipped operations come with
  // a failed one.
  if (result.failed.empty() && result.error.empty()) {
    failures_ = 0;
    return;
  }
  ++failures_;
  if (retry_armed_) return;
  retry_armed_ = true;
  const auto delay = ipvs::retry_backoff(failures_, kRetryBase, kRetryCap);
  log::notice("ipvs: resync and reconcile in {} ms (failure {} in a row)", delay.count(),
              failures_);
  retry_.expires_after(delay);
  retry_.async_wait([this, alive = alive_](const boost::system::error_code& ec) {
    if (ec || !*alive) return;
    retry_armed_ = false;
    ++counters_.retries;
    stale_in_row_ = 0;
    check(true);
  });
}

void IpvsRepair::stop() {
  stopped_ = true;
  *alive_ = false;  // dumps and slices in flight are dropped (the programmer stays held)
  periodic_.cancel();
  retry_.cancel();
  pending_.reset();
}

void IpvsRepair::check(bool resync) {
  if (stopped_) return;
  if (in_flight_) {
    again_ = true;
    again_resync_ |= resync;
    return;
  }
  if (plans_ && !plans_->idle()) {
    // The model is lent to the plan worker or operations are being sent: a dump now could
    // not be compared. after_apply() of that plan starts this check.
    waiting_ = true;
    waiting_resync_ |= resync;
    return;
  }
  in_flight_ = true;
  if (plans_) plans_->hold();  // until finish_check(): the model stays as it is
  const std::uint64_t gen = programmer_.generation();
  if (!reader_) {
    ipvs::Table t;
    std::string error;
    const bool ok = programmer_.kernel().dump(t, error);
    dumped(ok ? std::optional<ipvs::Table>(std::move(t)) : std::nullopt, error, gen, true, resync);
    return;
  }
  auto fresh = std::make_shared<bool>(false);
  *fresh = reader_->read([this, alive = alive_, gen, fresh, resync](
                             std::optional<ipvs::Table> table, const std::string& error) {
    if (!*alive) return;
    dumped(std::move(table), error, gen, *fresh, resync);
  });
}

void IpvsRepair::dumped(std::optional<ipvs::Table> table, const std::string& error,
                        std::uint64_t gen, bool fresh, bool resync) {
  if (!table) {
    ++counters_.errors;
    last_error_ = error;
    log::warning("ipvs drift check: cannot read the kernel's table: {}", error);
    // A failed dump is a failure like any other: retried with backoff.
    ipvs::ApplyResult failed;
    failed.error = error;
    note_failure(failed);
  } else if (!fresh || programmer_.generation() != gen) {
    // l4lbd changed the kernel after this dump began: comparing would report its own
    // operations as drift. Ask again (a few times; then the next period or retry does).
    ++counters_.stale_dumps;
    dispose(std::move(*table));
    if (++stale_in_row_ <= 3) {
      again_ = true;
      again_resync_ |= resync;
    } else if (resync) {
      ipvs::ApplyResult failed;
      failed.error = "no consistent dump";
      note_failure(failed);
    }
  } else {
    // Pending{}, not emplace(): clang decides whether a nested struct with member initializers
    // is default-constructible before the enclosing class is complete, and says no.
    pending_ = Pending{};
    pending_->kernel = std::move(*table);
    pending_->generation = gen;
    pending_->resync = resync;
    compare_slice();
    return;  // the check goes on in the next slices
  }
  finish_check();
}

void IpvsRepair::finish_check() {
  in_flight_ = false;
  if (plans_) plans_->release();  // starts the plan that waited (the repair's, if any)
  if (again_) {
    again_ = false;
    const bool r = std::exchange(again_resync_, false);
    check(r);
  }
}

void IpvsRepair::dispose(ipvs::Table table) {
  if (reader_) reader_->dispose(std::move(table));
}

void IpvsRepair::compare_slice() {
  Pending& p = *pending_;
  if (programmer_.generation() != p.generation) {
    // l4lbd programmed the kernel between two slices: this dump is stale now.
    ++counters_.stale_dumps;
    const bool resync = p.resync;
    dispose(std::move(p.kernel));
    pending_.reset();
    again_ = true;
    again_resync_ |= resync;
    finish_check();
    return;
  }
  const auto t0 = std::chrono::steady_clock::now();
  p.next = ipvs::detect_drift_slice(programmer_.model(), p.kernel, programmer_.owned(), p.next,
                                    kSliceServices, p.drift);
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  p.loop_ms += ms;
  ++p.slices;
  last_slice_ms_ = p.slices == 1 ? ms : std::max(last_slice_ms_, ms);
  if (p.next) {
    boost::asio::post(io_, [this, alive = alive_] {
      if (*alive && pending_) compare_slice();
    });
    return;
  }
  compared();
  finish_check();
}

void IpvsRepair::compared() {
  Pending p = std::move(*pending_);
  pending_.reset();
  ++counters_.runs;
  last_check_ms_ = p.loop_ms;
  last_slices_ = p.slices;
  const ipvs::Drift& drift = p.drift;
  for (const auto& item : drift.items) ++counters_.drift[static_cast<std::size_t>(item.kind)];
  const bool stale = p.resync || !programmer_.synced();
  if (drift.empty() && !stale) {
    dispose(std::move(p.kernel));
    return;
  }
  if (!drift.empty()) {
    last_drift_.clear();
    for (std::size_t i = 0; i < drift.items.size() && i < kLoggedItems; ++i) {
      last_drift_.push_back(drift.items[i].to_string());
      log::warning("ipvs drift: {}", last_drift_.back());
    }
    if (drift.items.size() > kLoggedItems)
      log::warning("ipvs drift: and {} more", drift.items.size() - kLoggedItems);
  }
  if (stale) ++counters_.resyncs;
  dispose(programmer_.adopt(std::move(p.kernel)));
  // Counted when the plan reports to after_apply(): right here without a PlanWorker,
  // after finish_check() releases it with one.
  repairing_ = drift.items.size();
  reconcile_();
}

nlohmann::json IpvsRepair::status() const {
  using nlohmann::json;
  json drift = json::object();
  for (std::size_t k = 0; k < ipvs::kDriftKinds; ++k)
    drift[std::string(ipvs::to_string(static_cast<ipvs::DriftKind>(k)))] = counters_.drift[k];
  const auto& kc = programmer_.counters();
  return {{"reconcile_interval_ms", interval_.count()},
          {"runs_total", counters_.runs},
          {"drift_total", drift},
          {"repairs_total", counters_.repairs},
          {"repair_operations_total", counters_.repair_operations},
          {"errors_total", counters_.errors},
          {"resyncs_total", counters_.resyncs},
          {"retries_total", counters_.retries},
          {"stale_dumps_total", counters_.stale_dumps},
          {"nobufs_total", kc.nobufs},
          {"dumps_interrupted_total", kc.dumps_interrupted},
          {"consecutive_failures", failures_},
          {"last_error", last_error_.empty() ? json() : json(last_error_)},
          {"last_drift", last_drift_},
          {"last_compare_ms", last_check_ms_},
          {"last_compare_slices", last_slices_},
          {"last_compare_slice_max_ms", last_slice_ms_}};
}

}  // namespace l4lb::daemon
