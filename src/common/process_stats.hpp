// The daemon's own footprint as the kernel counts it: memory, open descriptors against their
// limit, CPU time. Read by the render worker for every status document and /metrics scrape
// (Prometheus' standard process_* series), so that an operator sees the resident size and
// the descriptor headroom without a separate exporter. Reading costs a few system calls and
// one pass over /proc/self/fd (O(open descriptors)), which is why it stays off the loop.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace l4lb {

struct ProcessStats {
  std::uint64_t resident_bytes = 0;       // /proc/self/statm: resident pages
  std::uint64_t peak_resident_bytes = 0;  // getrusage: ru_maxrss (VmHWM)
  std::uint64_t virtual_bytes = 0;        // /proc/self/statm: total program size
  std::uint64_t open_fds = 0;             // entries of /proc/self/fd, the reader's own excluded
  std::uint64_t max_fds = 0;              // RLIMIT_NOFILE, soft limit
  double cpu_seconds = 0;                 // user + system time of every thread
};

// Every field, or nothing with `error` naming what could not be read (a /proc without our
// process in it: a hidepid mount, a container without /proc).
std::optional<ProcessStats> read_process_stats(std::string& error);

}  // namespace l4lb
