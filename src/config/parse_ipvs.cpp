// The top-level `ipvs:` section: IPVS settings of the whole network namespace (connection
// timeouts and a few /proc/sys/net/ipv4/vs switches). Nothing here is applied unless written.
#include <fmt/format.h>

#include <type_traits>

#include "config/keys.hpp"
#include "config/schema.hpp"
#include "config/values.hpp"

namespace l4lb::config {
namespace {

// The kernel keeps timeouts as jiffies in an int: at most INT_MAX / HZ seconds (HZ <= 1000).
constexpr std::int64_t kMaxTimeoutSeconds = 2147483;

void parse_timeouts(const Value& v, IpvsTimeouts& out, Reporter& r) {
  MapView m(v, "ipvs.timeouts", kIpvsTimeoutKeys, r);
  if (!m.valid()) return;
  auto read = [&](std::string_view key, std::optional<std::uint32_t>& into) {
    auto* f = m.find(key);
    if (!f) return;
    auto d = read_duration(*f, Duration{1000}, Duration{kMaxTimeoutSeconds * 1000}, r);
    if (d && d->count() % 1000 != 0) {
      r.error(f->at, fmt::format("{}: {} is not a whole number of seconds (IPVS counts its "
                                 "timeouts in seconds)",
                                 f->name, format_duration(*d)));
      return;
    }
    if (d) into = static_cast<std::uint32_t>(d->count() / 1000);
  };
  read("tcp", out.tcp);
  read("tcpfin", out.tcpfin);
  read("udp", out.udp);
}

void parse_sysctls(const Value& v, std::map<std::string, int>& out, Reporter& r) {
  MapView m(v, "ipvs.sysctls", kIpvsSysctls, r);
  if (!m.valid()) return;
  for (auto name : kIpvsSysctls) {
    auto* f = m.find(name);
    if (!f) continue;
    // All three are switches; the kernel would take any integer and treat non-zero as on.
    auto x = read_int(*f, 0, 1, r);
    if (x) out[std::string(name)] = static_cast<int>(*x);
  }
}

void parse_sync_daemon(const Value& v, std::optional<SyncDaemon>& out, Reporter& r) {
  MapView m(v, "ipvs.sync_daemon", kSyncDaemonKeys, r);
  if (!m.valid()) return;
  SyncDaemon d;
  d.location = v.at;
  bool ok = true;
  if (auto* f = m.require("instance", "ipvs.sync_daemon")) {
    auto s = read_string(*f, r);
    ok &= s.has_value();
    if (s) d.instance = *s;
  } else {
    ok = false;
  }
  if (auto* f = m.require("interface", "ipvs.sync_daemon")) {
    auto s = read_string(*f, r);
    if (s && !valid_interface_name(*s)) {
      r.error(f->at, fmt::format("interface: '{}' is not a valid interface name (1..15 "
                                 "characters, no '/', ':' or spaces)",
                                 *s));
      s.reset();
    }
    ok &= s.has_value();
    if (s) d.interface = *s;
  } else {
    ok = false;
  }
  auto integer = [&](std::string_view key, std::int64_t min, std::int64_t max, auto& into) {
    auto* f = m.find(key);
    if (!f) return;
    auto x = read_int(*f, min, max, r);
    ok &= x.has_value();
    if (x) into = static_cast<std::remove_reference_t<decltype(into)>>(*x);
  };
  // The sync protocol carries the id in one byte; the kernel's TTL is a u8 and 0 means default.
  integer("sync_id", 0, 255, d.sync_id);
  integer("port", 1, 65535, d.port);
  integer("ttl", 1, 255, d.ttl);
  // Below a header and one connection entry the kernel would clamp it anyway.
  integer("maxlen", 64, 65507, d.maxlen);
  if (auto* f = m.find("group")) {
    auto a = read_address(*f, r);
    if (a && !a->is_multicast()) {
      r.error(f->at, fmt::format("group: {} is not a multicast address (the sync daemon sends "
                                 "to a multicast group; default 224.0.0.81)",
                                 a->to_string()));
      a.reset();
    }
    ok &= a.has_value();
    if (a) d.group = *a;
  }
  if (auto* f = m.find("backup_on_master")) {
    auto b = read_bool(*f, r);
    ok &= b.has_value();
    if (b) d.backup_on_master = *b;
  }
  if (ok) out = std::move(d);
}

}  // namespace

void parse_ipvs(const Value& v, Ipvs& out, Reporter& r) {
  MapView m(v, "ipvs", kIpvsKeys, r);
  if (!m.valid()) return;
  if (auto* f = m.find("timeouts")) parse_timeouts(*f, out.timeouts, r);
  if (auto* f = m.find("sysctls")) parse_sysctls(*f, out.sysctls, r);
  if (auto* f = m.find("sync_daemon")) parse_sync_daemon(*f, out.sync_daemon, r);
  if (auto* f = m.find("reconcile_interval")) {
    // 0 turns the periodic check off; under 1s a 10,000-service node would dump all the time.
    auto d = read_duration(*f, Duration{0}, Duration{3600 * 1000}, r);
    if (d && d->count() != 0 && d->count() < 1000)
      r.error(f->at, fmt::format("reconcile_interval: {} is too short (0 for off, or at least "
                                 "1s)",
                                 format_duration(*d)));
    else if (d)
      out.reconcile_interval = *d;
  }
}

}  // namespace l4lb::config
