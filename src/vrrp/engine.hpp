// The VRRP runtime on a thread of its own (`l4lb-vrrp`): its sockets, timers, VIP changes and
// GARP/NA run on their own io_context, so no work on the daemon's loop (health checks, a
// reload's apply, IPVS slices, status snapshots) can delay an advert. Measured before the move
// (docs/BENCHMARKS.md, "VRRP on its own thread"): at 10,000 services x 8 backends under the
// full stress scenario the loop's slices still left advert gaps of 152 ms at a 10 ms interval.
//
// The loop and the VRRP thread share nothing mutable: every call below is a message, carried
// by value through a Mailbox, and every answer (transitions, status, shutdown done) comes back
// the same way and runs on the loop.
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/histogram.hpp"
#include "common/loop_lag.hpp"
#include "common/mailbox.hpp"
#include "config/config.hpp"
#include "vrrp/runtime.hpp"

namespace l4lb::vrrp {

class Engine {
 public:
  struct Status {
    std::vector<InstanceStatus> instances;
    Runtime::NetlinkStats netlink;
    DelayHistogram lag;  // the VRRP thread's own timer lateness (LoopLagProbe)
  };

  // `loop`: where hooks and answers run. `state_dir` and `netlink_event_buffer` as in
  // Runtime::set_state_dir / set_netlink_event_buffer.
  Engine(boost::asio::io_context& loop, Hooks hooks, const std::string& state_dir,
         int netlink_event_buffer);
  ~Engine();  // stops the thread; call shutdown() first for a graceful hand-over
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Each runs on the VRRP thread, in the order called (Runtime's contract).
  void apply(std::vector<config::VrrpInstance> instances);
  void set_tracked_service_weight(const std::string& instance, int weight);
  // `done` runs on the loop once the masters have sent their priority-0 adverts.
  void shutdown(std::function<void()> done);
  // The status as of now on the VRRP thread; `done` runs on the loop.
  void status(std::function<void(Status)> done);
  // Runs `fn` on the VRRP thread: what concerns the thread itself (its scheduling policy).
  void on_thread(std::function<void()> fn);

 private:
  boost::asio::io_context io_{1};  // the VRRP thread's
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  Mailbox to_loop_;                   // received on the loop
  Mailbox to_vrrp_;                   // received on the VRRP thread
  std::unique_ptr<Runtime> runtime_;  // VRRP thread only, once it runs
  LoopLagProbe lag_{io_, std::chrono::milliseconds(10)};
  std::thread thread_;
};

}  // namespace l4lb::vrrp
