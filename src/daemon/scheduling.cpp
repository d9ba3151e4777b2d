#include "daemon/scheduling.hpp"

#include <fmt/format.h>
#include <sched.h>
#include <sys/resource.h>

#include <cerrno>
#include <cstring>

namespace l4lb::daemon {

std::optional<std::string> set_thread_scheduling(int priority) {
  sched_param param{};
  param.sched_priority = priority;
  // Threads and children inherit a real-time policy unless told otherwise: the reset flag
  // keeps a busy render worker or a runaway notify script from competing with the loop at
  // its priority.
  const int policy = priority > 0 ? (SCHED_RR | SCHED_RESET_ON_FORK) : SCHED_OTHER;
  if (::sched_setscheduler(0, policy, &param) == 0) return std::nullopt;
  const int err = errno;
  if (err == EPERM) {
    rlimit limit{};
    ::getrlimit(RLIMIT_RTPRIO, &limit);
    return fmt::format(
        "SCHED_RR priority {}: {} (needs CAP_SYS_NICE or an RLIMIT_RTPRIO of at least {}, "
        "now {}; the shipped systemd unit keeps CAP_SYS_NICE)",
        priority, std::strerror(err), priority,
        limit.rlim_cur == RLIM_INFINITY ? std::string("unlimited")
                                        : std::to_string(limit.rlim_cur));
  }
  return fmt::format("SCHED_RR priority {}: {}", priority, std::strerror(err));
}

std::string thread_scheduling() {
  const int policy = ::sched_getscheduler(0) & ~SCHED_RESET_ON_FORK;
  sched_param param{};
  ::sched_getparam(0, &param);
  switch (policy) {
    case SCHED_RR:
      return fmt::format("SCHED_RR {}", param.sched_priority);
    case SCHED_FIFO:
      return fmt::format("SCHED_FIFO {}", param.sched_priority);
    case SCHED_OTHER:
      return "SCHED_OTHER";
    default:
      return fmt::format("policy {}", policy);
  }
}

}  // namespace l4lb::daemon
