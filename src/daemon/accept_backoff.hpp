// Accept loops and resource exhaustion: when the process or the system is out of descriptors
// or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM), the pending connection stays queued and accept()
// fails again at once; retrying immediately spins the event loop at 100% CPU. Instead the
// acceptor waits, longer each time in a row, and the failures are counted.
#pragma once

#include <boost/system/error_code.hpp>
#include <cerrno>
#include <chrono>

namespace l4lb::daemon {

inline bool is_resource_exhaustion(const boost::system::error_code& ec) {
  if (ec.category() != boost::system::system_category()) return false;
  const int e = ec.value();
  return e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM;
}

// The wait after the `failures`-th exhaustion in a row (1-based): 50 ms doubling, at most 1 s.
inline std::chrono::milliseconds accept_backoff(unsigned failures) {
  const unsigned shift = failures > 1 ? (failures - 1 < 5 ? failures - 1 : 5) : 0;
  const auto wait = std::chrono::milliseconds(50) * (1u << shift);
  return wait < std::chrono::seconds(1) ? wait : std::chrono::milliseconds(1000);
}

}  // namespace l4lb::daemon
