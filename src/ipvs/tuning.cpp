#include "ipvs/tuning.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

namespace l4lb::ipvs {
namespace {

std::string path_of(const std::string& dir, const std::string& name) { return dir + "/" + name; }

// Why a /proc/sys/net/ipv4/vs write or read failed, in the operator's terms.
std::string explain(int err, const std::string& path, std::string_view what) {
  std::string hint;
  if (err == ENOENT)
    hint = " (no IPVS in this network namespace: module ip_vs not loaded?)";
  else if (err == EROFS)
    hint =
        " (read-only /proc/sys: under systemd, ProtectKernelTunables needs "
        "ReadWritePaths=/proc/sys/net/ipv4/vs/)";
  else if (err == EACCES || err == EPERM)
    hint = " (needs root / CAP_NET_ADMIN in the namespace's owning user namespace)";
  return fmt::format("cannot {} {}: {}{}", what, path, std::strerror(err), hint);
}

std::optional<int> read_value(const std::string& path, std::string& error) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    error = explain(errno, path, "read");
    return std::nullopt;
  }
  char buf[64];
  ssize_t n;
  do n = ::read(fd, buf, sizeof(buf));
  while (n < 0 && errno == EINTR);
  const int err = errno;
  ::close(fd);
  if (n < 0) {
    error = explain(err, path, "read");
    return std::nullopt;
  }
  auto v = parse_sysctl_value(std::string_view(buf, static_cast<std::size_t>(n)));
  if (!v) error = fmt::format("{} holds no single integer", path);
  return v;
}

std::optional<std::string> write_value(const std::string& path, int value) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return explain(errno, path, "write");
  const std::string text = fmt::format("{}\n", value);
  ssize_t n;
  do n = ::write(fd, text.data(), text.size());
  while (n < 0 && errno == EINTR);
  const int err = errno;
  ::close(fd);
  if (n < 0) return explain(err, path, "write");
  if (static_cast<std::size_t>(n) != text.size()) return fmt::format("short write to {}", path);
  return std::nullopt;
}

std::vector<SysctlState> sysctls(const std::map<std::string, int>& want, const std::string& dir,
                                 bool write) {
  std::vector<SysctlState> out;
  for (const auto& [name, configured] : want) {
    SysctlState s{name, configured, std::nullopt, {}};
    const std::string path = path_of(dir, name);
    std::string error;
    s.value = read_value(path, error);
    if (write && s.value != configured) {
      if (auto e = write_value(path, configured)) {
        s.error = *e;
      } else {
        error.clear();
        s.value = read_value(path, error);
      }
    }
    if (s.error.empty() && !error.empty()) s.error = error;
    if (s.error.empty() && s.value != configured)
      s.error = fmt::format("{} is {}, configured {}", path, *s.value, configured);
    out.push_back(std::move(s));
  }
  return out;
}

TuningState tuning(const config::Ipvs& want, Kernel* kernel, const std::string& error_no_kernel,
                   const std::string& dir, bool write) {
  TuningState st;
  st.timeouts_configured = !want.timeouts.empty();
  if (st.timeouts_configured) {
    if (!kernel) {
      st.timeouts_error = error_no_kernel;
    } else if (auto have = kernel->timeouts(st.timeouts_error)) {
      auto set = timeouts_to_set(want.timeouts, *have);
      if (!write || !set) {
        st.timeouts = have;
      } else if (kernel->set_timeouts(*set, st.timeouts_error)) {
        st.timeouts = kernel->timeouts(st.timeouts_error);
      }
      if (st.timeouts && timeouts_to_set(want.timeouts, *st.timeouts))
        st.timeouts_error = fmt::format(
            "the kernel's timeouts (tcp {}s tcpfin {}s udp {}s) are not the configured ones",
            st.timeouts->tcp, st.timeouts->tcpfin, st.timeouts->udp);
    }
  }
  st.sysctls = sysctls(want.sysctls, dir, write);
  return st;
}

}  // namespace

std::optional<Timeouts> timeouts_to_set(const config::IpvsTimeouts& want, const Timeouts& have) {
  Timeouts set;
  if (want.tcp && *want.tcp != have.tcp) set.tcp = *want.tcp;
  if (want.tcpfin && *want.tcpfin != have.tcpfin) set.tcpfin = *want.tcpfin;
  if (want.udp && *want.udp != have.udp) set.udp = *want.udp;
  if (set == Timeouts{}) return std::nullopt;
  return set;
}

std::optional<int> parse_sysctl_value(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ' || text.back() == '\t'))
    text.remove_suffix(1);
  if (text.empty()) return std::nullopt;
  int v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

std::vector<SysctlState> apply_sysctls(const std::map<std::string, int>& want,
                                       const std::string& dir) {
  return sysctls(want, dir, true);
}

std::vector<SysctlState> read_sysctls(const std::map<std::string, int>& want,
                                      const std::string& dir) {
  return sysctls(want, dir, false);
}

TuningState apply_tuning(const config::Ipvs& want, Kernel* kernel,
                         const std::string& error_no_kernel, const std::string& dir) {
  return tuning(want, kernel, error_no_kernel, dir, true);
}

TuningState read_tuning(const config::Ipvs& want, Kernel* kernel,
                        const std::string& error_no_kernel, const std::string& dir) {
  return tuning(want, kernel, error_no_kernel, dir, false);
}

config::Ipvs effective_ipvs(const config::Config& cfg) {
  config::Ipvs out = cfg.ipvs;
  for (const auto& s : cfg.services)
    if (s.snat) {
      out.sysctls.emplace("conntrack", 1);  // keeps an explicit value
      break;
    }
  return out;
}

std::string describe(const TuningState& s) {
  std::vector<std::string> parts;
  if (s.timeouts_configured)
    parts.push_back(s.timeouts ? fmt::format("timeouts tcp {}s tcpfin {}s udp {}s", s.timeouts->tcp,
                                             s.timeouts->tcpfin, s.timeouts->udp)
                               : std::string("timeouts unknown"));
  for (const auto& c : s.sysctls)
    parts.push_back(fmt::format("{}={}", c.name, c.value ? std::to_string(*c.value) : "?"));
  return fmt::format("{}", fmt::join(parts, ", "));
}

}  // namespace l4lb::ipvs
