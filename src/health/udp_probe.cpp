// UDP request/reply check, and the weak "no ICMP error" check (see probe.hpp).
#include <algorithm>
#include <boost/asio/ip/udp.hpp>
#include <string>

#include "health/probe_base.hpp"

namespace l4lb::health::detail {

namespace {

namespace asio = boost::asio;
using asio::ip::udp;

class UdpProbe : public ProbeBase<UdpProbe> {
 public:
  UdpProbe(asio::io_context& io, const CheckSpec& spec, ProbeDone done)
      : ProbeBase(io, spec, std::move(done)), socket_(io) {}

  void start() { launch(); }

  void begin() {
    const udp::endpoint peer(to_asio(spec_.address), spec_.port);
    boost::system::error_code ec;
    socket_.open(peer.protocol(), ec);
    if (ec) return fail_later(classify(ec, true), "socket: " + ec.message());
    if (spec_.params->source) {
      socket_.bind(udp::endpoint(to_asio(*spec_.params->source), 0), ec);
      if (ec)
        return fail_later(reason::bind,
                          "bind " + spec_.params->source->to_string() + ": " + ec.message());
    }
    // Connecting a UDP socket only records the peer (no packet, no blocking); it is what
    // makes the kernel report the peer's ICMP port unreachable to us as ECONNREFUSED.
    socket_.connect(peer, ec);
    if (ec) return fail_later(classify(ec, true), "connect: " + ec.message());
    // One byte beyond `expect` tells an exact match from a longer datagram.
    reply_.resize(
        std::max<std::size_t>(spec_.params->expect ? spec_.params->expect->size() + 1 : 0, 512));
    socket_.async_send(
        asio::buffer(spec_.params->send),
        [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
          if (self->finished()) return;
          if (ec) return self->fail(classify(ec, true), "send: " + ec.message());
          self->receive();
        });
  }

  void close() {
    boost::system::error_code ignored;
    socket_.close(ignored);
  }

 protected:
  void on_deadline() override {
    if (spec_.params->expect) {
      return fail(reason::timeout,
                  "no reply within " + std::to_string(spec_.params->timeout.count()) + "ms");
    }
    succeed();  // the weak check: silence is taken for "port open"
  }

 private:
  void receive() {
    socket_.async_receive(asio::buffer(reply_),
                          [self = shared_from_this()](const boost::system::error_code& ec,
                                                      std::size_t n) { self->on_reply(ec, n); });
  }

  void on_reply(const boost::system::error_code& ec, std::size_t n) {
    if (finished()) return;
    if (ec) return fail(classify(ec, true), "receive: " + ec.message());
    if (!spec_.params->expect) return succeed();
    if (!reply_matches(std::string_view(reply_.data(), n), *spec_.params->expect,
                       spec_.params->expect_prefix))
      return fail(reason::bad_response, "reply does not match expect");
    succeed();
  }

  udp::socket socket_;
  std::string reply_;
};

}  // namespace

std::shared_ptr<Probe> start_udp(asio::io_context& io, const CheckSpec& spec, ProbeDone done) {
  auto p = std::make_shared<UdpProbe>(io, spec, std::move(done));
  p->start();
  return p;
}

}  // namespace l4lb::health::detail
