// A worker thread for heavy pure work that must stay off the event loop: rendering status and
// metrics, loading and diffing a reload, nftables transactions (daemon), building and
// reconciling the IPVS plan (ipvs::PlanWorker). The loop hands it a job that owns
// everything it reads (an immutable snapshot, a file name, moved-in state); the job returns the
// continuation, which comes back and runs on the loop. Nothing is shared with the loop but the
// queue itself.
//
// Jobs run one at a time in order. The delay between queueing a job and its start is recorded
// (on the loop, when the continuation arrives) as the worker's queue delay.
//
// The two directions meet in queues under a priority-inheritance mutex, each with an eventfd
// to wake the other side (the way back is a common/mailbox.hpp Mailbox); the worker never
// posts to the io_context, whose own mutex the loop takes on every handler: a worker at nice
// +10 preempted while holding it stalled a SCHED_RR loop for milliseconds (perf sched, 10 of
// 16 waits of the loop in a stability run).
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
#include "common/mailbox.hpp"
#include "common/pi_mutex.hpp"
#include "common/time.hpp"

namespace l4lb {

class Worker {
 public:
  using Continuation = std::function<void()>;  // runs on the loop
  using Job = std::function<Continuation()>;   // runs on the worker thread

  // `name` shows in top -H and ps -L (first 15 characters) and in the worker's log lines;
  // `nice` is the thread's niceness (setpriority on its thread id): +10 puts work that can
  // wait (rendering, reloads) below the loop on a busy host.
  Worker(boost::asio::io_context& io, std::string name, int nice = 10);
  ~Worker();  // waits for the running job; jobs not started and continuations not run are dropped
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void post(Job job);  // loop thread
  // From inside a running job (worker thread): run `c` on the loop now, ahead of the job's
  // own continuation (in the order sent). How a rendering hands over its text chunk by chunk.
  void send_to_loop(Continuation c);
  // Loop thread, for shutdown: blocks until every queued job has run and runs their
  // continuations here and now (including jobs those continuations queue).
  void wait_idle();

  const std::string& name() const { return name_; }
  // Loop thread only.
  const DelayHistogram& queue_delay() const { return queue_delay_; }
  std::uint64_t jobs_done() const { return jobs_done_; }

 private:
  void run();

  std::string name_;
  int nice_;
  PiMutex mutex_;                     // guards queue_, running_ and stopping_
  std::condition_variable_any idle_;  // wait_idle(): a job finished
  std::deque<std::pair<TimePoint, Job>> queue_;
  std::size_t running_ = 0;
  bool stopping_ = false;
  int to_worker_ = -1;           // eventfd: jobs queued (the worker blocks reading it)
  std::size_t outstanding_ = 0;  // loop thread only: posted, continuation not yet run
  DelayHistogram queue_delay_;   // loop thread only
  std::uint64_t jobs_done_ = 0;  // loop thread only
  // Continuations (and send_to_loop's interim messages) back to the loop; it waits for mail
  // only while jobs are outstanding, so an io_context with nothing else to do returns from
  // run() (tests, shutdown).
  Mailbox to_loop_;
  std::thread thread_;  // last: starts when everything above exists
};

}  // namespace l4lb
