// The real probes against loopback servers this test starts itself.
#include "health/probe.hpp"

#include <catch2/catch.hpp>
#include <optional>

#include "servers.hpp"

using namespace l4lb;
using namespace l4lb::health;
using namespace l4lb::health::testing;
using std::chrono::milliseconds;
using HT = config::HealthType;

namespace {

// The parameters and the target in one value the cases can edit field by field.
struct Spec : CheckParams {
  net::Address address;
  std::uint16_t port = 0;
  CheckSpec resolved() const {
    return CheckSpec{address, port, std::make_shared<const CheckParams>(*this)};
  }
};

Spec spec(HT type, std::uint16_t port, milliseconds timeout = milliseconds(2000)) {
  Spec s;
  s.type = type;
  s.address = *net::Address::parse("127.0.0.1");
  s.port = port;
  s.timeout = timeout;
  if (type == HT::http) s.host = "127.0.0.1";
  return s;
}

ProbeResult probe(asio::io_context& io, const Spec& s) {
  std::optional<ProbeResult> result;
  int calls = 0;
  auto p = start_probe(io, s.resolved(), [&](const ProbeResult& r) {
    ++calls;
    result = r;
  });
  REQUIRE(calls == 0);  // never completes from inside start_probe
  REQUIRE(run_until(io, [&] { return result.has_value(); }));
  // Let anything still queued run: the callback must not fire twice.
  for (int i = 0; i < 5; ++i) io.poll();
  REQUIRE(calls == 1);
  return *result;
}

}  // namespace

TEST_CASE("tcp: accepting listener is up, refused port fails as refused") {
  asio::io_context io;
  TcpServer server(io);
  auto ok = probe(io, spec(HT::tcp, server.port()));
  CHECK(ok.ok);
  CHECK(ok.reason.empty());

  auto refused = probe(io, spec(HT::tcp, closed_tcp_port()));
  CHECK(!refused.ok);
  CHECK(refused.reason == "refused");
}

TEST_CASE("tcp: black-holed SYNs fail by timeout") {
  asio::io_context io;
  BlackHole hole(io);
  auto r = probe(io, spec(HT::tcp, hole.port(), milliseconds(300)));
  CHECK(!r.ok);
  CHECK(r.reason == "timeout");
}

TEST_CASE("tcp: send/expect exact, prefix, mismatch, early close, silence") {
  asio::io_context io;
  TcpServer pong(
      io, [](std::size_t) { return std::string("PONG\r\n"); }, 4);
  auto s = spec(HT::tcp, pong.port());
  s.send = "PING";
  s.expect = "PONG\r\n";
  CHECK(probe(io, s).ok);

  s.expect = "PONG";
  s.expect_prefix = true;
  CHECK(probe(io, s).ok);

  s.expect_prefix = false;
  auto longer = probe(io, s);  // the reply is longer than expect
  CHECK(!longer.ok);
  CHECK(longer.reason == "bad_response");

  s.expect = "PANG";
  CHECK(probe(io, s).reason == "bad_response");

  TcpServer silent(io, {}, 4);  // reads, never answers
  auto q = spec(HT::tcp, silent.port(), milliseconds(300));
  q.send = "PING";
  q.expect = "PONG";
  CHECK(probe(io, q).reason == "timeout");
}

TEST_CASE("tcp: connection closed before the full reply") {
  asio::io_context io;
  tcp::acceptor acc(io, tcp::endpoint(kLoopback, 0));
  acc.async_accept([](boost::system::error_code, tcp::socket s) {
    boost::system::error_code ec;
    asio::write(s, asio::buffer("PO", 2), ec);
    s.shutdown(tcp::socket::shutdown_send, ec);  // FIN after two bytes
  });
  auto s = spec(HT::tcp, acc.local_endpoint().port());
  s.expect = "PONG";
  auto r = probe(io, s);
  CHECK(!r.ok);
  CHECK(r.reason == "closed");
}

TEST_CASE("tcp: unusable source address fails as bind, a local one works") {
  asio::io_context io;
  TcpServer server(io);
  auto s = spec(HT::tcp, server.port());
  s.source = *net::Address::parse("192.0.2.77");  // TEST-NET, not on this host
  auto r = probe(io, s);
  CHECK(!r.ok);
  CHECK(r.reason == "bind");
  s.source = *net::Address::parse("127.0.0.2");
  CHECK(probe(io, s).ok);
}

TEST_CASE("udp: echo with exact and prefix expect") {
  asio::io_context io;
  UdpServer echo(io, true, "re:");
  auto s = spec(HT::udp, echo.port());
  s.send = "ping";
  s.expect = "re:ping";
  CHECK(probe(io, s).ok);
  s.expect = "re:";
  CHECK(probe(io, s).reason == "bad_response");
  s.expect_prefix = true;
  CHECK(probe(io, s).ok);
  CHECK(echo.received() == 3);
}

TEST_CASE("udp: silent port fails with expect, passes the weak check") {
  asio::io_context io;
  UdpServer silent(io, false);
  auto s = spec(HT::udp, silent.port(), milliseconds(200));
  s.send = "ping";
  s.expect = "pong";
  CHECK(probe(io, s).reason == "timeout");
  s.expect.reset();
  CHECK(probe(io, s).ok);  // the weak check cannot tell silence from life
}

TEST_CASE("udp: closed port fails as icmp_unreachable in both modes") {
  asio::io_context io;
  auto s = spec(HT::udp, closed_udp_port(), milliseconds(1000));
  s.send = "ping";
  s.expect = "pong";
  auto r = probe(io, s);
  CHECK(!r.ok);
  CHECK(r.reason == "icmp_unreachable");
  s.expect.reset();
  auto weak = probe(io, s);
  CHECK(!weak.ok);
  CHECK(weak.reason == "icmp_unreachable");
}

TEST_CASE("http: 200 is up and the request carries path and Host") {
  asio::io_context io;
  HttpServer server(io, HttpServer::Mode::ok);
  auto s = spec(HT::http, server.port());
  s.path = "/healthz?x=1";
  s.host = "svc.example";
  auto r = probe(io, s);
  CHECK(r.ok);
  CHECK(server.last_request().rfind("GET /healthz?x=1 HTTP/1.1\r\n", 0) == 0);
  CHECK(server.last_request().find("\r\nHost: svc.example\r\n") != std::string::npos);

  s.expect = "hello";
  CHECK(probe(io, s).ok);
  s.expect = "bye";
  CHECK(probe(io, s).reason == "bad_response");
}

TEST_CASE("http: 500 fails as http_status unless accepted") {
  asio::io_context io;
  HttpServer server(io, HttpServer::Mode::error500);
  auto s = spec(HT::http, server.port());
  auto r = probe(io, s);
  CHECK(!r.ok);
  CHECK(r.reason == "http_status");
  CHECK(r.detail == "status 500");
  s.expect_status = {{200, 299}, {500, 500}};
  CHECK(probe(io, s).ok);
}

TEST_CASE("http: slow body fails by timeout, not a hang") {
  asio::io_context io;
  HttpServer server(io, HttpServer::Mode::slow_body);
  auto r = probe(io, spec(HT::http, server.port(), milliseconds(300)));
  CHECK(!r.ok);
  CHECK(r.reason == "timeout");
}

TEST_CASE("http: endless body and huge header fail as too_large with bounded reading") {
  asio::io_context io;
  HttpServer endless(io, HttpServer::Mode::endless_body);
  auto s = spec(HT::http, endless.port(), milliseconds(10000));
  s.max_response_bytes = 64 * 1024;
  auto r = probe(io, s);
  CHECK(!r.ok);
  CHECK(r.reason == "too_large");

  HttpServer huge(io, HttpServer::Mode::huge_header);
  auto h = probe(io, spec(HT::http, huge.port()));
  CHECK(!h.ok);
  CHECK(h.reason == "too_large");
}

TEST_CASE("http: a non-HTTP answer is bad_response; refused is refused") {
  asio::io_context io;
  HttpServer garbage(io, HttpServer::Mode::garbage);
  auto r = probe(io, spec(HT::http, garbage.port()));
  CHECK(!r.ok);
  CHECK(r.reason == "bad_response");
  CHECK(probe(io, spec(HT::http, closed_tcp_port())).reason == "refused");
}

TEST_CASE("cancel: the callback never runs afterwards, even with completions queued") {
  asio::io_context io;
  TcpServer server(io);
  BlackHole hole(io);
  for (auto port : {server.port(), hole.port(), closed_tcp_port()}) {
    for (auto type : {HT::tcp, HT::http, HT::udp}) {
      int calls = 0;
      auto p = start_probe(io, spec(type, port, milliseconds(50)).resolved(),
                           [&](const ProbeResult&) { ++calls; });
      io.poll();  // may complete (refused is immediate) or leave completions queued
      const int before = calls;
      p->cancel();
      p.reset();
      io.run_for(milliseconds(100));
      io.restart();
      CHECK(calls == before);
      CHECK(calls <= 1);
    }
  }
}
