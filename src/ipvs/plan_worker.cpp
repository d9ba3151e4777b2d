#include "ipvs/plan_worker.hpp"

#include <mutex>

namespace l4lb::ipvs {

PlanWorker::PlanWorker(boost::asio::io_context& io)
    : to_loop_(io, [this] { return outstanding_ > 0; }), thread_([this] { run(); }) {}

PlanWorker::~PlanWorker() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
  // Continuations still in the mailbox die with it, unrun.
}

void PlanWorker::post(Job job) {
  ++outstanding_;
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(std::move(job));
  }
  wake_.notify_one();
  to_loop_.expect();
}

void PlanWorker::run() {
  for (;;) {
    Job job;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      job = std::move(queue_.front());
      queue_.pop_front();
      ++running_;
    }
    Continuation next = job();
    job = nullptr;  // what the job captured is released here, before its continuation runs
    // Sent before the job counts as finished, so that wait_idle() finds it in the mailbox.
    to_loop_.send([this, next = std::move(next)] {
      --outstanding_;
      if (next) next();
    });
    {
      std::lock_guard lock(mutex_);
      --running_;
    }
    idle_.notify_all();
  }
}

void PlanWorker::wait_idle() {
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      idle_.wait(lock, [this] { return queue_.empty() && running_ == 0; });
    }
    // Continuations may queue more jobs: wait for those too. Nothing in the mailbox means
    // every finished job's continuation has run (or runs in a caller's frame further up).
    if (outstanding_ == 0 || !to_loop_.deliver_now()) return;
  }
}

}  // namespace l4lb::ipvs
