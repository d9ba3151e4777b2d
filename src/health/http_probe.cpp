// HTTP GET check through Boost.Beast (see probe.hpp). Memory per run is bounded by
// max_response_bytes; time by the probe's deadline.
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <limits>
#include <optional>
#include <string>

#include "health/probe_base.hpp"

namespace l4lb::health::detail {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;

// Smallest buffer that still lets a tiny limit report "too_large" instead of odd errors.
constexpr std::size_t kMinBuffer = 1024;

class HttpProbe : public ProbeBase<HttpProbe> {
 public:
  HttpProbe(asio::io_context& io, const CheckSpec& spec, ProbeDone done)
      : ProbeBase(io, spec, std::move(done)),
        socket_(io),
        buffer_(std::max(spec_.params->max_response_bytes, kMinBuffer)) {}

  void start() { launch(); }

  void begin() {
    const tcp::endpoint peer(to_asio(spec_.address), spec_.port);
    boost::system::error_code ec;
    socket_.open(peer.protocol(), ec);
    if (ec) return fail_later(classify(ec), "socket: " + ec.message());
    if (spec_.params->source) {
      socket_.bind(tcp::endpoint(to_asio(*spec_.params->source), 0), ec);
      if (ec)
        return fail_later(reason::bind,
                          "bind " + spec_.params->source->to_string() + ": " + ec.message());
    }
    request_.version(11);
    request_.method(http::verb::get);
    request_.target(spec_.params->path);
    request_.set(http::field::host, spec_.http_host());
    request_.set(http::field::user_agent, "l4lb-health");
    request_.set(http::field::connection, "close");
    request_.prepare_payload();
    socket_.async_connect(peer, [self = shared_from_this()](const boost::system::error_code& ec) {
      self->on_connect(ec);
    });
  }

  void close() {
    boost::system::error_code ignored;
    if (!socket_.is_open()) return;
    socket_.set_option(asio::socket_base::linger(true, 0), ignored);
    socket_.close(ignored);
  }

 private:
  void on_connect(const boost::system::error_code& ec) {
    if (finished()) return;
    if (ec) return fail(classify(ec), "connect: " + ec.message());
    http::async_write(
        socket_, request_,
        [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
          if (self->finished()) return;
          if (ec) return self->fail(classify(ec), "send: " + ec.message());
          self->read_response();
        });
  }

  void read_response() {
    parser_.emplace();
    // Header and body share one budget: neither alone may blow past it.
    const auto limit = spec_.params->max_response_bytes;
    parser_->header_limit(static_cast<std::uint32_t>(
        std::min<std::size_t>(limit, std::numeric_limits<std::uint32_t>::max())));
    parser_->body_limit(limit);
    http::async_read(socket_, buffer_, *parser_,
                     [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                       self->on_response(ec);
                     });
  }

  void on_response(const boost::system::error_code& ec) {
    if (finished()) return;
    if (ec) {
      if (ec == http::error::body_limit || ec == http::error::header_limit ||
          ec == http::error::buffer_overflow)
        return fail(reason::too_large,
                    "response over " + std::to_string(spec_.params->max_response_bytes) + " bytes");
      if (ec == http::error::end_of_stream || ec == http::error::partial_message ||
          ec == asio::error::eof)
        return fail(reason::closed, "connection closed before a full response");
      if (ec.category() == http::make_error_code(http::error::bad_version).category())
        return fail(reason::bad_response, "invalid HTTP: " + ec.message());
      return fail(classify(ec), "read: " + ec.message());
    }
    const auto& res = parser_->get();
    const int status = static_cast<int>(res.result_int());
    if (!status_accepted(status, spec_.params->expect_status))
      return fail(reason::http_status, "status " + std::to_string(status));
    if (spec_.params->expect &&
        !reply_matches(res.body(), *spec_.params->expect, spec_.params->expect_prefix))
      return fail(reason::bad_response, "body does not match expect");
    succeed();
  }

  tcp::socket socket_;
  beast::flat_buffer buffer_;
  http::request<http::empty_body> request_;
  std::optional<http::response_parser<http::string_body>> parser_;
};

}  // namespace

std::shared_ptr<Probe> start_http(asio::io_context& io, const CheckSpec& spec, ProbeDone done) {
  auto p = std::make_shared<HttpProbe>(io, spec, std::move(done));
  p->start();
  return p;
}

}  // namespace l4lb::health::detail
