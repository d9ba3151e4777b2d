// TCP check: half-open (half_open.hpp) when it sends nothing and raw sockets are available,
// else connect() with optional send/expect (see probe.hpp for the contract).
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <cstring>
#include <optional>
#include <string>

#include "health/connector.hpp"
#include "health/half_open.hpp"
#include "health/probe_base.hpp"

namespace l4lb::health::detail {

namespace {

namespace asio = boost::asio;
using asio::ip::tcp;

class TcpProbe : public ProbeBase<TcpProbe> {
 public:
  TcpProbe(asio::io_context& io, const CheckSpec& spec, ProbeDone done,
           std::shared_ptr<ProbeMemory> memory)
      : ProbeBase(io, spec, std::move(done)), memory_(std::move(memory)) {}

  void start() { launch(); }

  ~TcpProbe() override {
    if (fd_ >= 0) ::close(fd_);
  }

  void begin() {
    if (half_open_wanted()) {
      auto& half_open = HalfOpen::of(io_);
      auto from = source(half_open);
      if (!from) return;
      half_open_ = half_open.start(
          spec_.address, spec_.port, *from,
          [self = shared_from_this()](HalfOpen::Outcome o, int err, Micros latency) {
            self->on_answer(o, err, latency);
          });
      if (half_open_ != 0) return resend_after(std::chrono::seconds(1));
      // Every reserved port has a probe to this destination in flight: connect instead.
    }
    auto self = shared_from_this();
    fd_ = Connector::of(io_).start(
        spec_.address, spec_.port, spec_.params->source,
        [self](int err, Connector::Stage stage) { self->on_connect(err, stage); });
    if (fd_ < 0)
      return fail_later(classify_errno(errno), std::string("socket: ") + std::strerror(errno));
  }

  void close() {
    if (half_open_ != 0) {
      HalfOpen::of(io_).forget(half_open_);
      half_open_ = 0;
      if (resend_) resend_->cancel();
    }
    // Abortive close (RST): the checker keeps no TIME_WAIT per check.
    const linger abort{1, 0};
    if (fd_ >= 0) {
      Connector::of(io_).forget(fd_);
      ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
      ::close(fd_);
      fd_ = -1;
    }
    boost::system::error_code ignored;
    if (!socket_ || !socket_->is_open()) return;
    socket_->set_option(asio::socket_base::linger(true, 0), ignored);
    socket_->close(ignored);
  }

 private:
  // Succeeds on the handshake alone: nothing to send, nothing to read.
  bool connect_only() const {
    return spec_.params->send.empty() && (!spec_.params->expect || spec_.params->expect->empty());
  }

  bool half_open_wanted() const {
    if (spec_.params->handshake == config::Handshake::full || !connect_only()) return false;
    // An IPv6 link-local address needs a scope, which the raw socket path does not carry.
    if (spec_.address.is_v6() && spec_.address.is_link_local()) return false;
    return HalfOpen::of(io_).available(spec_.address.family());
  }

  // Where the SYN comes from: the configured source, else the routed one (remembered across
  // runs). Without a route the check fails at once, like connect()'s ENETUNREACH.
  std::optional<HalfOpen::From> source(HalfOpen& half_open) {
    if (spec_.params->source) return HalfOpen::From{*spec_.params->source, true};
    if (memory_ && memory_->routed_source) return HalfOpen::From{*memory_->routed_source, false};
    int err = 0;
    auto routed = half_open.routed_source(spec_.address, err);
    if (!routed) {
      fail_later(classify_errno(err), std::string("connect: ") + std::strerror(err));
      return std::nullopt;
    }
    if (memory_) memory_->routed_source = routed;
    return HalfOpen::From{*routed, false};
  }

  // No answer: perhaps the route changed; look the source up again next time.
  void on_deadline() override {
    if (half_open_ != 0 && memory_) memory_->routed_source.reset();
    ProbeBase::on_deadline();
  }

  // Like the kernel's SYN retransmissions (1 s, then doubling) while the timeout lasts.
  void resend_after(std::chrono::milliseconds wait) {
    if (elapsed() + wait >= spec_.params->timeout) return;
    if (!resend_) resend_.emplace(io_);
    resend_->expires_after(wait);
    resend_->async_wait([self = shared_from_this(), wait](const boost::system::error_code& ec) {
      if (ec || self->finished() || self->half_open_ == 0) return;
      HalfOpen::of(self->io_).resend(self->half_open_);
      self->resend_after(wait * 2);
    });
  }

  void on_answer(HalfOpen::Outcome outcome, int err, Micros latency) {
    half_open_ = 0;
    if (finished()) return;
    switch (outcome) {
      case HalfOpen::Outcome::open:
        return succeed(latency);
      case HalfOpen::Outcome::refused:
        return fail(reason::refused, "connect: Connection refused (RST to our SYN)", latency);
      case HalfOpen::Outcome::bad_source:
        return fail(reason::bind,
                    "bind " + spec_.params->source->to_string() + ": " + std::strerror(err));
      case HalfOpen::Outcome::error:
        if (memory_) memory_->routed_source.reset();
        return fail(classify_errno(err), std::string("send SYN: ") + std::strerror(err));
    }
  }

  void on_connect(int err, Connector::Stage stage) {
    if (finished()) return;
    if (err != 0 && stage == Connector::Stage::bind)
      return fail(reason::bind,
                  "bind " + spec_.params->source->to_string() + ": " + std::strerror(err));
    if (err != 0) return fail(classify_errno(err), std::string("connect: ") + std::strerror(err));
    if (connect_only()) return succeed();
    // Further I/O goes through Asio; the socket takes the descriptor over.
    boost::system::error_code ec;
    socket_.emplace(io_);
    socket_->assign(spec_.address.is_v4() ? tcp::v4() : tcp::v6(), fd_, ec);
    if (ec) return fail(classify(ec), "assign: " + ec.message());
    fd_ = -1;
    if (spec_.params->send.empty()) return after_send();
    asio::async_write(
        *socket_, asio::buffer(spec_.params->send),
        [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
          if (self->finished()) return;
          if (ec) return self->fail(classify(ec), "send: " + ec.message());
          self->after_send();
        });
  }

  void after_send() {
    if (!spec_.params->expect || spec_.params->expect->empty()) return succeed();
    // One byte beyond `expect` tells an exact match from a longer reply.
    reply_.resize(spec_.params->expect->size() + 1);
    read_more();
  }

  void read_more() {
    socket_->async_read_some(asio::buffer(reply_.data() + got_, reply_.size() - got_),
                             [self = shared_from_this()](const boost::system::error_code& ec,
                                                         std::size_t n) { self->on_read(ec, n); });
  }

  void on_read(const boost::system::error_code& ec, std::size_t n) {
    if (finished()) return;
    got_ += n;
    const std::string& expect = *spec_.params->expect;
    const std::string_view have(reply_.data(), got_);
    const std::size_t common = std::min(have.size(), expect.size());
    if (have.substr(0, common) != std::string_view(expect).substr(0, common))
      return fail(reason::bad_response, "reply does not match expect");
    if (got_ >= expect.size()) {
      if (got_ > expect.size() && !spec_.params->expect_prefix)
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

  std::shared_ptr<ProbeMemory> memory_;
  std::uint64_t half_open_ = 0;  // the HalfOpen probe in flight
  // Built only when needed: most checks never retransmit, and connect-only and half-open
  // checks never hand their descriptor to Asio.
  std::optional<asio::steady_timer> resend_;
  int fd_ = -1;  // while connecting, and for connect-only checks
  std::optional<tcp::socket> socket_;
  std::string reply_;
  std::size_t got_ = 0;
};

}  // namespace

std::shared_ptr<Probe> start_tcp(asio::io_context& io, const CheckSpec& spec, ProbeDone done,
                                 std::shared_ptr<ProbeMemory> memory) {
  auto p = std::make_shared<TcpProbe>(io, spec, std::move(done), std::move(memory));
  p->start();
  return p;
}

}  // namespace l4lb::health::detail
