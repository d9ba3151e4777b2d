// One thread for the IPVS programmer's heavy pure work: building the desired table,
// reconciling it with the model of the kernel, writing the ownership record. The loop hands
// it a job that owns everything it reads (moved in, never shared); the job returns a
// continuation, which runs back on the loop. Jobs run one at a time, in order.
//
// Continuations come back through a Mailbox, not boost::asio::post: posting takes the
// io_context's own mutex, which the loop takes on every handler and which does not inherit
// priority (common/mailbox.hpp). The loop's side of the job queue is a priority-inheritance
// mutex for the same reason.
#pragma once

#include <boost/asio/io_context.hpp>
#include <condition_variable>
#include <deque>
#include <functional>
#include <thread>

#include "common/mailbox.hpp"
#include "common/pi_mutex.hpp"

namespace l4lb::ipvs {

class PlanWorker {
 public:
  using Continuation = std::function<void()>;  // runs on the loop
  using Job = std::function<Continuation()>;   // runs on the worker thread

  explicit PlanWorker(boost::asio::io_context& io);
  ~PlanWorker();  // waits for the running job; continuations not yet run are dropped
  PlanWorker(const PlanWorker&) = delete;
  PlanWorker& operator=(const PlanWorker&) = delete;

  void post(Job job);  // loop thread
  // Loop thread, for shutdown: blocks until every queued job has run and runs their
  // continuations here and now (including jobs those continuations queue).
  void wait_idle();

 private:
  void run();

  PiMutex mutex_;                     // guards queue_, running_, stopping_
  std::condition_variable_any wake_;  // the worker: a job was queued, or stop
  std::condition_variable_any idle_;  // wait_idle(): a job finished
  std::deque<Job> queue_;
  std::size_t running_ = 0;
  bool stopping_ = false;
  // Loop thread only: jobs whose continuation has not run yet; the mailbox waits only while
  // there are any, so an io_context with nothing else to do can return from run().
  std::size_t outstanding_ = 0;
  Mailbox to_loop_;
  std::thread thread_;
};

}  // namespace l4lb::ipvs
