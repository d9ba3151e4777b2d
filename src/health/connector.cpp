#include "health/connector.hpp"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <boost/asio/post.hpp>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "common/sockaddr.hpp"

namespace l4lb::health::detail {

namespace {

std::uint64_t pack(int fd, std::uint32_t seq) {
  return (static_cast<std::uint64_t>(seq) << 32) | static_cast<std::uint32_t>(fd);
}

}  // namespace

Connector::Connector(boost::asio::execution_context& ctx)
    : boost::asio::execution_context::service(ctx),
      io_(static_cast<boost::asio::io_context&>(ctx)) {
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) throw std::runtime_error("health: epoll_create1 failed");
  watcher_.emplace(io_, ::dup(epoll_fd_));
}

Connector::~Connector() {
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
}

void Connector::shutdown() {
  pending_.clear();
  boost::system::error_code ignored;
  if (watcher_) watcher_->close(ignored);
}

int Connector::start(const net::Address& to, std::uint16_t port,
                     const std::optional<net::Address>& source, Done done) {
  const int family = to.is_v4() ? AF_INET : AF_INET6;
  const int fd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  const std::uint32_t seq = next_seq_++;
  pending_[fd] = Pending{seq, std::move(done)};
  sockaddr_storage ss;
  if (source) {
    const socklen_t len = net::to_sockaddr(*source, 0, ss);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
      complete_later(fd, seq, errno, Stage::bind);
      return fd;
    }
  }
  const socklen_t len = net::to_sockaddr(to, port, ss);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0) {
    complete_later(fd, seq, 0, Stage::connect);
    return fd;
  }
  if (errno != EINPROGRESS) {
    complete_later(fd, seq, errno, Stage::connect);
    return fd;
  }
  epoll_event ev{};
  ev.events = EPOLLOUT | EPOLLONESHOT;  // writable = connected or failed; errors always report
  ev.data.u64 = pack(fd, seq);
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
    complete_later(fd, seq, errno, Stage::connect);
    return fd;
  }
  arm();
  return fd;
}

void Connector::forget(int fd) {
  // Closing the descriptor removes it from the epoll set; a stale event already queued is
  // recognised by its sequence number.
  pending_.erase(fd);
}

void Connector::complete_later(int fd, std::uint32_t seq, int err, Stage stage) {
  boost::asio::post(io_, [this, fd, seq, err, stage] {
    auto it = pending_.find(fd);
    if (it == pending_.end() || it->second.seq != seq) return;
    auto done = std::move(it->second.done);
    pending_.erase(it);
    done(err, stage);
  });
}

void Connector::arm() {
  if (armed_ || pending_.empty()) return;
  armed_ = true;
  watcher_->async_wait(boost::asio::posix::stream_descriptor::wait_read,
                       [this](const boost::system::error_code& ec) {
                         armed_ = false;
                         if (ec) return;
                         harvest();
                         arm();
                       });
}

void Connector::harvest() {
  std::array<epoll_event, 256> events;
  for (;;) {
    const int n = ::epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), 0);
    if (n <= 0) return;
    for (int i = 0; i < n; ++i) {
      const int fd = static_cast<int>(events[i].data.u64 & 0xffffffffu);
      const auto seq = static_cast<std::uint32_t>(events[i].data.u64 >> 32);
      auto it = pending_.find(fd);
      if (it == pending_.end() || it->second.seq != seq) continue;
      int err = 0;
      socklen_t len = sizeof err;
      if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
      auto done = std::move(it->second.done);
      pending_.erase(it);
      done(err, Stage::connect);
    }
    if (n < static_cast<int>(events.size())) return;
  }
}

}  // namespace l4lb::health::detail
