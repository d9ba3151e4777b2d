#include "daemon/metrics_server.hpp"

#include <fmt/format.h>
#include <sys/socket.h>

#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <deque>
#include <memory>
#include <optional>
#include <vector>

#include "common/address.hpp"
#include "common/log.hpp"
#include "daemon/accept_backoff.hpp"

namespace l4lb::daemon {

struct MetricsServer::Shared {
  Render render;
  std::size_t active = 0;
  std::uint64_t refused_busy = 0;
  std::uint64_t accept_backoffs = 0;
};

namespace {

namespace http = boost::beast::http;
using boost::asio::ip::tcp;

struct Session : std::enable_shared_from_this<Session> {
  Session(tcp::socket s, std::shared_ptr<MetricsServer::Shared> sh)
      : stream(std::move(s)), shared(std::move(sh)) {
    ++shared->active;
  }
  ~Session() { --shared->active; }

  void start() {
    parser.header_limit(8 * 1024);
    parser.body_limit(0);
    // A client that never finishes its request is dropped, not kept forever.
    stream.expires_after(std::chrono::seconds(10));
    auto self = shared_from_this();
    http::async_read(stream, buffer, parser,
                     [self](boost::beast::error_code ec, std::size_t) { self->respond(ec); });
  }

  void respond(boost::beast::error_code ec) {
    if (ec) return;
    const auto& req = parser.get();
    response.version(req.version());
    response.keep_alive(false);
    response.set(http::field::server, "l4lbd");
    if (req.target() != "/metrics" && req.target() != "/") {
      response.result(http::status::not_found);
      message = "not found; try /metrics\n";
    } else if (req.method() != http::verb::get && req.method() != http::verb::head) {
      response.result(http::status::method_not_allowed);
      message = "GET only\n";
    } else {
      return stream_metrics();
    }
    write();
  }

  // A short answer (404, 405), whole.
  void write() {
    const auto& req = parser.get();
    response.body() = http::span_body<const char>::value_type(message.data(), message.size());
    response.prepare_payload();
    if (req.method() == http::verb::head) response.body() = {};
    // A scraper that does not take its answer is dropped too.
    stream.expires_after(std::chrono::seconds(10));
    auto self = shared_from_this();
    http::async_write(stream, response, [self](boost::beast::error_code, std::size_t) {
      boost::beast::error_code ignored;
      self->stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    });
  }

  // The exposition text as it is rendered: the header at once, then each chunk of the text as
  // an HTTP/1.1 chunk (RFC 9112 7.1; an HTTP/1.0 client gets the text delimited by the
  // connection's close). Without a final zero-length chunk a client sees a truncated reply,
  // which is what a rendering that stops short must look like.
  void stream_metrics() {
    const auto& req = parser.get();
    head.version(req.version());
    head.result(http::status::ok);
    head.keep_alive(false);
    head.set(http::field::server, "l4lbd");
    head.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    chunked = req.version() >= 11;
    if (chunked) head.chunked(true);
    serializer.emplace(head);
    head_only = req.method() == http::verb::head;
    writing = true;
    stream.expires_after(std::chrono::seconds(10));
    auto self = shared_from_this();
    http::async_write_header(stream, *serializer, [self](boost::beast::error_code e, std::size_t) {
      self->writing = false;
      if (e) return self->close();
      self->pump();
    });
    if (head_only) {
      ended = true;
      return;
    }
    shared->render(session_reader(self));
  }

  bool open() const { return stream.socket().is_open(); }

  void pump() {
    if (writing || !stream.socket().is_open()) return;
    if (pending.empty() && !ended) return;  // more to come
    if (pending.empty() && (!chunked || head_only || finished)) {
      boost::beast::error_code ignored;
      stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
      return;
    }
    std::vector<boost::asio::const_buffer> out;
    // The chunk being written leaves `pending` now and lives in the handler, as in the control
    // socket's sessions (control_server.cpp): close() may empty `pending` meanwhile.
    TextStream::Chunk chunk;
    if (pending.empty()) {
      out.push_back(boost::asio::buffer(kLastChunk));  // the end of the chunked body
      finished = true;
    } else {
      chunk = std::move(pending.front());
      pending.pop_front();
      const std::string& text = *chunk;
      if (chunked) {
        size_line = fmt::format("{:x}\r\n", text.size());
        out.push_back(boost::asio::buffer(size_line));
      }
      out.push_back(boost::asio::buffer(text));
      if (chunked) out.push_back(boost::asio::buffer(kCrlf));
    }
    writing = true;
    // A scraper that takes no chunk for 10 s is dropped: the rendering waits for the slowest.
    stream.expires_after(std::chrono::seconds(10));
    auto self = shared_from_this();
    boost::asio::async_write(
        stream, out, [self, chunk = std::move(chunk)](boost::beast::error_code e, std::size_t) {
          self->writing = false;
          if (e) return self->close();
          self->pump();
        });
  }

  void close() {
    pending.clear();  // the chunks go back to the rendering now
    boost::beast::error_code ignored;
    stream.socket().close(ignored);
  }

  static constexpr std::string_view kLastChunk = "0\r\n\r\n";
  static constexpr std::string_view kCrlf = "\r\n";

  boost::beast::tcp_stream stream;
  boost::beast::flat_buffer buffer;
  http::request_parser<http::empty_body> parser;
  // The body points into `message`, which the session keeps alive until the write ends.
  http::response<http::span_body<const char>> response;
  std::string message;
  // The streamed answer: its header, then chunks as they come.
  http::response<http::empty_body> head;
  std::optional<http::response_serializer<http::empty_body>> serializer;
  std::deque<TextStream::Chunk> pending;  // received, not yet written
  std::string size_line;
  bool chunked = false, head_only = false, writing = false, ended = false, finished = false;
  std::shared_ptr<MetricsServer::Shared> shared;
};

// Over the connection cap: a fixed 503, sent without waiting (it fits any fresh socket
// buffer), then the connection closes.
void refuse_busy(tcp::socket& s) {
  static constexpr std::string_view answer =
      "HTTP/1.1 503 Service Unavailable\r\nServer: l4lbd\r\nContent-Type: text/plain\r\n"
      "Content-Length: 38\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
      "too many concurrent /metrics requests\n";
  (void)::send(s.native_handle(), answer.data(), answer.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  boost::system::error_code ignored;
  s.shutdown(tcp::socket::shutdown_both, ignored);
  s.close(ignored);
}

}  // namespace

MetricsServer::MetricsServer(boost::asio::io_context& io, Render render)
    : io_(io),
      shared_(std::make_shared<Shared>(Shared{std::move(render), 0, 0, 0})),
      acceptor_(io),
      backoff_(io) {}

std::uint64_t MetricsServer::refused_busy() const { return shared_->refused_busy; }
std::uint64_t MetricsServer::accept_backoffs() const { return shared_->accept_backoffs; }

std::optional<std::string> MetricsServer::listen(const std::string& listen) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos) return "metrics.listen '" + listen + "' is not HOST:PORT";
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  auto address = net::Address::parse(host);
  int port = 0;
  try {
    port = std::stoi(listen.substr(colon + 1));
  } catch (...) {
  }
  if (!address || port <= 0 || port > 65535)
    return "metrics.listen '" + listen + "' is not HOST:PORT";
  boost::system::error_code ec;
  tcp::endpoint ep(boost::asio::ip::make_address(address->to_string()),
                   static_cast<unsigned short>(port));
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(boost::asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(64, ec);
  if (ec) {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    return "metrics listener " + listen + ": " + ec.message();
  }
  endpoint_ = listen;
  accept();
  return std::nullopt;
}

void MetricsServer::close() {
  backoff_.cancel();
  boost::system::error_code ec;
  acceptor_.close(ec);
}

void MetricsServer::accept() {
  acceptor_.async_accept([this](const boost::system::error_code& ec, tcp::socket s) {
    if (ec == boost::asio::error::operation_aborted || !acceptor_.is_open()) return;
    if (is_resource_exhaustion(ec)) {
      // The connection stays queued; accepting again now would fail again at once.
      ++shared_->accept_backoffs;
      const auto wait = accept_backoff(++failures_in_row_);
      if (failures_in_row_ == 1 || failures_in_row_ % 100 == 0)
        log::warning("metrics accept failed: {} ({} in a row); retrying in {} ms", ec.message(),
                     failures_in_row_, wait.count());
      backoff_.expires_after(wait);
      backoff_.async_wait([this](const boost::system::error_code& e) {
        if (!e) accept();
      });
      return;
    }
    failures_in_row_ = 0;
    if (!ec) {
      if (shared_->active >= kMaxConnections) {
        ++shared_->refused_busy;
        refuse_busy(s);
      } else {
        std::make_shared<Session>(std::move(s), shared_)->start();
      }
    }
    accept();
  });
}

}  // namespace l4lb::daemon
