// IPVS settings of the whole network namespace that l4lbd applies only when configured
// (`ipvs:` in the config): connection timeouts over generic netlink and a few switches under
// /proc/sys/net/ipv4/vs. The kernel is shared with whatever else uses IPVS on the host, so an
// unset value is never written, and a value removed from the config is left as it is.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "ipvs/kernel.hpp"

namespace l4lb::ipvs {

inline constexpr std::string_view kSysctlDir = "/proc/sys/net/ipv4/vs";

// Pure: the set request that brings the kernel's timeouts to the configured ones (0 = leave
// that one alone); nothing when they already match.
std::optional<Timeouts> timeouts_to_set(const config::IpvsTimeouts& want, const Timeouts& have);

// Pure: the integer in a /proc/sys file ("1\n"); nothing for anything else.
std::optional<int> parse_sysctl_value(std::string_view text);

struct SysctlState {
  std::string name;
  int configured = 0;
  std::optional<int> value;  // as read back; nothing when unreadable
  std::string error;         // empty: written (or already right) and read back as configured
};

struct TuningState {
  bool timeouts_configured = false;
  std::optional<Timeouts> timeouts;  // the kernel's, read back
  std::string timeouts_error;
  std::vector<SysctlState> sysctls;  // in config (name) order
};

// Reads each configured sysctl under `dir` and writes the ones that differ, then reads them
// back. A failure is reported in the entry's `error`; the others are still applied.
std::vector<SysctlState> apply_sysctls(const std::map<std::string, int>& want,
                                       const std::string& dir);
// Only reads (for status): `error` says when the value is not the configured one.
std::vector<SysctlState> read_sysctls(const std::map<std::string, int>& want,
                                      const std::string& dir);

// Timeouts through `kernel` (may be null when IPVS is unavailable: then `error_no_kernel`
// is reported), then sysctls under `dir`. Writes only what is configured and differs.
TuningState apply_tuning(const config::Ipvs& want, Kernel* kernel,
                         const std::string& error_no_kernel, const std::string& dir);
// The same reads, no writes.
TuningState read_tuning(const config::Ipvs& want, Kernel* kernel,
                        const std::string& error_no_kernel, const std::string& dir);

// Pure: the settings to apply for `cfg`: its `ipvs:` section, plus conntrack=1 when a service
// asks for SNAT (netfilter's NAT sees IPVS's connections only with it) and the config does not
// set conntrack itself (the loader refuses an explicit 0 beside SNAT).
config::Ipvs effective_ipvs(const config::Config& cfg);

// One line for the log: "timeouts tcp 900s tcpfin 120s udp 300s; conntrack=1 ...".
std::string describe(const TuningState& s);

}  // namespace l4lb::ipvs
