#include "health/spec.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <boost/asio/error.hpp>
#include <catch2/catch.hpp>
#include <cerrno>
#include <map>
#include <numeric>
#include <random>
#include <stdexcept>
#include <type_traits>

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

TEST_CASE("check target: health.port > backend.port > the service port; health.address") {
  auto s = service();
  auto a = make_spec(s, 80, s.backends[0]);
  REQUIRE(a);
  CHECK(a->address == ip("10.0.0.1"));
  CHECK(a->port == 80);
  CHECK(a->target() == "10.0.0.1:80");
  CHECK(make_spec(s, 443, s.backends[0])->port == 443);
  CHECK(make_spec(s, 80, s.backends[1])->port == 8080);

  s.health.edit().port = 9000;
  CHECK(make_spec(s, 80, s.backends[0])->port == 9000);
  CHECK(make_spec(s, 443, s.backends[0])->port == 9000);
  CHECK(make_spec(s, 80, s.backends[1])->port == 9000);

  s.health.edit().address = ip("10.9.9.9");
  CHECK(make_spec(s, 80, s.backends[1])->address == ip("10.9.9.9"));
}

TEST_CASE("check specs: one per service x port x backend by default") {
  auto s = service({389, 636, 3268});
  s.backends[1].port.reset();
  CHECK_FALSE(shares_check(s));
  auto specs = make_specs({s});
  REQUIRE(specs.size() == 6);
  for (std::uint16_t port : {389, 636, 3268})
    for (const auto& b : s.backends) {
      const BackendKey key{"web", port, b.address};
      CHECK(check_key(s, port, b) == key);
      REQUIRE(specs.contains(key));
      CHECK(specs.at(key).port == port);
      CHECK(specs.at(key).address == b.address);
    }
}

TEST_CASE("check specs: health.port or per_port: false share one check for all ports") {
  auto s = service({389, 636});
  s.backends[1].port.reset();
  s.health.edit().port = 9000;
  CHECK(shares_check(s));
  CHECK_FALSE(shares_check_by_size(s));
  auto specs = make_specs({s});
  REQUIRE(specs.size() == 2);
  const BackendKey key{"web", 0, ip("10.0.0.1")};
  CHECK(check_key(s, 389, s.backends[0]) == key);
  CHECK(check_key(s, 636, s.backends[0]) == key);
  CHECK(specs.at(key).port == 9000);

  s.health.edit().port.reset();
  s.health.edit().per_port = false;
  specs = make_specs({s});
  REQUIRE(specs.size() == 2);
  CHECK(specs.at(key).port == 389);  // the first port stands for all
  CHECK(make_spec(s, 636, s.backends[0])->port == 389);
}

TEST_CASE("check specs: more than kMaxPerPortChecks ports share unless per_port: true") {
  std::vector<std::uint16_t> ports;
  for (std::uint16_t p = 30000; p < 30000 + kMaxPerPortChecks; ++p) ports.push_back(p);
  auto s = service(ports);
  s.backends[1].port.reset();
  CHECK(make_specs({s}).size() == 2 * kMaxPerPortChecks);
  s.ports.push_back(40000);
  CHECK(shares_check(s));
  CHECK(shares_check_by_size(s));
  auto specs = make_specs({s});
  REQUIRE(specs.size() == 2);
  CHECK(specs.at(BackendKey{"web", 0, ip("10.0.0.2")}).port == 30000);
  s.health.edit().per_port = true;
  CHECK_FALSE(shares_check(s));
  CHECK_FALSE(shares_check_by_size(s));
  CHECK(make_specs({s}).size() == 2 * (kMaxPerPortChecks + 1));
}

TEST_CASE("check specs: a mapped backend port is checked, and keyed, on its own port") {
  auto s = service({80});
  config::Backend twin;  // the same host again, on another port
  twin.address = ip("10.0.0.2");
  twin.port = 8081;
  s.backends.push_back(twin);
  auto specs = make_specs({s});
  REQUIRE(specs.size() == 3);
  CHECK(check_key(s, 80, s.backends[1]) == BackendKey{"web", 8080, ip("10.0.0.2")});
  CHECK(specs.at(BackendKey{"web", 8080, ip("10.0.0.2")}).port == 8080);
  CHECK(specs.at(BackendKey{"web", 8081, ip("10.0.0.2")}).port == 8081);
  CHECK(specs.at(BackendKey{"web", 80, ip("10.0.0.1")}).port == 80);
}

TEST_CASE(
    "check specs: in key order whatever the services' order; a repeated key keeps its first "
    "entry") {
  auto web = service();
  auto api = service({8443});
  api.name = "api";
  // The same address twice under a shared check (per_port: false): one key, with the first
  // entry's target (the second maps port 7000). The backends are also out of address order.
  auto db = service({5432});
  db.name = "db";
  db.health.edit().per_port = false;
  config::Backend first, again, low;
  first.address = ip("10.0.0.9");
  again.address = ip("10.0.0.9");
  again.port = 7000;
  low.address = ip("10.0.0.1");
  db.backends = {first, again, low};
  const auto specs = make_specs({web, db, api});
  std::vector<BackendKey> keys;
  for (const auto& [key, spec] : specs) keys.push_back(key);
  CHECK(std::is_sorted(keys.begin(), keys.end()));
  CHECK(std::adjacent_find(keys.begin(), keys.end()) == keys.end());
  CHECK(keys.size() == 1 + 2 + 4);  // api: 1 x 1; db: 2 distinct addresses; web: 2 x 2
  CHECK(keys.front().service == "api");
  CHECK(specs.contains(BackendKey{"db", 0, ip("10.0.0.1")}));
  CHECK(specs.at(BackendKey{"db", 0, ip("10.0.0.9")}).port == 5432);
  CHECK_FALSE(specs.contains(BackendKey{"db", 5432, ip("10.0.0.9")}));
  CHECK(specs.find(BackendKey{"nope", 0, ip("10.0.0.9")}) == nullptr);
  CHECK_THROWS_AS(specs.at(BackendKey{"nope", 0, ip("10.0.0.9")}), std::out_of_range);
  // The same services in another order: the same specs.
  CHECK(make_specs({api, db, web}) == specs);
}

TEST_CASE("check target: none has no check; no port anywhere has no check") {
  auto s = service();
  s.health.edit().type = config::HealthType::none;
  CHECK(!make_spec(s, 80, s.backends[0]));
  CHECK(make_specs({s}).empty());
  auto p = service({});
  CHECK(!make_spec(p, 0, p.backends[0]));
  CHECK(make_spec(p, 0, p.backends[1])->port == 8080);
  CHECK(make_specs({p}).empty());
}

TEST_CASE("check target: http Host defaults to the target address, v6 bracketed") {
  auto s = service();
  s.health.edit().type = config::HealthType::http;
  s.health.edit().path = "/healthz";
  CHECK(make_spec(s, 80, s.backends[0])->http_host() == "10.0.0.1");
  CHECK(make_spec(s, 80, s.backends[0])->params->path == "/healthz");
  s.backends[0].address = ip("2001:db8::5");
  CHECK(make_spec(s, 80, s.backends[0])->http_host() == "[2001:db8::5]");
  CHECK(make_spec(s, 80, s.backends[0])->target() == "[2001:db8::5]:80");
  s.health.edit().host = "example.org";
  CHECK(make_spec(s, 80, s.backends[0])->http_host() == "example.org");
  s.health.edit().expect_status.clear();
  CHECK(make_spec(s, 80, s.backends[0])->params->expect_status ==
        std::vector<std::pair<int, int>>{{200, 399}});
}

TEST_CASE("check specs: equal specs compare equal; weight is not a check parameter") {
  auto s1 = service();
  auto s2 = service();
  s2.name = "mail";
  auto specs = make_specs({s1, s2});
  // 10.0.0.1 on 80 and 443; 10.0.0.2 mapped to 8080 (one check) -- per service.
  CHECK(specs.size() == 6);
  CHECK(specs.contains(BackendKey{"mail", 8080, ip("10.0.0.2")}));
  CHECK(specs.contains(BackendKey{"mail", 443, ip("10.0.0.1")}));
  auto again = make_specs({s1, s2});
  CHECK(specs == again);
  s1.health.edit().interval = milliseconds(500);
  CHECK(make_specs({s1, s2}) != specs);
  // Backend weight is not a check parameter: changing it must not restart the check.
  s2.backends[0].weight = 7;
  CHECK(make_specs({service(), s2}) == specs);
}

TEST_CASE("check specs: the parameters are held once per service, and once for equal services") {
  auto web = service();
  auto mail = service();
  mail.name = "mail";
  auto db = service({5432});
  db.name = "db";
  db.health.edit().timeout = milliseconds(300);
  const auto specs = make_specs({web, mail, db});
  const auto& first = specs.at(BackendKey{"web", 80, ip("10.0.0.1")}).params;
  REQUIRE(first);
  // Every check of web and mail (equal health settings, in a row) points at one CheckParams.
  for (const auto& [key, spec] : specs) {
    if (key.service == "db") continue;
    CHECK(spec.params == first);
  }
  const auto& other = specs.at(BackendKey{"db", 5432, ip("10.0.0.1")}).params;
  CHECK(other != first);
  CHECK(other->timeout == milliseconds(300));
  CHECK(specs.at(BackendKey{"db", 8080, ip("10.0.0.2")}).params == other);

  // Equality is by value: specs from another make_specs (other pointers) compare equal, and a
  // parameter change is a change of every check of the service, not of the others.
  const auto again = make_specs({web, mail, db});
  CHECK(again.at(BackendKey{"web", 80, ip("10.0.0.1")}).params != first);
  CHECK(diff_specs(specs, again).empty());
  mail.health.edit().send = "PING";
  const auto changes = diff_specs(specs, make_specs({web, mail, db}));
  CHECK(changes.removed.empty());
  CHECK(changes.added.empty());
  REQUIRE(changes.changed.size() == 3);
  for (const auto& [key, spec] : changes.changed) {
    CHECK(key.service == "mail");
    CHECK(spec.params->send == "PING");
  }
}

TEST_CASE("start offsets: deterministic, inside the interval, spread evenly") {
  const milliseconds interval(1000);
  std::array<int, 10> buckets{};
  for (int i = 0; i < 10000; ++i) {
    const auto a =
        net::Address::parse(fmt::format("127.{}.{}.{}", 1 + i / 65536, (i / 256) % 256, i % 256));
    BackendKey k{"bench", 80, *a};
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
  CHECK(start_offset(BackendKey{"x", 80, ip("10.0.0.1")}, milliseconds(0)) == milliseconds(0));
  CHECK(key_hash(BackendKey{"ab", 80, ip("10.0.0.1")}) !=
        key_hash(BackendKey{"a", 80, ip("10.0.0.1")}));
  // The ports of one backend start apart, not in one burst.
  CHECK(key_hash(BackendKey{"x", 389, ip("10.0.0.1")}) !=
        key_hash(BackendKey{"x", 636, ip("10.0.0.1")}));
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

TEST_CASE("result classification and matching") {
  CHECK(classify_errno(ECONNREFUSED) == "refused");
  CHECK(classify_errno(ECONNREFUSED, true) == "icmp_unreachable");
  CHECK(classify_errno(ECONNRESET) == "reset");
  CHECK(classify_errno(ETIMEDOUT) == "timeout");
  CHECK(classify_errno(EHOSTUNREACH) == "unreachable");
  CHECK(classify_errno(ENETUNREACH) == "unreachable");
  CHECK(classify_errno(EADDRNOTAVAIL) == "bind");
  // Our own resources running out says nothing about the backend (Monitor holds its state).
  for (int err : {EMFILE, ENFILE, ENOBUFS, ENOMEM}) CHECK(classify_errno(err) == "local_resources");
  CHECK(classify_errno(EPERM) == "socket");
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
  std::vector<std::pair<std::string, std::uint64_t>> seen;
  b.for_each_failure([&](std::string_view r, std::uint64_t n) { seen.emplace_back(r, n); });
  // In order of first occurrence, not of kFailureReasons (the status document's key order).
  CHECK(seen == std::vector<std::pair<std::string, std::uint64_t>>{{"timeout", 2}, {"refused", 1}});
}

TEST_CASE("health record: failure reasons are the closed set of health::reason") {
  for (auto r :
       {reason::refused, reason::timeout, reason::reset, reason::closed, reason::unreachable,
        reason::icmp_unreachable, reason::bad_response, reason::http_status, reason::too_large,
        reason::bind, reason::socket, reason::local_resources})
    CHECK(kFailureReasons[failure_reason_index(r)] == r);
  // Whatever classify() can return is in the set too.
  for (int err : {ECONNREFUSED, ETIMEDOUT, ECONNRESET, EHOSTUNREACH, ENETUNREACH, EMFILE,
                  EADDRNOTAVAIL, EPIPE, EINVAL, 0})
    for (bool udp : {false, true}) {
      INFO(err << " udp " << udp);
      CHECK(kFailureReasons[failure_reason_index(classify_errno(err, udp))] ==
            classify_errno(err, udp));
    }
  CHECK(kFailureReasons[failure_reason_index("no such reason")] == "socket");
}

TEST_CASE("health record: successes, errors and latency derived from the compact fields") {
  BackendHealth b;
  CHECK(b.checks() == 0);
  CHECK(b.successes() == 0);
  CHECK(!b.last_latency());
  CHECK(b.last_error().empty());
  CHECK(!b.has_failures());

  b.latency.record(Micros(1500));
  b.note_success(Micros(1500));
  CHECK(b.checks() == 1);
  CHECK(b.successes() == 1);
  CHECK(b.last_latency() == Micros(1500));
  CHECK(!b.has_failures());

  b.latency.record(Micros(1000000));
  b.note_failure("timeout", "timeout: no answer within 1000ms");
  CHECK(b.checks() == 2);
  CHECK(b.successes() == 1);
  CHECK(b.failures("timeout") == 1);
  CHECK(b.last_error() == "timeout: no answer within 1000ms");
  CHECK(b.last_latency() == Micros(1500));  // of the last success

  // A copy (copy on write) owns its failure log: changing one leaves the other as it was.
  BackendHealth copy = b;
  copy.latency.record(Micros(200));
  copy.note_success(Micros(200));
  CHECK(copy.last_error().empty());
  CHECK(copy.failures("timeout") == 1);
  CHECK(b.last_error() == "timeout: no answer within 1000ms");
  copy.note_failure("refused", "refused: connection refused");
  CHECK(b.failures("refused") == 0);
  b = copy;
  CHECK(b.failures("refused") == 1);
  CHECK(b.last_error() == "refused: connection refused");

  // Latencies past 32 bits of microseconds saturate instead of wrapping.
  b.note_success(std::chrono::hours(2));
  CHECK(b.last_latency() == Micros(UINT32_MAX - 1));
  b.note_success(Micros(-5));
  CHECK(b.last_latency() == Micros(0));
}

TEST_CASE("diff_specs: removed, added and changed keys, in key order, from one pass") {
  auto a = service();
  auto b = service();
  b.name = "api";
  const auto from = make_specs({a, b});
  // `web` loses 10.0.0.2, gains 10.0.0.3 and has its interval changed; `api` is unchanged;
  // `db` is new.
  auto a2 = a;
  a2.backends.pop_back();
  config::Backend c;
  c.address = ip("10.0.0.3");
  a2.backends.push_back(c);
  a2.health.edit().interval = milliseconds(5000);
  auto d = service({5432});
  d.name = "db";
  const auto to = make_specs({a2, b, d});
  const auto changes = diff_specs(from, to);

  std::vector<BackendKey> removed(changes.removed), added, changed;
  for (const auto& [k, s] : changes.added) added.push_back(k);
  for (const auto& [k, s] : changes.changed) changed.push_back(k);
  // 10.0.0.2 has a mapped port (8080): one check, keyed on it, for both service ports.
  CHECK(removed == std::vector<BackendKey>{check_key(a, 80, a.backends[1])});
  // make_specs order is key order: service name, then port, then address.
  CHECK(added == std::vector<BackendKey>{check_key(d, 5432, d.backends[0]),
                                         check_key(d, 5432, d.backends[1]), check_key(a2, 80, c),
                                         check_key(a2, 443, c)});
  CHECK(changed == std::vector<BackendKey>{check_key(a2, 80, a2.backends[0]),
                                           check_key(a2, 443, a2.backends[0])});
  CHECK(changes.size() == 7);

  // Applying the difference to `from` gives `to`, whatever was in it.
  std::map<BackendKey, CheckSpec> applied(from.begin(), from.end());
  for (const auto& k : changes.removed) applied.erase(k);
  for (const auto& [k, s] : changes.added) applied.emplace(k, s);
  for (const auto& [k, s] : changes.changed) applied.insert_or_assign(k, s);
  CHECK(std::equal(
      applied.begin(), applied.end(), to.begin(), to.end(),
      [](const auto& x, const auto& y) { return x.first == y.first && x.second == y.second; }));
  CHECK(diff_specs(to, to).empty());
  CHECK(diff_specs({}, to).added.size() == to.size());
  CHECK(diff_specs(to, {}).removed.size() == to.size());
}

TEST_CASE("diff_checks gives what diff_specs of both configs' make_specs gives") {
  std::mt19937 rng(20261201);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  auto random_service = [&](int id) {
    config::Service s;
    s.name = fmt::format("svc-{:02}", id);
    s.vip = ip("192.0.2.10");
    for (int p = 0, n = 1 + pick(3); p < n; ++p)
      s.ports.push_back(static_cast<std::uint16_t>(80 + pick(4)));
    std::sort(s.ports.begin(), s.ports.end());
    s.ports.erase(std::unique(s.ports.begin(), s.ports.end()), s.ports.end());
    for (int k = 0, n = pick(5); k < n; ++k) {
      config::Backend b;
      b.address = ip(fmt::format("10.0.0.{}", 1 + pick(6)).c_str());  // repeats happen
      if (pick(3) == 0) b.port = static_cast<std::uint16_t>(8000 + pick(3));
      s.backends.push_back(b);
    }
    switch (pick(6)) {
      case 0:
        s.health.edit().type = config::HealthType::none;
        break;
      case 1:
        s.health.edit().per_port = false;
        break;
      case 2:
        s.health.edit().interval = milliseconds(500 * (1 + pick(3)));
        break;
      case 3:
        s.health.edit().port = static_cast<std::uint16_t>(9000 + pick(2));
        break;
      default:
        break;
    }
    return s;
  };
  auto random_config = [&] {
    std::vector<config::Service> services;
    std::vector<int> ids(30);
    std::iota(ids.begin(), ids.end(), 0);
    std::shuffle(ids.begin(), ids.end(), rng);  // not in name order
    for (int id : ids)
      if (pick(3) != 0) services.push_back(random_service(id));
    return services;
  };
  auto keys = [](const auto& list) {
    std::vector<BackendKey> out;
    for (const auto& e : list) {
      if constexpr (std::is_same_v<std::decay_t<decltype(e)>, BackendKey>)
        out.push_back(e);
      else
        out.push_back(e.first);
    }
    return out;
  };
  for (int round = 0; round < 300; ++round) {
    INFO("round " << round);
    const auto from = random_config();
    // The next config: mostly the same services, some changed, some gone, some new.
    auto to = pick(4) == 0 ? random_config() : from;
    for (auto& s : to)
      if (pick(4) == 0) s = random_service(std::stoi(s.name.substr(4)));
    if (!to.empty() && pick(2) == 0) to.erase(to.begin() + pick(static_cast<int>(to.size())));
    const auto want = diff_specs(make_specs(from), make_specs(to));
    const auto got = diff_checks(from, to);
    CHECK(keys(got.removed) == keys(want.removed));
    CHECK(keys(got.added) == keys(want.added));
    CHECK(keys(got.changed) == keys(want.changed));
    for (std::size_t i = 0; i < std::min(got.added.size(), want.added.size()); ++i)
      CHECK(got.added[i].second == want.added[i].second);
    for (std::size_t i = 0; i < std::min(got.changed.size(), want.changed.size()); ++i)
      CHECK(got.changed[i].second == want.changed[i].second);
  }
}
