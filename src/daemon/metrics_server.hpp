// HTTP endpoint for Prometheus (Boost.Beast): GET /metrics. Anything else is 404/405.
// The listener is optional (`metrics.listen`); one request per connection, bounded sizes.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace l4lb::daemon {

class MetricsServer {
 public:
  // Produces the exposition text by calling `done` once, later on the loop (it is rendered
  // off the loop); the text may be shared by several scrapes.
  using Text = std::shared_ptr<const std::string>;
  using Render = std::function<void(std::function<void(Text text)> done)>;
  MetricsServer(boost::asio::io_context& io, Render render);
  // `listen` is "HOST:PORT" ("127.0.0.1:9465", "[::1]:9465"). Returns an error message on failure.
  std::optional<std::string> listen(const std::string& listen);
  void close();
  std::string endpoint() const { return endpoint_; }

 private:
  void accept();
  boost::asio::io_context& io_;
  Render render_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::string endpoint_;
};

}  // namespace l4lb::daemon
