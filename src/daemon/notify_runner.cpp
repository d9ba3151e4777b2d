#include "daemon/notify_runner.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstring>

#include "common/log.hpp"

namespace l4lb::daemon {

struct NotifyRunner::Child {
  Child(boost::asio::io_context& io, int fd) : pid_fd(io, fd), timer(io) {}
  boost::asio::posix::stream_descriptor pid_fd;  // readable when the child exits
  boost::asio::steady_timer timer;
  pid_t pid = 0;
  std::string program, queue;
  bool timed_out = false;
};

NotifyRunner::~NotifyRunner() {
  // Children outlive nothing: on shutdown the remaining scripts are killed and reaped.
  for (auto& [fd, child] : children_) {
    ::kill(-child->pid, SIGKILL);
    ::waitpid(child->pid, nullptr, 0);
  }
}

std::size_t NotifyRunner::queued() const {
  std::size_t n = 0;
  for (const auto& [q, jobs] : waiting_) n += jobs.size();
  return n;
}

void NotifyRunner::run(const std::string& queue, std::vector<std::string> argv,
                       std::vector<std::string> env, Duration timeout) {
  if (argv.empty()) return;
  Job job{std::move(argv), std::move(env), timeout};
  if (busy_[queue]) {
    waiting_[queue].push_back(std::move(job));
    return;
  }
  if (spawn(queue, job))
    busy_[queue] = true;
  else
    check_idle();
}

bool NotifyRunner::spawn(const std::string& queue, const Job& job) {
  ++started_;
  std::vector<char*> args;
  for (const auto& a : job.argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> environment = {
      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"};
  environment.insert(environment.end(), job.env.begin(), job.env.end());
  std::vector<char*> envp;
  for (auto& e : environment) envp.push_back(e.data());
  envp.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  // Not every descriptor the daemon opens is CLOEXEC (Asio's sockets are not): none of them
  // (control socket, raw sockets, netlink) may reach a script.
  posix_spawn_file_actions_addclosefrom_np(&actions, STDERR_FILENO + 1);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // A group of its own, so a timeout kills whatever the script started, too; default
  // signal dispositions and an empty mask, whatever the daemon set for itself.
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  for (int s : {SIGHUP, SIGINT, SIGTERM, SIGCHLD, SIGPIPE}) sigaddset(&defaults, s);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, args[0], &actions, &attr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    ++failed_;
    log::err("notify script={} error=\"{}\"", job.argv[0], std::string(strerror(rc)));
    return false;
  }
  int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) {
    // No pidfd (kernel < 5.3): wait for it here rather than leave a zombie or lose order.
    log::warning("notify script={} pid={} waited synchronously: pidfd_open failed", job.argv[0],
                 pid);
    int status = 0;
    ::waitpid(pid, &status, 0);
    return false;
  }
  ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  auto child = std::make_shared<Child>(io_, fd);
  child->pid = pid;
  child->program = job.argv[0];
  child->queue = queue;
  children_[fd] = child;
  child->timer.expires_after(job.timeout);
  child->timer.async_wait([child](const boost::system::error_code& ec) {
    if (ec) return;
    child->timed_out = true;
    ::kill(-child->pid, SIGKILL);  // the whole group: the script and what it started
  });
  child->pid_fd.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                           [this, fd](const boost::system::error_code& ec) {
                             if (!ec) finish(fd);
                           });
  return true;
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
  next(child->queue);
}

void NotifyRunner::next(const std::string& queue) {
  busy_[queue] = false;
  auto& jobs = waiting_[queue];
  while (!jobs.empty()) {
    Job job = std::move(jobs.front());
    jobs.pop_front();
    if (spawn(queue, job)) {
      busy_[queue] = true;
      break;
    }
  }
  check_idle();
}

void NotifyRunner::when_idle(std::function<void()> done) {
  idle_waiters_.push_back(std::move(done));
  check_idle();
}

void NotifyRunner::check_idle() {
  if (!children_.empty() || queued() > 0 || idle_waiters_.empty()) return;
  auto waiters = std::move(idle_waiters_);
  idle_waiters_.clear();
  for (auto& w : waiters) boost::asio::post(io_, std::move(w));
}

}  // namespace l4lb::daemon
