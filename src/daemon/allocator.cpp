#include "daemon/allocator.hpp"

#include <malloc.h>

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
  const auto t0 = std::chrono::steady_clock::now();
  ::malloc_trim(0);
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace l4lb::daemon
