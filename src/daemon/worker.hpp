// A worker thread for the daemon's heavy pure work (rendering status and metrics, loading and
// diffing a reload). The loop hands it a job that owns everything it reads (an immutable
// snapshot or a file name); the job returns the continuation, which is posted back and runs on
// the loop. Nothing is shared with the loop but the queue itself.
//
// Jobs run one at a time in order. The delay between queueing a job and its start is recorded
// (on the loop, when the continuation arrives) as the worker's queue delay.
#pragma once

#include <boost/asio/io_context.hpp>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/histogram.hpp"
#include "common/time.hpp"

namespace l4lb::daemon {

class Worker {
 public:
  using Continuation = std::function<void()>;  // runs on the loop
  using Job = std::function<Continuation()>;   // runs on the worker thread

  Worker(boost::asio::io_context& io, std::string name);
  ~Worker();  // waits for the running job; continuations not yet run are dropped
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void post(Job job);

  const std::string& name() const { return name_; }
  // Loop thread only.
  const DelayHistogram& queue_delay() const { return queue_delay_; }
  std::uint64_t jobs_done() const { return jobs_done_; }

 private:
  void run();

  boost::asio::io_context& io_;
  std::string name_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // loop thread only
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::pair<TimePoint, Job>> queue_;
  bool stopping_ = false;
  DelayHistogram queue_delay_;   // loop thread only
  std::uint64_t jobs_done_ = 0;  // loop thread only
  std::thread thread_;
};

}  // namespace l4lb::daemon
