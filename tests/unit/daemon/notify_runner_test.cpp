#include "daemon/notify_runner.hpp"

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>

using l4lb::Duration;
using l4lb::daemon::NotifyRunner;

TEST_CASE("notify scripts run asynchronously with their arguments and environment") {
  boost::asio::io_context io;
  NotifyRunner runner(io);
  const std::string out = "/tmp/l4lb-notify-test-" + std::to_string(::getpid());
  runner.run({"/bin/sh", "-c", "echo \"$0 $1 $L4LB_STATE\" > " + out, "INSTANCE", "front"},
             {"L4LB_STATE=MASTER"}, Duration(5000));
  CHECK(runner.running() == 1);  // returned before the script finished
  io.run();
  CHECK(runner.running() == 0);
  CHECK(runner.failed() == 0);
  std::ifstream f(out);
  std::string line;
  std::getline(f, line);
  CHECK(line == "INSTANCE front MASTER");
  std::remove(out.c_str());
}

TEST_CASE("a script that overruns its timeout is killed and counted") {
  boost::asio::io_context io;
  NotifyRunner runner(io);
  auto start = std::chrono::steady_clock::now();
  runner.run({"/bin/sleep", "30"}, {}, Duration(100));
  io.run();
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(10));
  CHECK(runner.failed() == 1);
  CHECK(runner.running() == 0);
}

TEST_CASE("a missing program and a failing exit are counted, never thrown") {
  boost::asio::io_context io;
  NotifyRunner runner(io);
  runner.run({"/nonexistent/notify"}, {}, Duration(1000));
  runner.run({"/bin/false"}, {}, Duration(1000));
  io.run();
  CHECK(runner.failed() == 2);
  CHECK(runner.started() == 2);
}
