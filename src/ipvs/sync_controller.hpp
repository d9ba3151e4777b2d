// Carries out the sync-daemon policy (ipvs/sync.hpp) against the kernel: reads which daemons
// run, plans, starts and stops them. The decisions and the state live on the event loop; the
// kernel requests of a pass (one dump, the stops and starts, one dump) run on a thread of
// their own and post the outcome back, because the kernel answers a start or stop only once
// it has created or stopped its threads (34-143 ms per pass measured in the QEMU lab), too long
// for the loop that sends VRRP adverts. Passes never overlap: a change asked for during one
// runs in the next. A failure is logged, counted and retried (every `retry`); when everything
// matches, the kernel is read again every `recheck` and repaired if someone stopped or
// changed a daemon (`ipvsadm --stop-daemon`). Nothing here is fatal.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
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
  // Shutdown: waits for a pass in flight, then stops the daemons this controller runs, on
  // the calling thread (shutdown is not timing-critical), and schedules nothing more.
  void stop();

  const SyncStatus& status() const { return status_; }
  bool busy() const { return in_flight_; }  // a pass runs (tests wait for it)

  // What one pass did, handed from the kernel thread back to the loop.
  struct Pass {
    std::unique_ptr<Kernel> opened;  // a kernel opened by this pass
    std::string error;               // opening or the first read failed (then nothing else)
    std::optional<std::vector<SyncDaemon>> running;       // the kernel's daemons after the steps
    std::vector<std::pair<SyncStep, std::string>> steps;  // each with its error ("" = done)
    double ms = 0;
  };

 private:
  void converge();
  void finish(Pass pass);
  void schedule(Duration after);

  boost::asio::io_context& io_;
  Opener open_;
  Duration retry_, recheck_;
  std::unique_ptr<Kernel> kernel_;  // used only by the pass in flight (or by stop())
  boost::asio::steady_timer timer_;
  SyncStatus status_;
  bool managing_ = false;  // daemons may run because of us: stop them when unconfigured
  bool stopping_ = false;
  bool in_flight_ = false, again_ = false;
  std::uint64_t generation_ = 0;  // passes finished after stop() are ignored
  boost::asio::thread_pool thread_{1};
};

}  // namespace l4lb::ipvs
