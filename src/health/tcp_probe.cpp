// TCP connect check with optional send/expect (see probe.hpp for the contract).
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <string>

#include "health/probe_base.hpp"

namespace l4lb::health::detail {

namespace {

namespace asio = boost::asio;
using asio::ip::tcp;

class TcpProbe : public ProbeBase<TcpProbe> {
 public:
  TcpProbe(asio::io_context& io, std::shared_ptr<const CheckSpec> spec, ProbeDone done)
      : ProbeBase(io, std::move(spec), std::move(done)), socket_(io) {}

  void start() { launch(); }

  void begin() {
    const tcp::endpoint peer(to_asio(spec_->address), spec_->port);
    boost::system::error_code ec;
    socket_.open(peer.protocol(), ec);
    if (ec) return fail_later(classify(ec), "socket: " + ec.message());
    if (spec_->source) {
      socket_.bind(tcp::endpoint(to_asio(*spec_->source), 0), ec);
      if (ec)
        return fail_later(reason::bind, "bind " + spec_->source->to_string() + ": " + ec.message());
    }
    socket_.async_connect(peer, [self = shared_from_this()](const boost::system::error_code& ec) {
      self->on_connect(ec);
    });
  }

  void close() {
    boost::system::error_code ignored;
    if (!socket_.is_open()) return;
    // Abortive close (RST): the checker keeps no TIME_WAIT per check.
    socket_.set_option(asio::socket_base::linger(true, 0), ignored);
    socket_.close(ignored);
  }

 private:
  void on_connect(const boost::system::error_code& ec) {
    if (finished()) return;
    if (ec) return fail(classify(ec), "connect: " + ec.message());
    if (spec_->send.empty()) return after_send();
    asio::async_write(
        socket_, asio::buffer(spec_->send),
        [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
          if (self->finished()) return;
          if (ec) return self->fail(classify(ec), "send: " + ec.message());
          self->after_send();
        });
  }

  void after_send() {
    if (!spec_->expect || spec_->expect->empty()) return succeed();
    // One byte beyond `expect` tells an exact match from a longer reply.
    reply_.resize(spec_->expect->size() + 1);
    read_more();
  }

  void read_more() {
    socket_.async_read_some(asio::buffer(reply_.data() + got_, reply_.size() - got_),
                            [self = shared_from_this()](const boost::system::error_code& ec,
                                                        std::size_t n) { self->on_read(ec, n); });
  }

  void on_read(const boost::system::error_code& ec, std::size_t n) {
    if (finished()) return;
    got_ += n;
    const std::string& expect = *spec_->expect;
    const std::string_view have(reply_.data(), got_);
    const std::size_t common = std::min(have.size(), expect.size());
    if (have.substr(0, common) != std::string_view(expect).substr(0, common))
      return fail(reason::bad_response, "reply does not match expect");
    if (got_ >= expect.size()) {
      if (got_ > expect.size() && !spec_->expect_prefix)
        return fail(reason::bad_response, "reply longer than expect");
      // A byte stream has no message boundary: bytes arriving later cannot be told from a
      // next reply, so `expect.size()` matching bytes are a match.
      return succeed();
    }
    if (ec == asio::error::eof)
      return fail(reason::closed, "connection closed before a full reply");
    if (ec) return fail(classify(ec), "read: " + ec.message());
    read_more();
  }

  tcp::socket socket_;
  std::string reply_;
  std::size_t got_ = 0;
};

}  // namespace

std::shared_ptr<Probe> start_tcp(asio::io_context& io, std::shared_ptr<const CheckSpec> spec,
                                 ProbeDone done) {
  auto p = std::make_shared<TcpProbe>(io, std::move(spec), std::move(done));
  p->start();
  return p;
}

}  // namespace l4lb::health::detail
