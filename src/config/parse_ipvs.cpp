// The top-level `ipvs:` section: IPVS settings of the whole network namespace (connection
// timeouts and a few /proc/sys/net/ipv4/vs switches). Nothing here is applied unless written.
#include <fmt/format.h>

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

}  // namespace

void parse_ipvs(const Value& v, Ipvs& out, Reporter& r) {
  MapView m(v, "ipvs", kIpvsKeys, r);
  if (!m.valid()) return;
  if (auto* f = m.find("timeouts")) parse_timeouts(*f, out.timeouts, r);
  if (auto* f = m.find("sysctls")) parse_sysctls(*f, out.sysctls, r);
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
