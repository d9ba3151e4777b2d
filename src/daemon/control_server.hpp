// The control socket l4lbctl talks to: a unix stream socket, one JSON request line in, one JSON
// response line out, then the connection closes (protocol: docs/CONTROL.md). Permissions 0660,
// group `control.group` when that group exists (root only otherwise). The server bounds what a
// client can hold: concurrent sessions, time to send the request, request size; parsing,
// authorisation and routing are control::answer's.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "daemon/control_access.hpp"
#include "daemon/control_dispatch.hpp"

namespace l4lb::daemon {

struct ControlLimits {
  std::size_t max_sessions = 32;                    // more get "too many sessions", closed
  std::chrono::milliseconds request_timeout{5000};  // to send the whole request line
  std::chrono::milliseconds reply_timeout{30000};   // for the client to take each reply chunk
};

class ControlServer {
 public:
  using Limits = ControlLimits;
  struct Counters {
    std::uint64_t sessions = 0;         // accepted and served
    std::uint64_t refused_busy = 0;     // over max_sessions
    std::uint64_t timeouts = 0;         // no request line in time, or reply not taken
    std::uint64_t accept_backoffs = 0;  // accept failed for want of descriptors or memory
  };

  ControlServer(boost::asio::io_context& io, control::Handlers handlers, Limits limits = {});
  ~ControlServer();
  // Returns an error message if the socket cannot be created. A stale socket file left by a
  // dead daemon is replaced; a live daemon already listening there is an error.
  std::optional<std::string> listen(const std::string& path, const std::string& group);
  // Who may run mutating commands; takes effect for requests from now on.
  void set_policy(control::AccessPolicy policy);
  void close();

  const Counters& counters() const;
  std::size_t active_sessions() const;

  // State the sessions share with the server; they may outlive it on the io_context.
  struct Shared;

 private:
  void accept();
  boost::asio::io_context& io_;
  std::shared_ptr<Shared> shared_;
  boost::asio::local::stream_protocol::acceptor acceptor_;
  boost::asio::steady_timer backoff_;
  unsigned failures_in_row_ = 0;
  std::string path_;
};

}  // namespace l4lb::daemon
