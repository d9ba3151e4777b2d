#include "common/worker.hpp"

#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>

#include "common/log.hpp"

namespace l4lb {
namespace {

int make_eventfd(int flags) {
  const int fd = ::eventfd(0, EFD_CLOEXEC | flags);
  if (fd < 0) throw std::runtime_error("eventfd: cannot create (out of descriptors?)");
  return fd;
}

// One increment of the counter; it only says "look at the queue".
void signal_eventfd(int fd) {
  const std::uint64_t one = 1;
  while (::write(fd, &one, sizeof one) < 0 && errno == EINTR) {
  }
}

}  // namespace

Worker::Worker(boost::asio::io_context& io, std::string name, int nice)
    : name_(std::move(name)),
      nice_(nice),
      to_worker_(make_eventfd(0)),
      to_loop_(io, [this] { return outstanding_ > 0; }),
      thread_([this] { run(); }) {
  // Shows in top -H / ps -L, so that the thread's CPU time can be told from the loop's.
  ::pthread_setname_np(thread_.native_handle(), name_.substr(0, 15).c_str());
}

Worker::~Worker() {
  {
    std::lock_guard<PiMutex> lock(mutex_);
    stopping_ = true;
    queue_.clear();
  }
  signal_eventfd(to_worker_);
  thread_.join();
  ::close(to_worker_);
  // Continuations not yet run die with the mailbox, unrun; a wait still pending ends as
  // aborted and finds the mailbox gone.
}

void Worker::post(Job job) {
  {
    std::lock_guard<PiMutex> lock(mutex_);
    queue_.emplace_back(Clock::now(), std::move(job));
  }
  signal_eventfd(to_worker_);
  ++outstanding_;
  to_loop_.expect();
}

void Worker::send_to_loop(Continuation c) { to_loop_.send(std::move(c)); }

void Worker::run() {
  // Below the loop (nice +10 for the daemon's workers): on a busy host the kernel runs the loop
  // (VRRP, checks) first and renders with what is left. setpriority on a thread id affects
  // only that thread on Linux.
  if (nice_ != 0) ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), nice_);
  for (;;) {
    std::pair<TimePoint, Job> item;
    {
      std::unique_lock<PiMutex> lock(mutex_);
      while (!stopping_ && queue_.empty()) {
        lock.unlock();
        std::uint64_t count = 0;
        while (::read(to_worker_, &count, sizeof count) < 0 && errno == EINTR) {
        }
        lock.lock();
      }
      if (stopping_) return;
      item = std::move(queue_.front());
      queue_.pop_front();
      ++running_;
    }
    const auto delay = Clock::now() - item.first;
    Continuation next;
    try {
      next = item.second();
    } catch (const std::exception& e) {
      // A job is pure work over its own data; an exception (allocation failure) must not take
      // the daemon down. Its requester gets no answer, which its own timeout reports.
      log::err("worker={}: job failed: {}", name_, e.what());
    }
    // The job's captures die here, before the continuation can run: whatever they share with
    // it (a request's reply callback, a session) is then released on the loop, never here.
    item.second = nullptr;
    // Sent before the job counts as finished, so that wait_idle() finds it in the mailbox.
    to_loop_.send([this, delay, next = std::move(next)] {
      --outstanding_;
      queue_delay_.record(delay);
      ++jobs_done_;
      if (next) next();  // may destroy this worker: nothing after it
    });
    {
      std::lock_guard<PiMutex> lock(mutex_);
      --running_;
    }
    idle_.notify_all();
  }
}

void Worker::wait_idle() {
  for (;;) {
    {
      std::unique_lock<PiMutex> lock(mutex_);
      idle_.wait(lock, [this] { return queue_.empty() && running_ == 0; });
    }
    // Continuations may queue more jobs: wait for those too. Nothing in the mailbox means
    // every finished job's continuation has run (or runs in a caller's frame further up).
    if (outstanding_ == 0 || !to_loop_.deliver_now()) return;
  }
}

}  // namespace l4lb
