#include "daemon/fd_limit.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace l4lb::daemon {

namespace {
// Half-open TCP checks share a few raw sockets; every other probe holds a socket while it
// runs. (`auto` falls back to connect() when raw sockets are missing; should that happen,
// a descriptor shortage still never takes a backend down: it is a local_resources error.)
bool holds_a_descriptor(const config::Health& h) {
  switch (h.type) {
    case config::HealthType::none:
      return false;
    case config::HealthType::tcp:
      return h.handshake == config::Handshake::full ||
             (h.handshake == config::Handshake::automatic && (!h.send.empty() || h.expect));
    default:
      return true;
  }
}
}  // namespace

std::uint64_t descriptors_needed(const config::Config& cfg) {
  constexpr std::uint64_t kBase = 256;
  std::uint64_t checks = 0;
  for (const auto& s : cfg.services)
    if (holds_a_descriptor(*s.health)) checks += std::uint64_t{s.ports.size()} * s.backends.size();
  return kBase + checks;
}

std::optional<std::string> ensure_descriptor_limit(std::uint64_t needed) {
  struct rlimit lim {};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0)
    return std::string("getrlimit(RLIMIT_NOFILE): ") + std::strerror(errno);
  if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur >= needed) return std::nullopt;
  if (lim.rlim_cur == RLIM_INFINITY) return std::nullopt;
  if (lim.rlim_max != RLIM_INFINITY && lim.rlim_max < needed)
    return "the config needs " + std::to_string(needed) +
           " file descriptors (health checks in flight) but the hard limit is " +
           std::to_string(lim.rlim_max) +
           "; raise it (systemd: LimitNOFILE= in a drop-in for l4lbd.service; shell: ulimit -Hn)";
  lim.rlim_cur = needed;
  if (::setrlimit(RLIMIT_NOFILE, &lim) != 0)
    return "cannot raise RLIMIT_NOFILE to " + std::to_string(needed) + ": " + std::strerror(errno);
  return std::nullopt;
}

void reserve_descriptor_table(std::uint64_t count) {
  struct rlimit lim {};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0 || count == 0) return;
  if (lim.rlim_cur != RLIM_INFINITY && count > lim.rlim_cur) count = lim.rlim_cur;
  const int probe = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (probe < 0) return;
  // The lowest free descriptor at or above count - 1: the table now has room for it.
  const int high = ::fcntl(probe, F_DUPFD_CLOEXEC, static_cast<int>(count - 1));
  if (high >= 0) ::close(high);
  ::close(probe);
}

}  // namespace l4lb::daemon
