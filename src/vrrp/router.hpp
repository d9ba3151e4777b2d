// One virtual router for one address family: the pure Machine wired to its raw socket,
// an Asio timer driven by the machine's deadlines, VIPs in the kernel and announcements.
#pragma once

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "config/config.hpp"
#include "vrrp/announce.hpp"
#include "vrrp/machine.hpp"
#include "vrrp/netlink.hpp"
#include "vrrp/packet.hpp"
#include "vrrp/runtime.hpp"
#include "vrrp/socket.hpp"
#include "vrrp/vip_record.hpp"

namespace l4lb::vrrp {

struct RouterEnv {
  boost::asio::io_context& io;
  Netlink& netlink;
  Announcer& announcer;
  VipRecord& record;
  std::function<void(const std::string&, net::Family, State, State)> on_transition;
};

class Router {
 public:
  Router(RouterEnv& env, const config::VrrpInstance& cfg, net::Family family);
  ~Router();
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  void start();
  // In-place change of everything but interface / vrid / family / unicast mode.
  void update(const config::VrrpInstance& cfg);
  // Link or address events: re-evaluate ifindex, fault, primary address, tracking weights.
  void links_changed();
  void set_service_weight(int weight);
  // Synchronous: a Master has sent its priority-0 advert and removed its VIPs on return.
  void shutdown();
  InstanceStatus status() const;

 private:
  void execute(const Actions& a);
  void reschedule();
  void send_advert(int priority);
  void add_vips();
  void remove_vips();
  void announce_round();
  void on_packet(const IpMeta& meta, std::span<const std::uint8_t> msg, std::optional<Drop> drop);
  void count_drop(Drop d, const IpMeta& meta);
  MachineParams params() const;
  int effective_priority() const;
  std::vector<net::Prefix> family_vips() const;
  std::vector<net::Address> family_peers() const;
  void ensure_socket(const LinkInfo& link);
  void restore_vips(const std::vector<net::Prefix>& removed);
  void retry_after_vip_error();
  void adopt_recorded(const LinkInfo& link);

  RouterEnv& env_;
  config::VrrpInstance cfg_;
  net::Family family_;
  Machine machine_;
  std::unique_ptr<AdvertSocket> socket_;
  int ifindex_ = 0;
  Mac mac_{};
  net::Address primary_;
  bool have_primary_ = false;
  std::string fault_reason_ = "not started";
  int track_weight_ = 0;    // sum of weights of tracked interfaces that are down
  int service_weight_ = 0;  // sum of weights of tracked services below quorum
  bool stopped_ = false;
  boost::asio::steady_timer timer_;
  boost::asio::steady_timer garp_timer_;
  int garp_left_ = 0;
  std::set<net::Prefix> owned_;      // VIPs we added (and so may remove)
  std::set<net::Prefix> confirmed_;  // owned VIPs seen on the interface since (drift check)
  // Owned VIPs not seen yet, with the view's re-read count when we added them (LinkFacts).
  std::map<net::Prefix, std::uint64_t> unconfirmed_;
  std::string vip_error_;  // a VIP add failed: Fault until the retry
  boost::asio::steady_timer retry_timer_;
  std::uint64_t vip_repairs_ = 0, vip_add_errors_ = 0;
  bool adoption_checked_ = false;
  std::chrono::system_clock::time_point since_ = std::chrono::system_clock::now();
  std::uint64_t adverts_sent_ = 0, adverts_received_ = 0, send_errors_ = 0;
  std::optional<TimePoint> last_advert_;  // while master: when the last advert went out
  DelayHistogram advert_intervals_;
  std::array<std::uint64_t, kDropReasons> drops_{};
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace l4lb::vrrp
