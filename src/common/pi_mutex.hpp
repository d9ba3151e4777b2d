// A mutex with priority inheritance, for what the event loop shares with other threads. With
// `realtime_priority` the loop runs SCHED_RR; a normal-priority thread preempted while holding
// a plain mutex the loop then needs makes the loop wait until that thread gets a CPU again
// (priority inversion: 5-6 ms waits of the loop, seen with `perf sched` on a busy host). Under
// PTHREAD_PRIO_INHERIT the holder runs at the waiter's priority until it lets go. Meets the
// Lockable requirements (std::lock_guard, std::unique_lock).
#pragma once

#include <pthread.h>

namespace l4lb {

class PiMutex {
 public:
  PiMutex() {
    pthread_mutexattr_t attr;
    ::pthread_mutexattr_init(&attr);
    ::pthread_mutexattr_setprotocol(&attr, PTHREAD_PRIO_INHERIT);
    ::pthread_mutex_init(&mutex_, &attr);
    ::pthread_mutexattr_destroy(&attr);
  }
  ~PiMutex() { ::pthread_mutex_destroy(&mutex_); }
  PiMutex(const PiMutex&) = delete;
  PiMutex& operator=(const PiMutex&) = delete;

  void lock() { ::pthread_mutex_lock(&mutex_); }
  bool try_lock() { return ::pthread_mutex_trylock(&mutex_) == 0; }
  void unlock() { ::pthread_mutex_unlock(&mutex_); }

 private:
  pthread_mutex_t mutex_;
};

}  // namespace l4lb
