#include "daemon/allocator.hpp"

#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>

namespace l4lb::daemon {

const char* tune_allocator() {
  // Setting the threshold also turns off glibc's dynamic adjustment of it (and of
  // M_TRIM_THRESHOLD, which stays at its 128 KiB default).
  constexpr int kMmapThreshold = 128 * 1024;
  if (::mallopt(M_MMAP_THRESHOLD, kMmapThreshold) != 1) return "mallopt(M_MMAP_THRESHOLD) refused";
  return nullptr;
}

double release_free_memory() {
  // The trim holds the main arena's lock while it walks it (about 3 ms at 10,000 x 8), and the
  // loop waits for that lock at its next malloc. Called from a niced thread (the reaper), it
  // could be preempted while holding it: it runs at normal priority for the trim (lowering
  // the nice value needs CAP_SYS_NICE, which the shipped unit keeps; without it, as it is).
  const auto tid = static_cast<id_t>(::gettid());
  errno = 0;
  const int nice = ::getpriority(PRIO_PROCESS, tid);
  const bool raised = errno == 0 && nice > 0 && ::setpriority(PRIO_PROCESS, tid, 0) == 0;
  const auto t0 = std::chrono::steady_clock::now();
  ::malloc_trim(0);
  const auto t1 = std::chrono::steady_clock::now();
  if (raised) ::setpriority(PRIO_PROCESS, tid, nice);
  return std::chrono::duration<double, std::milli>(t1 - t0).count();
}

}  // namespace l4lb::daemon
