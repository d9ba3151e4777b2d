#include "common/process_stats.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace l4lb {
namespace {

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

double seconds(const timeval& tv) {
  return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
}

}  // namespace

ProcessStatsReader::ProcessStatsReader() {
  statm_ = ::open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (statm_ < 0) open_error_ = errno_text("/proc/self/statm");
  fd_dir_ = ::opendir("/proc/self/fd");
  if (!fd_dir_ && open_error_.empty()) open_error_ = errno_text("/proc/self/fd");
}

ProcessStatsReader::~ProcessStatsReader() {
  if (statm_ >= 0) ::close(statm_);
  if (fd_dir_) ::closedir(fd_dir_);
}

std::optional<ProcessStats> ProcessStatsReader::read(std::string& error) {
  if (!open_error_.empty()) {
    error = open_error_;
    return std::nullopt;
  }
  ProcessStats s;
  std::array<char, 256> text{};
  const ssize_t n = ::pread(statm_, text.data(), text.size() - 1, 0);
  if (n < 0) {
    error = errno_text("/proc/self/statm");
    return std::nullopt;
  }
  unsigned long long size = 0, resident = 0;
  if (std::sscanf(text.data(), "%llu %llu", &size, &resident) != 2) {
    error = "/proc/self/statm: unexpected content";
    return std::nullopt;
  }
  const auto page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  s.virtual_bytes = size * page;
  s.resident_bytes = resident * page;

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

  ::rewinddir(fd_dir_);  // the kernel lists the table as it is now
  errno = 0;
  while (const dirent* e = ::readdir(fd_dir_))
    if (e->d_name[0] != '.') ++s.open_fds;  // not "." and ".."
  if (errno != 0) {
    error = errno_text("/proc/self/fd");
    return std::nullopt;
  }
  return s;
}

}  // namespace l4lb
