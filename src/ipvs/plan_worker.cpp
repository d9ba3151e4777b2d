#include "ipvs/plan_worker.hpp"

#include <boost/asio/post.hpp>

namespace l4lb::ipvs {

PlanWorker::PlanWorker(boost::asio::io_context& io) : io_(io), thread_([this] { run(); }) {}

PlanWorker::~PlanWorker() {
  *alive_ = false;
  guard_.reset();
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void PlanWorker::post(Job job) {
  if (outstanding_++ == 0) guard_.emplace(io_.get_executor());
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(std::move(job));
  }
  wake_.notify_one();
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
    {
      std::lock_guard lock(mutex_);
      ready_.push_back(std::move(next));
      --running_;
    }
    idle_.notify_all();
    boost::asio::post(io_, [this, alive = alive_] {
      if (*alive) run_ready();
    });
  }
}

void PlanWorker::run_ready() {
  std::vector<Continuation> ready;
  {
    std::lock_guard lock(mutex_);
    ready.swap(ready_);
  }
  for (auto& c : ready) {
    --outstanding_;
    if (c) c();
  }
  if (outstanding_ == 0) guard_.reset();
}

void PlanWorker::wait_idle() {
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      idle_.wait(lock, [this] { return queue_.empty() && running_ == 0; });
      if (ready_.empty()) return;
    }
    run_ready();  // may queue more jobs: wait for those too
  }
}

}  // namespace l4lb::ipvs
