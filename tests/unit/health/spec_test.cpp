#include "health/spec.hpp"

#include <fmt/format.h>

#include <boost/asio/error.hpp>
#include <catch2/catch.hpp>
#include <map>

#include "health/result.hpp"

using namespace l4lb;
using namespace l4lb::health;
using std::chrono::milliseconds;

namespace {
net::Address ip(const char* s) { return *net::Address::parse(s); }

config::Service service(std::vector<std::uint16_t> ports = {80, 443}) {
  config::Service s;
  s.name = "web";
  s.vip = ip("192.0.2.10");
  s.ports = std::move(ports);
  config::Backend a;
  a.address = ip("10.0.0.1");
  config::Backend b;
  b.address = ip("10.0.0.2");
  b.port = 8080;
  s.backends = {a, b};
  return s;
}
}  // namespace

TEST_CASE("check target: health.port > backend.port > first service port; health.address") {
  auto s = service();
  auto a = make_spec(s, s.backends[0]);
  REQUIRE(a);
  CHECK(a->address == ip("10.0.0.1"));
  CHECK(a->port == 80);
  CHECK(a->target() == "10.0.0.1:80");
  CHECK(make_spec(s, s.backends[1])->port == 8080);

  s.health.port = 9000;
  CHECK(make_spec(s, s.backends[0])->port == 9000);
  CHECK(make_spec(s, s.backends[1])->port == 9000);

  s.health.address = ip("10.9.9.9");
  CHECK(make_spec(s, s.backends[1])->address == ip("10.9.9.9"));
}

TEST_CASE("check target: none has no check; no port anywhere has no check") {
  auto s = service();
  s.health.type = config::HealthType::none;
  CHECK(!make_spec(s, s.backends[0]));
  CHECK(make_specs({s}).empty());
  auto p = service({});
  CHECK(!make_spec(p, p.backends[0]));
  CHECK(make_spec(p, p.backends[1])->port == 8080);
}

TEST_CASE("check target: http Host defaults to the target address, v6 bracketed") {
  auto s = service();
  s.health.type = config::HealthType::http;
  s.health.path = "/healthz";
  CHECK(make_spec(s, s.backends[0])->host == "10.0.0.1");
  CHECK(make_spec(s, s.backends[0])->path == "/healthz");
  s.backends[0].address = ip("2001:db8::5");
  CHECK(make_spec(s, s.backends[0])->host == "[2001:db8::5]");
  CHECK(make_spec(s, s.backends[0])->target() == "[2001:db8::5]:80");
  s.health.host = "example.org";
  CHECK(make_spec(s, s.backends[0])->host == "example.org");
  s.health.expect_status.clear();
  CHECK(make_spec(s, s.backends[0])->expect_status == std::vector<std::pair<int, int>>{{200, 399}});
}

TEST_CASE("check specs: one per (service, address); equal specs compare equal") {
  auto s1 = service();
  auto s2 = service();
  s2.name = "mail";
  auto specs = make_specs({s1, s2});
  CHECK(specs.size() == 4);
  CHECK(specs.contains(BackendKey{"mail", ip("10.0.0.2")}));
  auto again = make_specs({s1, s2});
  CHECK(specs == again);
  s1.health.interval = milliseconds(500);
  CHECK(make_specs({s1, s2}) != specs);
  // Backend weight is not a check parameter: changing it must not restart the check.
  s2.backends[0].weight = 7;
  CHECK(make_specs({service(), s2}) == specs);
}

TEST_CASE("start offsets: deterministic, inside the interval, spread evenly") {
  const milliseconds interval(1000);
  std::array<int, 10> buckets{};
  for (int i = 0; i < 10000; ++i) {
    const auto a =
        net::Address::parse(fmt::format("127.{}.{}.{}", 1 + i / 65536, (i / 256) % 256, i % 256));
    BackendKey k{"bench", *a};
    const auto off = start_offset(k, interval);
    REQUIRE(off >= milliseconds(0));
    REQUIRE(off < interval);
    REQUIRE(off == start_offset(k, interval));
    buckets[static_cast<std::size_t>(off.count() / 100)]++;
  }
  // 1,000 expected per 100 ms slice; a burst would put thousands into one.
  for (int n : buckets) {
    CHECK(n > 850);
    CHECK(n < 1150);
  }
  CHECK(start_offset(BackendKey{"x", ip("10.0.0.1")}, milliseconds(0)) == milliseconds(0));
  CHECK(key_hash(BackendKey{"ab", ip("10.0.0.1")}) != key_hash(BackendKey{"a", ip("10.0.0.1")}));
}

TEST_CASE("next_start keeps a fixed rate and skips missed slots without bursting") {
  const l4lb::TimePoint t0{std::chrono::seconds(100)};
  const milliseconds i(1000);
  CHECK(next_start(t0, t0 + milliseconds(3), i) == t0 + i);
  CHECK(next_start(t0, t0 + i, i) == t0 + i);
  CHECK(next_start(t0, t0 + milliseconds(1500), i) == t0 + milliseconds(2000));
  CHECK(next_start(t0, t0 + milliseconds(3000), i) == t0 + milliseconds(3000));
  CHECK(next_start(t0, t0 + milliseconds(3001), i) == t0 + milliseconds(4000));
}

TEST_CASE("healthy_count counts up backends with weight, and all of a `none` service") {
  auto s = service();
  std::map<net::Address, Status> st{{ip("10.0.0.1"), Status::up}, {ip("10.0.0.2"), Status::down}};
  auto of = [&](const net::Address& a) { return st[a]; };
  CHECK(healthy_count(s, of) == 1);
  st[ip("10.0.0.2")] = Status::up;
  CHECK(healthy_count(s, of) == 2);
  s.backends[1].weight = 0;
  CHECK(healthy_count(s, of) == 1);
  st[ip("10.0.0.1")] = Status::unknown;
  CHECK(healthy_count(s, of) == 0);
  s.health.type = config::HealthType::none;
  CHECK(healthy_count(s, of) == 1);
}

TEST_CASE("result classification and matching") {
  CHECK(classify_errno(ECONNREFUSED) == "refused");
  CHECK(classify_errno(ECONNREFUSED, true) == "icmp_unreachable");
  CHECK(classify_errno(ECONNRESET) == "reset");
  CHECK(classify_errno(ETIMEDOUT) == "timeout");
  CHECK(classify_errno(EHOSTUNREACH) == "unreachable");
  CHECK(classify_errno(ENETUNREACH) == "unreachable");
  CHECK(classify_errno(EADDRNOTAVAIL) == "bind");
  CHECK(classify_errno(EMFILE) == "socket");
  CHECK(classify(boost::asio::error::eof) == "closed");
  CHECK(classify(boost::system::error_code(ECONNRESET, boost::system::system_category())) ==
        "reset");

  CHECK(reply_matches("PONG", "PONG", false));
  CHECK(!reply_matches("PONG!", "PONG", false));
  CHECK(reply_matches("PONG!", "PONG", true));
  CHECK(!reply_matches("PON", "PONG", true));
  CHECK(!reply_matches("", "x", true));

  std::vector<std::pair<int, int>> ranges{{200, 299}, {304, 304}};
  CHECK(status_accepted(200, ranges));
  CHECK(status_accepted(304, ranges));
  CHECK(!status_accepted(301, ranges));
  CHECK(!status_accepted(500, ranges));

  auto r = ProbeResult::failure("timeout", "no answer", Micros(5));
  CHECK(r.error_text() == "timeout: no answer");
  CHECK(ProbeResult::success(Micros(1)).error_text().empty());
}

TEST_CASE("latency histogram and failure counters") {
  LatencyHistogram h;
  h.record(Micros(100));      // <= 0.5 ms
  h.record(Micros(1000));     // <= 1 ms (bounds are inclusive)
  h.record(Micros(3000000));  // +Inf
  CHECK(h.counts[0] == 1);
  CHECK(h.counts[1] == 1);
  CHECK(h.counts.back() == 1);
  CHECK(h.total() == 3);
  CHECK(h.cumulative().back() == 3);
  CHECK(h.cumulative()[1] == 2);
  CHECK(h.sum_seconds == Approx(3.0011));

  BackendHealth b;
  b.count_failure("timeout");
  b.count_failure("refused");
  b.count_failure("timeout");
  CHECK(b.failures("timeout") == 2);
  CHECK(b.failures("refused") == 1);
  CHECK(b.failures("reset") == 0);
  CHECK(b.failures_by_reason.front().first == "timeout");
}
