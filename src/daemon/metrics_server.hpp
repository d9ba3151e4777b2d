// HTTP endpoint for Prometheus (Boost.Beast): GET /metrics. Anything else is 404/405.
// The listener is optional (`metrics.listen`); one request per connection, bounded sizes, at
// most kMaxConnections at once (more get 503), 10 s for the request and 10 s for each chunk of
// the reply (chunked transfer encoding: the text is streamed as it is rendered).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "daemon/text_stream.hpp"

namespace l4lb::daemon {

class MetricsServer {
 public:
  // Streams the exposition text to `reader` in chunks, later on the loop (it is rendered off
  // the loop); the chunks may be shared by several scrapes.
  using Render = std::function<void(TextFanout::Reader reader)>;
  MetricsServer(boost::asio::io_context& io, Render render);
  // `listen` is "HOST:PORT" ("127.0.0.1:9465", "[::1]:9465"). Returns an error message on failure.
  std::optional<std::string> listen(const std::string& listen);
  void close();
  std::string endpoint() const { return endpoint_; }

  static constexpr std::size_t kMaxConnections = 16;
  std::uint64_t refused_busy() const;     // connections answered 503 for the cap
  std::uint64_t accept_backoffs() const;  // accept failed for want of descriptors or memory

  // What sessions share with the server; they may outlive it on the io_context.
  struct Shared;

 private:
  void accept();
  boost::asio::io_context& io_;
  std::shared_ptr<Shared> shared_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer backoff_;
  unsigned failures_in_row_ = 0;
  std::string endpoint_;
};

}  // namespace l4lb::daemon
