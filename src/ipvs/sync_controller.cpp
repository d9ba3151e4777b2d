#include "ipvs/sync_controller.hpp"

#include <boost/asio/post.hpp>
#include <chrono>

#include "common/log.hpp"

namespace l4lb::ipvs {

SyncController::SyncController(boost::asio::io_context& io, Opener open, Duration retry,
                               Duration recheck)
    : io_(io), open_(std::move(open)), retry_(retry), recheck_(recheck), timer_(io) {}

SyncController::~SyncController() {
  timer_.cancel();
  ++generation_;
  thread_.join();
}

namespace {
SyncController::Pass run_sync_pass(Kernel* kernel, const SyncController::Opener& open,
                                   const std::vector<SyncDaemon>& wanted);
}

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
  thread_.join();  // a pass in flight finishes; its result is superseded by this one
  ++generation_;
  in_flight_ = false;
  if (!managing_) return;
  status_.wanted = wanted_sync_daemons(status_.config, status_.master, true);
  finish(run_sync_pass(kernel_.get(), open_, status_.wanted));
}

namespace {
// Runs on the controller's thread: only kernel requests, no state of the controller.
SyncController::Pass run_sync_pass(Kernel* kernel, const SyncController::Opener& open,
                                   const std::vector<SyncDaemon>& wanted) {
  SyncController::Pass pass;
  const auto began = Clock::now();
  if (!kernel) {
    pass.opened = open(pass.error);
    if (!pass.opened) return pass;
    kernel = pass.opened.get();
  }
  auto running = kernel->sync_daemons(pass.error);
  if (!running) return pass;
  for (const auto& step : plan_sync(wanted, *running)) {
    std::string e;
    const bool ok = step.kind == SyncStep::Kind::stop
                        ? kernel->stop_sync_daemon(step.daemon.role, e)
                        : kernel->start_sync_daemon(step.daemon, e);
    pass.steps.emplace_back(step, ok ? std::string() : (e.empty() ? "failed" : e));
  }
  std::string error;
  // Read back what the kernel now runs (it fills in its defaults, e.g. maxlen).
  pass.running = pass.steps.empty() ? std::move(running) : kernel->sync_daemons(error);
  pass.ms = std::chrono::duration<double, std::milli>(Clock::now() - began).count();
  return pass;
}
}  // namespace

void SyncController::converge() {
  if (stopping_) return;
  timer_.cancel();
  if (in_flight_) {
    again_ = true;
    return;
  }
  in_flight_ = true;
  ++status_.passes;
  status_.wanted = wanted_sync_daemons(status_.config, status_.master, stopping_);
  if (!status_.wanted.empty()) managing_ = true;
  boost::asio::post(thread_,
                    [this, kernel = kernel_.get(), wanted = status_.wanted, gen = generation_] {
                      auto pass = std::make_shared<Pass>(run_sync_pass(kernel, open_, wanted));
                      boost::asio::post(io_, [this, pass, gen] {
                        if (gen != generation_) return;  // stop() ran meanwhile
                        in_flight_ = false;
                        finish(std::move(*pass));
                        if (again_ && !stopping_) {
                          again_ = false;
                          converge();
                        }
                      });
                    });
}

void SyncController::finish(Pass pass) {
  if (pass.opened) kernel_ = std::move(pass.opened);
  // `counted`: the failing request was already counted in `errors`.
  auto fail = [&](const std::string& why, bool counted) {
    if (!counted) ++status_.errors;
    // Retried every few seconds: log a failure when it is new, not on every retry.
    if (why != status_.last_error)
      log::err("ipvs sync: {}; retrying every {} s", why, retry_.count() / 1000);
    status_.last_error = why;
    status_.in_sync = false;
    if (!stopping_) schedule(retry_);
  };
  status_.read_ok = pass.running.has_value();
  if (!pass.error.empty()) return fail(pass.error, false);
  if (pass.running) status_.running = *pass.running;
  std::string first_error;  // every step was tried; each failure counts once
  for (const auto& [step, e] : pass.steps) {
    const bool stop = step.kind == SyncStep::Kind::stop;
    if (e.empty()) {
      ++(stop ? status_.stops : status_.starts);
      log::notice("ipvs sync: {} {}", stop ? "stopped" : "started", describe(step.daemon));
    } else {
      ++status_.errors;
      if (first_error.empty()) first_error = e;
    }
  }
  if (!pass.steps.empty())
    log::info("ipvs sync: {} step(s) in {:.1f} ms", pass.steps.size(), pass.ms);
  if (!first_error.empty()) return fail(first_error, true);
  if (!pass.running) return fail("cannot read the sync daemons back", false);
  status_.in_sync = plan_sync(status_.wanted, status_.running).empty();
  if (!status_.in_sync)
    return fail("the kernel does not run the sync daemons it was asked to", false);
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
