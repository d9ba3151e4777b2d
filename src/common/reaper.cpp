#include "common/reaper.hpp"

#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "common/pi_mutex.hpp"

namespace l4lb::reaper {
namespace {

struct Reaper {
  PiMutex mutex;  // the loop may be the one handing work over (see pi_mutex.hpp)
  std::condition_variable_any wake;
  std::deque<std::function<void()>> queue;

  Reaper() {
    std::thread([this] { run(); }).detach();  // never joined: it lives as long as the process
  }

  void run() {
    ::pthread_setname_np(::pthread_self(), "l4lb-reaper");
    ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 10);
    for (;;) {
      std::deque<std::function<void()>> batch;
      {
        std::unique_lock<PiMutex> lock(mutex);
        wake.wait(lock, [this] { return !queue.empty(); });
        batch.swap(queue);
      }
      for (auto& destroy : batch) destroy();
    }
  }
};

Reaper& instance() {
  // Leaked on purpose: objects may still be handed over during static destruction at exit.
  static Reaper* reaper = new Reaper;
  return *reaper;
}

}  // namespace

void defer(std::function<void()> destroy) {
  auto& r = instance();
  {
    std::lock_guard<PiMutex> lock(r.mutex);
    r.queue.push_back(std::move(destroy));
  }
  r.wake.notify_one();
}

}  // namespace l4lb::reaper
