#include "ipvs/sync_controller.hpp"

#include <chrono>

#include "common/log.hpp"

namespace l4lb::ipvs {

SyncController::SyncController(boost::asio::io_context& io, Opener open, Duration retry,
                               Duration recheck)
    : io_(io), open_(std::move(open)), retry_(retry), recheck_(recheck), timer_(io) {}

SyncController::~SyncController() { timer_.cancel(); }

void SyncController::configure(const std::optional<config::SyncDaemon>& config, bool master) {
  if (!config && !managing_) return;
  const bool changed = config != status_.config || master != status_.master || !status_.in_sync;
  if (master != status_.master && config) ++status_.role_changes;
  status_.config = config;
  status_.master = master;
  if (changed) converge();
}

void SyncController::set_master(bool master) {
  if (master == status_.master || !status_.config) return;
  ++status_.role_changes;
  status_.master = master;
  log::notice("ipvs sync: instance {} is {} here: sync {}", status_.config->instance,
              master ? "MASTER" : "not MASTER", master ? "master" : "backup");
  converge();
}

void SyncController::stop() {
  if (stopping_) return;
  stopping_ = true;
  timer_.cancel();
  if (managing_) converge();
}

void SyncController::converge() {
  timer_.cancel();
  const auto began = Clock::now();
  ++status_.passes;
  status_.wanted = wanted_sync_daemons(status_.config, status_.master, stopping_);
  std::string error;
  // `counted`: the failing request was already counted in `errors`.
  auto fail = [&](const std::string& why, bool counted = false) {
    if (!counted) ++status_.errors;
    // Retried every few seconds: log a failure when it is new, not on every retry.
    if (why != status_.last_error)
      log::err("ipvs sync: {}; retrying every {} s", why, retry_.count() / 1000);
    status_.last_error = why;
    status_.in_sync = false;
    if (!stopping_) schedule(retry_);
  };
  if (!kernel_) {
    kernel_ = open_(error);
    if (!kernel_) return fail(error);
  }
  auto running = kernel_->sync_daemons(error);
  status_.read_ok = running.has_value();
  if (!running) return fail(error);
  status_.running = *running;
  const auto steps = plan_sync(status_.wanted, status_.running);
  if (!status_.wanted.empty()) managing_ = true;
  std::string first_error;  // every step is tried; each failure counts once
  for (const auto& step : steps) {
    std::string e;
    const bool stop = step.kind == SyncStep::Kind::stop;
    const bool ok = stop ? kernel_->stop_sync_daemon(step.daemon.role, e)
                         : kernel_->start_sync_daemon(step.daemon, e);
    if (ok) {
      ++(stop ? status_.stops : status_.starts);
      log::notice("ipvs sync: {} {}", stop ? "stopped" : "started", describe(step.daemon));
    } else {
      ++status_.errors;
      if (first_error.empty()) first_error = e;
    }
  }
  if (!steps.empty()) {
    // Read back what the kernel now runs (it fills in its defaults, e.g. maxlen).
    if (auto now = kernel_->sync_daemons(error)) status_.running = *now;
    const auto ms = std::chrono::duration<double, std::milli>(Clock::now() - began).count();
    log::info("ipvs sync: {} step(s) in {:.1f} ms", steps.size(), ms);
  }
  if (!first_error.empty()) return fail(first_error, true);
  status_.in_sync = plan_sync(status_.wanted, status_.running).empty();
  if (!status_.in_sync) return fail("the kernel does not run the sync daemons it was asked to");
  if (!status_.last_error.empty()) log::notice("ipvs sync: recovered");
  status_.last_error.clear();
  if (status_.wanted.empty()) managing_ = false;
  if (!stopping_ && status_.config) schedule(recheck_);
}

void SyncController::schedule(Duration after) {
  timer_.expires_after(after);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) converge();
  });
}

}  // namespace l4lb::ipvs
