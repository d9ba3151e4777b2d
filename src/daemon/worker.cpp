#include "daemon/worker.hpp"

#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <boost/asio/post.hpp>

#include "common/log.hpp"

namespace l4lb::daemon {

Worker::Worker(boost::asio::io_context& io, std::string name)
    : io_(io), name_(std::move(name)), thread_([this] { run(); }) {
  // Shows in top -H / ps -L, so that the thread's CPU time can be told from the loop's.
  ::pthread_setname_np(thread_.native_handle(), name_.substr(0, 15).c_str());
}

Worker::~Worker() {
  *alive_ = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    queue_.clear();
  }
  wake_.notify_all();
  thread_.join();
}

void Worker::post(Job job) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.emplace_back(Clock::now(), std::move(job));
  }
  wake_.notify_one();
}

void Worker::run() {
  // Below the loop: on a busy host the kernel runs the loop (VRRP, checks) first and renders
  // with what is left. setpriority on a thread id affects only that thread on Linux.
  ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 10);
  for (;;) {
    std::pair<TimePoint, Job> item;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      item = std::move(queue_.front());
      queue_.pop_front();
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
    boost::asio::post(io_, [this, alive = alive_, delay, next = std::move(next)] {
      if (!*alive) return;
      queue_delay_.record(delay);
      ++jobs_done_;
      if (next) next();
    });
  }
}

}  // namespace l4lb::daemon
