// Carries out the sync-daemon policy (ipvs/sync.hpp) against the kernel: reads which daemons
// run, plans, starts and stops them. Runs on the event loop; each pass is one dump and at most
// three short netlink requests (the kernel creates or stops its threads and answers). A
// failure is logged, counted and retried (every `retry`); when everything matches, the kernel
// is read again every `recheck` and repaired if someone stopped or changed a daemon
// (`ipvsadm --stop-daemon`). Nothing here is fatal: VRRP and IPVS carry on without it.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/time.hpp"
#include "config/config.hpp"
#include "ipvs/kernel.hpp"
#include "ipvs/sync.hpp"

namespace l4lb::ipvs {

struct SyncStatus {
  std::optional<config::SyncDaemon> config;  // none: not configured (then nothing is touched)
  bool master = false;                       // the instance is MASTER here
  std::vector<SyncDaemon> wanted;            // what should run
  std::vector<SyncDaemon> running;           // what the kernel said at the last read
  bool read_ok = false;                      // `running` is from a successful read
  bool in_sync = false;                      // running matches wanted
  std::uint64_t starts = 0, stops = 0, errors = 0, role_changes = 0, passes = 0;
  std::string last_error;  // of the last pass ("" when it succeeded)
};

class SyncController {
 public:
  using Opener = std::function<std::unique_ptr<Kernel>(std::string& error)>;
  SyncController(boost::asio::io_context& io, Opener open, Duration retry = Duration(5000),
                 Duration recheck = Duration(30000));
  ~SyncController();

  // At start and on every reload (converges at once when anything changed). Without a config
  // nothing is touched, except that daemons this controller ran before are stopped.
  void configure(const std::optional<config::SyncDaemon>& config, bool master);
  // On every VRRP transition of the configured instance.
  void set_master(bool master);
  // Shutdown: stops the daemons this controller runs, once, and schedules nothing more.
  void stop();

  const SyncStatus& status() const { return status_; }

 private:
  void converge();
  void schedule(Duration after);

  boost::asio::io_context& io_;
  Opener open_;
  Duration retry_, recheck_;
  std::unique_ptr<Kernel> kernel_;
  boost::asio::steady_timer timer_;
  SyncStatus status_;
  bool managing_ = false;  // daemons may run because of us: stop them when unconfigured
  bool stopping_ = false;
};

}  // namespace l4lb::ipvs
