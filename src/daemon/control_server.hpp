// The control socket l4lbctl talks to: a unix stream socket, one JSON request line in, one JSON
// response line out, then the connection closes. Permissions 0660, group `control.group` when
// that group exists (root only otherwise).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace l4lb::daemon {

class ControlServer {
 public:
  // Answers `request` by calling `reply` (or `reply.raw`) exactly once, now or later on the
  // loop (a status waits for the kernel's table and its rendering, both off the loop).
  class Reply {
   public:
    using Send = std::function<void(std::shared_ptr<const std::string> line)>;
    explicit Reply(Send send) : send_(std::move(send)) {}
    void operator()(const nlohmann::json& response) const {
      send_(std::make_shared<const std::string>(response.dump() + "\n"));
    }
    // A response already serialised off the loop: one JSON object and its "\n".
    void raw(std::shared_ptr<const std::string> line) const { send_(std::move(line)); }

   private:
    Send send_;
  };
  using Handler = std::function<void(const nlohmann::json& request, Reply reply)>;

  ControlServer(boost::asio::io_context& io, Handler handler);
  ~ControlServer();
  // Returns an error message if the socket cannot be created. A stale socket file left by a
  // dead daemon is replaced; a live daemon already listening there is an error.
  std::optional<std::string> listen(const std::string& path, const std::string& group);
  void close();

 private:
  void accept();
  boost::asio::io_context& io_;
  Handler handler_;
  boost::asio::local::stream_protocol::acceptor acceptor_;
  std::string path_;
};

}  // namespace l4lb::daemon
