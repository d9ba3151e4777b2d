#include "daemon/notify_runner.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstring>

#include "common/log.hpp"

namespace l4lb::daemon {

struct NotifyRunner::Child {
  Child(boost::asio::io_context& io, int fd) : pid_fd(io, fd), timer(io) {}
  boost::asio::posix::stream_descriptor pid_fd;  // readable when the child exits
  boost::asio::steady_timer timer;
  pid_t pid = 0;
  std::string program;
  bool timed_out = false;
};

NotifyRunner::~NotifyRunner() {
  // Children outlive nothing: on shutdown the remaining scripts are killed and reaped.
  for (auto& [fd, child] : children_) {
    ::kill(child->pid, SIGKILL);
    ::waitpid(child->pid, nullptr, 0);
  }
}

void NotifyRunner::run(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                       Duration timeout) {
  if (argv.empty()) return;
  ++started_;
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> environment = {
      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"};
  environment.insert(environment.end(), env.begin(), env.end());
  std::vector<char*> envp;
  for (auto& e : environment) envp.push_back(e.data());
  envp.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    ++failed_;
    log::err("notify script={} error=\"{}\"", argv[0], std::string(strerror(rc)));
    return;
  }
  int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) {
    // No pidfd (kernel < 5.3): the script still runs; it is reaped by the SIGCHLD default.
    log::warning("notify script={} pid={} not tracked: pidfd_open failed", argv[0], pid);
    return;
  }
  auto child = std::make_shared<Child>(io_, fd);
  child->pid = pid;
  child->program = argv[0];
  children_[fd] = child;
  child->timer.expires_after(timeout);
  child->timer.async_wait([child](const boost::system::error_code& ec) {
    if (ec) return;
    child->timed_out = true;
    ::kill(child->pid, SIGKILL);
  });
  child->pid_fd.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                           [this, fd](const boost::system::error_code& ec) {
                             if (!ec) finish(fd);
                           });
}

void NotifyRunner::finish(int pid_fd) {
  auto it = children_.find(pid_fd);
  if (it == children_.end()) return;
  auto child = it->second;
  children_.erase(it);
  child->timer.cancel();
  int status = 0;
  ::waitpid(child->pid, &status, 0);
  if (child->timed_out) {
    ++failed_;
    log::err("notify script={} pid={} killed: timeout", child->program, child->pid);
  } else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
    log::debug("notify script={} pid={} exit=0", child->program, child->pid);
  } else {
    ++failed_;
    log::warning("notify script={} pid={} status={}", child->program, child->pid,
                 WIFEXITED(status) ? "exit " + std::to_string(WEXITSTATUS(status))
                                   : "signal " + std::to_string(WTERMSIG(status)));
  }
}

}  // namespace l4lb::daemon
