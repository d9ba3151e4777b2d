// One thread for the IPVS programmer's heavy pure work: building the desired table,
// reconciling it with the model of the kernel, writing the ownership record. The loop hands
// it a job that owns everything it reads (moved in, never shared); the job returns a
// continuation, which runs back on the loop. Jobs run one at a time, in order.
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

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
  void run_ready();  // loop thread: the continuations of finished jobs

  boost::asio::io_context& io_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // guards posted handlers
  std::mutex mutex_;
  std::condition_variable wake_;  // the worker: a job was queued, or stop
  std::condition_variable idle_;  // wait_idle(): a job finished
  std::deque<Job> queue_;
  std::size_t running_ = 0;
  std::vector<Continuation> ready_;  // finished jobs' continuations, not yet run on the loop
  bool stopping_ = false;
  // Loop thread only: jobs whose continuation has not run yet, and while there are any, the
  // io_context has work outstanding (their continuations).
  std::size_t outstanding_ = 0;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guard_;
  std::thread thread_;
};

}  // namespace l4lb::ipvs
