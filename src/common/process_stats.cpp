#include "common/process_stats.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace l4lb {
namespace {

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

double seconds(const timeval& tv) {
  return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
}

// The number of open descriptors, this directory stream's own not counted.
std::optional<std::uint64_t> count_fds(std::string& error) {
  DIR* dir = ::opendir("/proc/self/fd");
  if (!dir) {
    error = errno_text("/proc/self/fd");
    return std::nullopt;
  }
  const int own = ::dirfd(dir);
  std::uint64_t n = 0;
  errno = 0;
  while (const dirent* e = ::readdir(dir)) {
    if (e->d_name[0] == '.') continue;  // "." and ".."
    if (std::atoi(e->d_name) != own) ++n;
  }
  const int read_errno = errno;
  ::closedir(dir);
  if (read_errno != 0) {
    errno = read_errno;
    error = errno_text("/proc/self/fd");
    return std::nullopt;
  }
  return n;
}

}  // namespace

std::optional<ProcessStats> read_process_stats(std::string& error) {
  ProcessStats s;
  const long page = ::sysconf(_SC_PAGESIZE);
  FILE* statm = std::fopen("/proc/self/statm", "re");
  if (!statm) {
    error = errno_text("/proc/self/statm");
    return std::nullopt;
  }
  unsigned long long size = 0, resident = 0;
  const int fields = std::fscanf(statm, "%llu %llu", &size, &resident);
  std::fclose(statm);
  if (fields != 2) {
    error = "/proc/self/statm: unexpected content";
    return std::nullopt;
  }
  s.virtual_bytes = size * static_cast<std::uint64_t>(page);
  s.resident_bytes = resident * static_cast<std::uint64_t>(page);

  rusage usage{};
  if (::getrusage(RUSAGE_SELF, &usage) != 0) {
    error = errno_text("getrusage");
    return std::nullopt;
  }
  s.cpu_seconds = seconds(usage.ru_utime) + seconds(usage.ru_stime);
  // ru_maxrss (KiB) is the kernel's high-water mark, which it updates lazily: just after a
  // growth it can read a few pages below the resident size read above. A peak is never lower.
  s.peak_resident_bytes =
      std::max(static_cast<std::uint64_t>(usage.ru_maxrss) * 1024, s.resident_bytes);

  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    error = errno_text("getrlimit(RLIMIT_NOFILE)");
    return std::nullopt;
  }
  s.max_fds = limit.rlim_cur == RLIM_INFINITY ? UINT64_MAX : limit.rlim_cur;

  const auto fds = count_fds(error);
  if (!fds) return std::nullopt;
  s.open_fds = *fds;
  return s;
}

}  // namespace l4lb
