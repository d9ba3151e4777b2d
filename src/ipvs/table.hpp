// Plain value types for what IPVS holds: virtual services, their destinations and
// counters. Shared by the reconciler (pure), the kernels (netlink and fake) and status.
#pragma once

#include <compare>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/address.hpp"

namespace l4lb::ipvs {

// The kernel's protocol numbers; fwmark services are keyed by mark, not address:port.
enum class Protocol : std::uint16_t { fwmark = 0, tcp = 6, udp = 17 };
enum class Forward : std::uint8_t { masq = 0, local = 1, tunnel = 2, route = 3 };

std::string_view to_string(Protocol p);
std::string_view to_string(Forward f);

struct ServiceKey {
  Protocol protocol = Protocol::tcp;
  net::Address address;      // for fwmark: unspecified address of the service family
  std::uint16_t port = 0;    // host order; 0 for fwmark
  std::uint32_t fwmark = 0;  // only for Protocol::fwmark

  static ServiceKey inet(Protocol p, const net::Address& a, std::uint16_t port) {
    return {p, a, port, 0};
  }
  static ServiceKey mark(net::Family family, std::uint32_t mark);
  net::Family family() const { return address.family(); }

  std::string to_string() const;  // "tcp 10.0.0.1:80", "udp [2001:db8::1]:53", "fwmark 5 ipv4"
  auto operator<=>(const ServiceKey&) const = default;
  bool operator==(const ServiceKey&) const = default;
};

// The kernel's 64-bit counters and its rate estimates.
struct Stats {
  std::uint64_t conns = 0, inpkts = 0, outpkts = 0, inbytes = 0, outbytes = 0;
  std::uint64_t cps = 0, inpps = 0, outpps = 0, inbps = 0, outbps = 0;
  bool operator==(const Stats&) const = default;
};

struct DestKey {
  net::Address address;
  std::uint16_t port = 0;
  auto operator<=>(const DestKey&) const = default;
  bool operator==(const DestKey&) const = default;
};

// What l4lbd sets on a destination (and what operations carry).
struct DestSettings {
  // In this order the one-byte `forward` fills the hole after the 17-byte address: 32 bytes,
  // not 36, and a destination's map node is 88 bytes (a 96-byte heap block) instead of 92
  // (112): 80,000 of them in the model and in each plan's desired table at 10,000 x 8.
  net::Address address;
  Forward forward = Forward::masq;
  std::uint16_t port = 0;
  std::uint32_t weight = 1;
  std::uint32_t upper_threshold = 0;  // 0 = unlimited
  std::uint32_t lower_threshold = 0;

  DestKey key() const { return {address, port}; }
  bool same_settings(const DestSettings& o) const {
    return forward == o.forward && weight == o.weight && upper_threshold == o.upper_threshold &&
           lower_threshold == o.lower_threshold;
  }
  std::string to_string() const;  // "10.1.0.1:8080 masq weight 1"
};

// A destination's traffic as the kernel reports it: only dumps have it (Table::counters).
struct DestCounters {
  std::uint32_t active_conns = 0, inactive_conns = 0, persist_conns = 0;
  Stats stats;
};
inline constexpr DestCounters kNoDestCounters{};  // what a destination without counters reads

struct Destination : DestSettings {
  // Where this destination's counters are in its dump's Table::dest_counters; kNoCounters in
  // the model and the desired table, which never have any. Kept out of line because the
  // model and each plan's desired table hold 80,000 destinations at 10,000 x 8: inline, the
  // counters were 96 of a map node's 192 bytes (7.7 MB of the model, and as many pages to
  // fault in at start-up).
  static constexpr std::uint32_t kNoCounters = 0xffffffff;
  std::uint32_t counters = kNoCounters;
};

// What l4lbd sets on a virtual service (and what operations carry).
struct ServiceSettings {
  ServiceKey key;
  std::string scheduler = "wlc";
  bool sh_fallback = false;
  bool sh_port = false;
  bool one_packet = false;  // IP_VS_SVC_F_ONEPACKET: no connection entry per UDP datagram
  bool persistent = false;
  std::uint32_t timeout = 0;  // persistence, seconds
  std::uint8_t netmask = 32;  // persistence granularity, prefix length (32 / 128 = per client)

  bool same_settings(const ServiceSettings& o) const {
    return scheduler == o.scheduler && sh_fallback == o.sh_fallback && sh_port == o.sh_port &&
           one_packet == o.one_packet && persistent == o.persistent && timeout == o.timeout &&
           netmask == o.netmask;
  }
  std::string settings_string() const;  // "rr persistent 300 netmask 24 sh-port ops"
};

inline constexpr Stats kNoStats{};  // what a service without traffic totals reads

struct Service : ServiceSettings {
  // Where this service's traffic totals are in its dump's Table::service_stats; kNoIndex in
  // the model and the desired table, which never have any. Out of line like the destinations'
  // counters: inline, 80 bytes more in each of the 10,000 services of the model and of every
  // desired table (400 pages to fault in at start-up).
  static constexpr std::uint32_t kNoIndex = 0xffffffff;
  std::uint32_t stats = kNoIndex;
  std::map<DestKey, Destination> destinations;
};

struct Table {
  std::map<ServiceKey, Service> services;
  // The destinations' counters of a dump, in dump order (Destination::counters); empty in
  // the model and the desired table.
  std::vector<DestCounters> dest_counters;
  std::vector<Stats> service_stats;  // the same for the services' totals (Service::stats)
  // `d`'s counters, zero when it has none (a model's, a desired table's, or a stale index).
  const DestCounters& counters(const Destination& d) const {
    return d.counters < dest_counters.size() ? dest_counters[d.counters] : kNoDestCounters;
  }
  const Stats& stats(const Service& s) const {
    return s.stats < service_stats.size() ? service_stats[s.stats] : kNoStats;
  }
  void set_stats(Service& s, const Stats& st) {
    s.stats = static_cast<std::uint32_t>(service_stats.size());
    service_stats.push_back(st);
  }
  // Adds a dump's counters for `d`.
  void set_counters(Destination& d, const DestCounters& c) {
    d.counters = static_cast<std::uint32_t>(dest_counters.size());
    dest_counters.push_back(c);
  }

  std::size_t destination_count() const;
  bool operator==(const Table& o) const;  // settings only (stats and counters ignored)
};

// The same listing `ipvsadm -Ln` prints (without header): for logs and tests.
std::string format_table(const Table& t);

}  // namespace l4lb::ipvs
