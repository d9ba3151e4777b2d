// Reading a file in bounded pieces.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>

namespace l4lb {

// At most this much per read(): about 0.1 ms of copying. On a kernel built without forced
// preemption (preempt=none, or Debian's voluntary) a task in a syscall keeps its CPU until the
// syscall returns: one read() of an 8 MB file kept the VRRP thread off its CPU for 12-16 ms
// (stop 24, traced with bench/vrrp_wakeups.bt while the reload worker read a 15,000-service
// config).
inline constexpr std::size_t kReadPiece = 256 * 1024;

// read(2) of at most kReadPiece of the `n` bytes asked for, retried when interrupted.
inline ssize_t read_piece(int fd, char* to, std::size_t n) {
  for (;;) {
    const ssize_t got = ::read(fd, to, std::min(n, kReadPiece));
    if (got >= 0 || errno != EINTR) return got;
  }
}

}  // namespace l4lb
