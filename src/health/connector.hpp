// Non-blocking TCP connects for many probes at once, with fewer system calls than one Asio
// socket per probe (socket with SOCK_NONBLOCK instead of socket+ioctl; one one-shot epoll
// registration instead of add+modify; no extra poll). At 10,000 checks a second the
// connect is nearly all of a check's cost, and most of that is system calls.
//
// One Connector per io_context (an Asio service): its own epoll set, watched by the
// io_context through a descriptor, so everything still runs on the one loop thread.
#pragma once

#include <boost/asio/execution_context.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <cstdint>
#include <functional>
#include <optional>
#include <unordered_map>

#include "common/address.hpp"

namespace l4lb::health::detail {

class Connector : public boost::asio::execution_context::service {
 public:
  using key_type = Connector;
  static inline boost::asio::execution_context::id id;

  explicit Connector(boost::asio::execution_context& ctx);
  ~Connector() override;

  static Connector& of(boost::asio::io_context& io) {
    return boost::asio::use_service<Connector>(io);
  }

  // `err` is 0 on success, else the errno of the failed connect (or bind: see `stage`).
  enum class Stage { socket, bind, connect };
  using Done = std::function<void(int err, Stage stage)>;

  // Creates a socket, binds it to `source` when given, and starts connecting. Returns the
  // descriptor (the caller owns it and closes it), or -1 when no socket could be created.
  // `done` runs later on the loop, never inside start(), unless forget(fd) comes first.
  int start(const net::Address& to, std::uint16_t port, const std::optional<net::Address>& source,
            Done done);
  // Drops the pending callback of `fd`; call before closing a descriptor still connecting.
  void forget(int fd);

  std::size_t pending() const { return pending_.size(); }

 private:
  void shutdown() override;
  void arm();
  void harvest();
  void complete_later(int fd, std::uint32_t seq, int err, Stage stage);

  struct Pending {
    std::uint32_t seq;
    Done done;
  };
  boost::asio::io_context& io_;
  int epoll_fd_ = -1;
  std::optional<boost::asio::posix::stream_descriptor> watcher_;
  bool armed_ = false;
  std::uint32_t next_seq_ = 1;
  std::unordered_map<int, Pending> pending_;
};

}  // namespace l4lb::health::detail
