// The VRRP runtime the daemon drives: one router per (instance, address family), all on
// the daemon's io_context. See router.hpp for one router, machine.hpp for the protocol.
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/address.hpp"
#include "common/histogram.hpp"
#include "common/time.hpp"
#include "config/config.hpp"
#include "vrrp/machine.hpp"

namespace l4lb::vrrp {

struct InstanceStatus {
  std::string name, interface;
  std::uint8_t vrid = 0;
  net::Family family = net::Family::v4;  // one status per (instance, family)
  State state = State::initialize;
  int priority_configured = 0, priority_effective = 0;
  std::chrono::system_clock::time_point since;  // for display
  std::optional<net::Address> master_address;   // current master as seen from here
  std::vector<net::Prefix> vips;
  Duration advert_interval{0}, master_adver_interval{0};
  std::uint64_t transitions = 0, adverts_sent = 0, adverts_received = 0;
  DelayHistogram advert_send_intervals;  // between consecutive adverts while master
  std::vector<std::pair<std::string, std::uint64_t>> drops;  // per reason
  std::string fault_reason;                                  // why in Fault ("" otherwise)
  std::uint64_t vip_repairs = 0;     // VIPs removed from outside while Master, and restored
  std::uint64_t vip_add_errors = 0;  // VIP adds the kernel refused (each means Fault)
};

struct Hooks {
  // The daemon runs notify scripts and updates metrics from here.
  std::function<void(const std::string& instance, net::Family, State from, State to)> on_transition;
};

class Runtime {
 public:
  Runtime(boost::asio::io_context& io, Hooks hooks);
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // Where to record the VIPs we add (state_dir), so that a restart after a crash recognises
  // them. Call before the first apply(); without it ownership lasts one process lifetime.
  void set_state_dir(const std::string& dir);
  // The rtnetlink event socket's receive buffer (bytes); call before the first apply().
  void set_netlink_event_buffer(int bytes);
  // Event overflows and re-reads of the kernel's links and addresses (zero before the first
  // instance starts).
  struct NetlinkStats {
    std::uint64_t overflows = 0, resyncs = 0, resync_errors = 0, resync_interrupted = 0;
  };
  NetlinkStats netlink_stats() const;
  // Make the running instances match `instances` (matched by name). New ones start; removed
  // ones stop as on shutdown; in-place changes (priority, advert_interval, preempt,
  // preempt_delay, vips, garp, track, notify, unicast peers) keep state and timers;
  // interface / vrid / family / unicast-vs-multicast changes replace the instance.
  void apply(const std::vector<config::VrrpInstance>& instances);
  // What tracked services add to `instance`'s priority (daemon::policy decides; 0 until told).
  // Kept across reloads and replacements of the instance.
  void set_tracked_service_weight(const std::string& instance, int weight);
  // Masters send one advert with priority 0 and remove their VIPs; `done` runs when finished.
  void shutdown(std::function<void()> done);
  std::vector<InstanceStatus> status() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace l4lb::vrrp
