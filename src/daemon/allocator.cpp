#include "daemon/allocator.hpp"

#include <fmt/format.h>
#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>

// jemalloc's control interface, when l4lbd is linked with it (CMake's L4LB_JEMALLOC); null
// otherwise (glibc's malloc, the sanitizer builds and the tests).
extern "C" int mallctl(const char* name, void* oldp, std::size_t* oldlenp, void* newp,
                       std::size_t newlen) __attribute__((weak));

namespace l4lb::daemon {
namespace {

bool jemalloc() { return mallctl != nullptr; }

// One of jemalloc's read-only controls, of the type its manual gives; nothing if it refused.
template <typename T>
std::optional<T> read_control(const char* name) {
  T value{};
  std::size_t len = sizeof value;
  if (mallctl(name, &value, &len, nullptr, 0) != 0) return std::nullopt;
  return value;
}

}  // namespace

const char* tune_allocator() {
  if (jemalloc()) {
    // Its settings come with the binary (jemalloc_conf.cpp); MALLOC_CONF may have turned the
    // purging thread off, or it could not start.
    if (!read_control<bool>("background_thread").value_or(false))
      return "jemalloc's background thread is off: freed memory is given back by the threads "
             "that free it";
    return nullptr;
  }
  // Setting the threshold also turns off glibc's dynamic adjustment of it (and of
  // M_TRIM_THRESHOLD, which stays at its 128 KiB default).
  constexpr int kMmapThreshold = 128 * 1024;
  if (::mallopt(M_MMAP_THRESHOLD, kMmapThreshold) != 1) return "mallopt(M_MMAP_THRESHOLD) refused";
  return nullptr;
}

std::string allocator_name() {
  if (!jemalloc()) return "glibc malloc";
  const auto version = read_control<const char*>("version");
  if (!version || !*version) return "jemalloc";
  return fmt::format("jemalloc {}", *version);
}

std::optional<AllocatorStats> allocator_stats() {
  if (!jemalloc()) return std::nullopt;
  // The statistics are a copy made at an "epoch"; writing it makes a new one.
  std::uint64_t epoch = 1;
  std::size_t len = sizeof epoch;
  if (mallctl("epoch", &epoch, &len, &epoch, len) != 0) return std::nullopt;
  const auto allocated = read_control<std::size_t>("stats.allocated");
  const auto resident = read_control<std::size_t>("stats.resident");
  if (!allocated || !resident) return std::nullopt;
  return AllocatorStats{*allocated, *resident};
}

std::optional<std::string> use_own_arena() {
  if (!jemalloc()) return "glibc malloc: the thread keeps the arena glibc gave it";
  unsigned arena = 0;
  std::size_t len = sizeof arena;
  if (mallctl("arenas.create", &arena, &len, nullptr, 0) != 0)
    return "jemalloc refused to create an arena";
  // -1: the arena's dirty pages never decay (and so never become muzzy either).
  ssize_t never = -1;
  const auto decay = fmt::format("arena.{}.dirty_decay_ms", arena);
  if (mallctl(decay.c_str(), nullptr, nullptr, &never, sizeof never) != 0)
    return fmt::format("jemalloc refused {} = -1", decay);
  if (mallctl("thread.arena", nullptr, nullptr, &arena, sizeof arena) != 0)
    return fmt::format("jemalloc refused to bind the thread to arena {}", arena);
  // Blocks cached from the shared arena go back to it now, not one by one later.
  mallctl("thread.tcache.flush", nullptr, nullptr, nullptr, 0);
  return std::nullopt;
}

double release_free_memory() {
  // glibc's trim holds the main arena's lock while it walks it (about 3 ms at 10,000 x 8),
  // and the loop waits for that lock at its next malloc. Called from a niced thread (the
  // reaper), it could be preempted while holding it: it runs at normal priority for the call
  // (lowering the nice value needs CAP_SYS_NICE, which the shipped unit keeps; without it, as
  // it is).
  const auto tid = static_cast<id_t>(::gettid());
  errno = 0;
  const int nice = ::getpriority(PRIO_PROCESS, tid);
  const bool raised = errno == 0 && nice > 0 && ::setpriority(PRIO_PROCESS, tid, 0) == 0;
  const auto t0 = std::chrono::steady_clock::now();
  if (jemalloc())
    // Every arena (4096 is MALLCTL_ARENAS_ALL): the pages past their decay time that the
    // background thread has not given back yet. Not `purge` (every unused page at once): in the
    // stability bench's storm it took 54 ms beside the loop and the VRRP thread, which wait for
    // the same arena, and gave back nothing the decay would not (0.6 ms and no change in the
    // resident size at 5,000 x 8 without load).
    mallctl("arena.4096.decay", nullptr, nullptr, nullptr, 0);
  else
    ::malloc_trim(0);
  const auto t1 = std::chrono::steady_clock::now();
  if (raised) ::setpriority(PRIO_PROCESS, tid, nice);
  return std::chrono::duration<double, std::milli>(t1 - t0).count();
}

}  // namespace l4lb::daemon
