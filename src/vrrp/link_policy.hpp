// The link rules of one virtual router (one instance, one address family), as a pure
// function: whether it must be in Fault and why, which address is its primary (the advert
// source and the election tie-breaker), how much its tracked interfaces lower its priority,
// and which of its VIPs someone removed behind its back. It reads links through LinkView
// only, so every rule is unit-tested without a kernel; vrrp::Router carries the decision out.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/address.hpp"
#include "config/config.hpp"
#include "vrrp/netlink.hpp"

namespace l4lb::vrrp {

struct LinkFacts {
  bool socket_open = false;         // the advert socket is bound to the interface
  std::string vip_error;            // why the last VIP add failed ("" when it did not)
  bool master = false;              // VIPs are expected on the interface only as Master
  std::set<net::Prefix> confirmed;  // VIPs we added and have since seen on the interface
  // VIPs we added and have not seen since, each with the view's re-read count at the add.
  std::map<net::Prefix, std::uint64_t> unconfirmed;
};

struct LinkDecision {
  std::string fault_reason;               // "" = no fault; the first reason that applies
  std::optional<net::Address> primary;    // none: no usable address (a fault reason says so)
  int track_weight = 0;                   // sum of the weights of tracked interfaces not up
  std::vector<net::Prefix> vips_removed;  // our VIPs known gone from the interface (Master)
  std::vector<net::Prefix> vips_seen;     // VIPs present on the interface now
};

LinkDecision decide_links(const config::VrrpInstance& cfg, net::Family family,
                          const LinkView& links, const LinkFacts& facts);

}  // namespace l4lb::vrrp
