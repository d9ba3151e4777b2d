#include "common/worker.hpp"

#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <thread>

using l4lb::Worker;

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

TEST_CASE("wait_idle runs every queued job and the continuations they chain, on the caller") {
  boost::asio::io_context io;  // never run: wait_idle alone must deliver everything
  Worker w(io, "test-worker", 0);
  std::vector<int> order;
  w.post([&]() -> Worker::Continuation {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // still running at wait_idle
    return [&] {
      order.push_back(1);
      // A continuation that queues another job: wait_idle waits for that one too.
      w.post([&]() -> Worker::Continuation { return [&] { order.push_back(3); }; });
    };
  });
  w.post([&]() -> Worker::Continuation { return [&] { order.push_back(2); }; });
  w.wait_idle();
  CHECK(order == std::vector<int>{1, 2, 3});
  CHECK(w.jobs_done() == 3);
}

TEST_CASE("the worker thread carries its name and niceness") {
  boost::asio::io_context io;
  auto guard = boost::asio::make_work_guard(io);
  Worker w(io, "test-nice", 7);
  char name[16] = {};
  int nice = 0;
  w.post([&]() -> Worker::Continuation {
    ::pthread_getname_np(::pthread_self(), name, sizeof name);
    errno = 0;
    nice = ::getpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()));
    return [&] { guard.reset(); };
  });
  io.run_for(std::chrono::seconds(10));
  CHECK(std::string(name) == "test-nice");
  // The test may itself run niced (ctest under `nice`): the worker sits 7 below it.
  CHECK(nice == std::min(19, ::getpriority(PRIO_PROCESS, 0) + 7));
}
