#include "daemon/worker.hpp"

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <thread>

using l4lb::daemon::Worker;

TEST_CASE("worker runs jobs off the loop, in order, and their continuations on the loop") {
  boost::asio::io_context io;
  auto guard = boost::asio::make_work_guard(io);
  Worker w(io, "test-worker");
  const auto loop = std::this_thread::get_id();
  std::vector<int> order;
  std::vector<std::thread::id> job_threads;
  int continuations_on_loop = 0;
  for (int i = 0; i < 3; ++i)
    w.post([&, i]() -> Worker::Continuation {
      job_threads.push_back(std::this_thread::get_id());  // jobs run one at a time
      return [&, i] {
        order.push_back(i);
        if (std::this_thread::get_id() == loop) ++continuations_on_loop;
        if (order.size() == 3) guard.reset();
      };
    });
  io.run_for(std::chrono::seconds(10));
  CHECK(order == std::vector<int>{0, 1, 2});
  CHECK(continuations_on_loop == 3);
  REQUIRE(job_threads.size() == 3);
  for (auto id : job_threads) CHECK(id != loop);
  CHECK(w.jobs_done() == 3);
  CHECK(w.queue_delay().total() == 3);
}

TEST_CASE("a failing job is logged and its continuation skipped; the worker goes on") {
  boost::asio::io_context io;
  auto guard = boost::asio::make_work_guard(io);
  Worker w(io, "test-worker");
  bool ran = false;
  w.post([]() -> Worker::Continuation { throw std::runtime_error("boom"); });
  w.post([&]() -> Worker::Continuation {
    return [&] {
      ran = true;
      guard.reset();
    };
  });
  io.run_for(std::chrono::seconds(10));
  CHECK(ran);
  CHECK(w.jobs_done() == 2);
}

TEST_CASE("continuations still queued when the worker is destroyed are dropped") {
  boost::asio::io_context io;
  bool ran = false;
  std::atomic<bool> job_ran{false};
  {
    Worker w(io, "test-worker");
    w.post([&]() -> Worker::Continuation {
      job_ran = true;
      return [&] { ran = true; };
    });
    while (!job_ran) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }  // joins the thread: the continuation is posted by now, and must not run
  io.run();
  CHECK(job_ran);
  CHECK_FALSE(ran);
}
