// Runs `notify` scripts on VRRP transitions without blocking the event loop: the child is
// spawned in a process group of its own with no descriptor of the daemon but stdin/out/err,
// its exit is awaited through a pidfd on the loop, and the whole group is killed at the
// timeout. Scripts of one queue (one VRRP instance) run one at a time, in the order of the
// transitions they report, so a script never sees BACKUP after MASTER when it was the
// other way round.
#pragma once

#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/time.hpp"

namespace l4lb::daemon {

class NotifyRunner {
 public:
  explicit NotifyRunner(boost::asio::io_context& io) : io_(io) {}
  ~NotifyRunner();

  // argv[0] is the program. `env` entries are "KEY=value", added to a minimal environment.
  // Runs now, or after the scripts queued before it under the same `queue` have finished.
  void run(const std::string& queue, std::vector<std::string> argv, std::vector<std::string> env,
           Duration timeout);
  // `done` runs (on the loop) once every running and queued script has finished or been
  // killed at its timeout: the stop-time notification gets to run before the daemon exits.
  void when_idle(std::function<void()> done);

  std::uint64_t started() const { return started_; }
  std::uint64_t failed() const { return failed_; }  // spawn errors, non-zero exits, timeouts
  std::size_t running() const { return children_.size(); }
  std::size_t queued() const;

 private:
  struct Job {
    std::vector<std::string> argv, env;
    Duration timeout;
  };
  struct Child;
  bool spawn(const std::string& queue, const Job& job);
  void finish(int pid_fd);
  void next(const std::string& queue);
  void check_idle();

  boost::asio::io_context& io_;
  std::map<int, std::shared_ptr<Child>> children_;  // by pidfd
  std::map<std::string, std::deque<Job>> waiting_;  // per queue, behind its running script
  std::map<std::string, bool> busy_;                // a queue's script is running
  std::vector<std::function<void()>> idle_waiters_;
  std::uint64_t started_ = 0;
  std::uint64_t failed_ = 0;
};

}  // namespace l4lb::daemon
