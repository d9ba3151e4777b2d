#include "daemon/notify_runner.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

using l4lb::Duration;
using l4lb::daemon::NotifyRunner;

TEST_CASE("notify scripts run asynchronously with their arguments and environment") {
  boost::asio::io_context io;
  NotifyRunner runner(io);
  const std::string out = "/tmp/l4lb-notify-test-" + std::to_string(::getpid());
  runner.run("vi", {"/bin/sh", "-c", "echo \"$0 $1 $L4LB_STATE\" > " + out, "INSTANCE", "front"},
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
  runner.run("vi", {"/bin/sleep", "30"}, {}, Duration(100));
  io.run();
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(10));
  CHECK(runner.failed() == 1);
  CHECK(runner.running() == 0);
}

TEST_CASE("a missing program and a failing exit are counted, never thrown") {
  boost::asio::io_context io;
  NotifyRunner runner(io);
  runner.run("a", {"/nonexistent/notify"}, {}, Duration(1000));
  runner.run("b", {"/bin/false"}, {}, Duration(1000));
  io.run();
  CHECK(runner.failed() == 2);
  CHECK(runner.started() == 2);
}

namespace {
std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}
std::string temp_path(const char* what) {
  return "/tmp/l4lb-notify-" + std::string(what) + "-" + std::to_string(::getpid());
}
}  // namespace

TEST_CASE("one queue runs its scripts one at a time, in order; other queues run beside it") {
  boost::asio::io_context io;
  NotifyRunner runner(io);
  const std::string out = temp_path("order");
  std::remove(out.c_str());
  // The first script is the slow one: without the queue the second would finish first.
  runner.run("vi", {"/bin/sh", "-c", "sleep 0.3; echo BACKUP >> " + out}, {}, Duration(5000));
  runner.run("vi", {"/bin/sh", "-c", "echo MASTER >> " + out}, {}, Duration(5000));
  runner.run("other", {"/bin/true"}, {}, Duration(5000));
  CHECK(runner.running() == 2);
  CHECK(runner.queued() == 1);
  bool idle = false;
  runner.when_idle([&] { idle = true; });
  io.run();
  CHECK(idle);
  CHECK(slurp(out) == "BACKUP\nMASTER\n");
  CHECK(runner.failed() == 0);
  std::remove(out.c_str());
}

TEST_CASE("a timeout kills the script's whole process group") {
  boost::asio::io_context io;
  NotifyRunner runner(io);
  const std::string pidfile = temp_path("group");
  std::remove(pidfile.c_str());
  runner.run("vi", {"/bin/sh", "-c", "sleep 30 & echo $! > " + pidfile + "; wait"}, {},
             Duration(300));
  io.run();
  CHECK(runner.failed() == 1);
  const std::string text = slurp(pidfile);
  REQUIRE(!text.empty());
  const pid_t grandchild = std::stoi(text);
  // Killed with the group; it was reparented, so give init a moment to reap it.
  bool gone = false;
  for (int i = 0; i < 100 && !gone; ++i) {
    std::ifstream st("/proc/" + std::to_string(grandchild) + "/stat");
    std::string line;
    gone = !std::getline(st, line) || line.find(") Z") != std::string::npos;
    if (!gone) ::usleep(20'000);
  }
  CHECK(gone);
  std::remove(pidfile.c_str());
}

TEST_CASE("no descriptor of the daemon reaches a script") {
  boost::asio::io_context io;
  NotifyRunner runner(io);
  // A descriptor without CLOEXEC, as Asio's sockets are.
  const int leaky = ::open("/dev/null", O_RDONLY);
  REQUIRE(leaky >= 0);
  REQUIRE(::dup2(leaky, 57) == 57);
  const std::string out = temp_path("fds");
  runner.run("vi", {"/bin/sh", "-c", "ls /proc/self/fd > " + out}, {}, Duration(5000));
  io.run();
  std::stringstream fds(slurp(out));
  std::string fd;
  std::vector<std::string> open;
  while (fds >> fd) open.push_back(fd);
  // ls itself: 0, 1 (the file), 2, and the directory it is listing.
  CHECK(std::find(open.begin(), open.end(), "57") == open.end());
  CHECK(open.size() <= 4);
  ::close(57);
  ::close(leaky);
  std::remove(out.c_str());
}

TEST_CASE("when_idle with nothing running fires on the next turn of the loop") {
  boost::asio::io_context io;
  NotifyRunner runner(io);
  bool idle = false;
  runner.when_idle([&] { idle = true; });
  CHECK_FALSE(idle);
  io.run();
  CHECK(idle);
}
