#include "daemon/control_server.hpp"

#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <memory>

#include "common/log.hpp"

namespace l4lb::daemon {
namespace {

using boost::asio::local::stream_protocol;
constexpr std::size_t kMaxRequestBytes = 64 * 1024;

struct Session : std::enable_shared_from_this<Session> {
  Session(stream_protocol::socket s, ControlServer::Handler& h)
      : socket(std::move(s)), buffer(kMaxRequestBytes), handler(h) {}

  void start() {
    auto self = shared_from_this();
    boost::asio::async_read_until(
        socket, buffer, '\n',
        [self](const boost::system::error_code& ec, std::size_t n) { self->on_request(ec, n); });
  }

  void on_request(const boost::system::error_code& ec, std::size_t n) {
    if (ec) {
      if (ec == boost::asio::error::eof || ec == boost::asio::error::operation_aborted) return;
      return send({{"ok", false}, {"error", "request too long or unreadable: " + ec.message()}});
    }
    std::string line(boost::asio::buffers_begin(buffer.data()),
                     boost::asio::buffers_begin(buffer.data()) + static_cast<long>(n));
    auto request = nlohmann::json::parse(line, nullptr, false);
    if (request.is_discarded() || !request.is_object())
      return send({{"ok", false}, {"error", "request is not a JSON object"}});
    handler(request, ControlServer::Reply(
                         [self = shared_from_this()](std::shared_ptr<const std::string> line) {
                           self->write(std::move(line));
                         }));
  }

  void send(const nlohmann::json& response) {
    write(std::make_shared<const std::string>(response.dump() + "\n"));
  }

  // The line may be shared with other sessions (one status rendering serves them all).
  void write(std::shared_ptr<const std::string> line) {
    reply = std::move(line);
    auto self = shared_from_this();
    boost::asio::async_write(socket, boost::asio::buffer(*reply),
                             [self](const boost::system::error_code&, std::size_t) {});
  }

  stream_protocol::socket socket;
  boost::asio::streambuf buffer;
  ControlServer::Handler& handler;
  std::shared_ptr<const std::string> reply;
};

}  // namespace

ControlServer::ControlServer(boost::asio::io_context& io, Handler handler)
    : io_(io), handler_(std::move(handler)), acceptor_(io) {}

ControlServer::~ControlServer() { close(); }

std::optional<std::string> ControlServer::listen(const std::string& path,
                                                 const std::string& group) {
  // A leftover socket file: probe it. If nobody answers, it is stale and safe to replace.
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) return path + " exists and is not a socket";
    stream_protocol::socket probe(io_);
    boost::system::error_code ec;
    probe.connect(stream_protocol::endpoint(path), ec);
    if (!ec) return "another l4lbd is already listening on " + path;
    ::unlink(path.c_str());
  }
  boost::system::error_code ec;
  acceptor_.open(stream_protocol(), ec);
  if (!ec) acceptor_.bind(stream_protocol::endpoint(path), ec);
  if (!ec) acceptor_.listen(16, ec);
  if (ec) return "control socket " + path + ": " + ec.message();
  path_ = path;
  gid_t gid = 0;
  if (struct group* g = ::getgrnam(group.c_str()))
    gid = g->gr_gid;
  else
    log::info("control socket={} group {} does not exist: root only", path, group);
  if (::chown(path.c_str(), 0, gid) != 0 && ::geteuid() == 0)
    log::warning("control socket={} chown failed", path);
  ::chmod(path.c_str(), 0660);
  accept();
  return std::nullopt;
}

void ControlServer::close() {
  if (!acceptor_.is_open()) return;
  boost::system::error_code ec;
  acceptor_.close(ec);
  if (!path_.empty()) ::unlink(path_.c_str());
  path_.clear();
}

void ControlServer::accept() {
  acceptor_.async_accept([this](const boost::system::error_code& ec, stream_protocol::socket s) {
    if (ec == boost::asio::error::operation_aborted) return;
    if (!ec) std::make_shared<Session>(std::move(s), handler_)->start();
    accept();
  });
}

}  // namespace l4lb::daemon
