// CPU time of the calling thread: a handler's own cost, without the time the thread was
// preempted. On a busy host the wall-clock length of a slice is mostly the scheduler's; the
// slices' log lines give both.
#pragma once

#include <time.h>

#include <chrono>

namespace l4lb {

inline std::chrono::microseconds thread_cpu_time() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return std::chrono::seconds(ts.tv_sec) + std::chrono::duration_cast<std::chrono::microseconds>(
                                               std::chrono::nanoseconds(ts.tv_nsec));
}

}  // namespace l4lb
