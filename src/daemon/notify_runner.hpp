// Runs `notify` scripts on VRRP transitions without blocking the event loop: the child is
// spawned, its exit is awaited through a pidfd on the loop, and it is killed at the timeout.
#pragma once

#include <boost/asio/io_context.hpp>
#include <cstdint>
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
  void run(const std::vector<std::string>& argv, const std::vector<std::string>& env,
           Duration timeout);

  std::uint64_t started() const { return started_; }
  std::uint64_t failed() const { return failed_; }  // spawn errors, non-zero exits, timeouts
  std::size_t running() const { return children_.size(); }

 private:
  struct Child;
  void finish(int pid_fd);
  boost::asio::io_context& io_;
  std::map<int, std::shared_ptr<Child>> children_;  // by pidfd
  std::uint64_t started_ = 0;
  std::uint64_t failed_ = 0;
};

}  // namespace l4lb::daemon
