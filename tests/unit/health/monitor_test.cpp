// The Monitor driving real probes against loopback servers.
#include "health/monitor.hpp"

#include <fmt/format.h>

#include <catch2/catch.hpp>

#include "health/quorum.hpp"
#include "servers.hpp"

using namespace l4lb;
using namespace l4lb::health;
using namespace l4lb::health::testing;
using std::chrono::milliseconds;

namespace {

config::Service service(const std::string& name, std::vector<std::uint16_t> backend_ports) {
  config::Service s;
  s.name = name;
  s.vip = *net::Address::parse("192.0.2.1");
  s.ports = {80};
  s.health.edit().interval = milliseconds(20);
  s.health.edit().timeout = milliseconds(1000);
  s.health.edit().rise = 3;
  s.health.edit().fall = 2;
  // Distinct loopback addresses, so that the tests need not rely on the port in the key.
  int i = 1;
  for (auto port : backend_ports) {
    config::Backend b;
    b.address = *net::Address::parse("127.0.0." + std::to_string(i++));
    b.port = port;
    s.backends.push_back(b);
  }
  return s;
}

struct Event {
  BackendKey key;
  Status status;
  std::uint64_t checks;  // completed checks of that backend when the transition happened
};

}  // namespace

TEST_CASE("monitor: a flapping backend changes status exactly as rise/fall say") {
  const std::string script = "1100101110000111010001111011000";
  asio::io_context io;
  TcpServer server(
      io, [&](std::size_t n) { return n < script.size() && script[n] == '0' ? "NO" : "OK"; }, 1);
  auto svc = service("flap", {server.port()});
  svc.backends[0].address = *net::Address::parse("127.0.0.1");
  svc.health.edit().send = "?";
  svc.health.edit().expect = "OK";

  std::vector<Event> events;
  Monitor* mp = nullptr;
  Monitor m(io, [&](const BackendKey& k, Status s) {
    events.push_back({k, s, mp->get(k)->checks()});
  });
  mp = &m;
  m.apply({svc});
  const BackendKey key = check_key(svc, 80, svc.backends[0]);
  REQUIRE(run_until(io, [&] { return m.get(key)->checks() >= script.size(); }));

  std::vector<Event> want;
  Streak st;
  for (std::size_t i = 0; i < script.size(); ++i) {
    if (auto c = apply_result(st, script[i] == '1', 3, 2)) want.push_back({key, *c, i + 1});
  }
  REQUIRE(events.size() >= want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    INFO("transition " << i);
    CHECK(events[i].key == key);
    CHECK(events[i].status == want[i].status);
    CHECK(events[i].checks == want[i].checks);
  }
  auto h = *m.get(key);
  CHECK(h.failures("bad_response") > 0);
  CHECK(h.transitions >= want.size());
  CHECK(h.last_transition.time_since_epoch().count() != 0);
}

TEST_CASE("monitor: killed backend goes down after fall, comes back after rise") {
  asio::io_context io;
  auto server = std::make_unique<TcpServer>(io);
  const auto port = server->port();
  auto svc = service("kill", {port});
  std::vector<Event> events;
  Monitor* mp = nullptr;
  Monitor m(io, [&](const BackendKey& k, Status s) {
    events.push_back({k, s, mp->get(k)->checks()});
  });
  mp = &m;
  m.apply({svc});
  const BackendKey key = check_key(svc, 80, svc.backends[0]);
  REQUIRE(run_until(io, [&] { return m.status(key) == Status::up; }));
  REQUIRE(events.size() == 1);
  CHECK(events[0].checks == 1);  // fast start
  const auto healthy = m.get(key);
  CHECK(healthy->last_latency().has_value());
  CHECK(healthy->latency.total() == healthy->checks());

  server.reset();  // refused from now on
  REQUIRE(run_until(io, [&] { return m.status(key) == Status::down; }));
  auto down = *m.get(key);
  CHECK(down.consecutive_fail == 2);
  CHECK(down.failures("refused") == 2);
  CHECK(down.last_error().starts_with("refused"));

  tcp::acceptor again(io);
  again.open(tcp::v4());
  again.set_option(tcp::acceptor::reuse_address(true));
  again.bind(tcp::endpoint(kLoopback, port));
  again.listen();  // the kernel completes handshakes; nobody needs to accept
  REQUIRE(run_until(io, [&] { return m.status(key) == Status::up; }));
  auto up = *m.get(key);
  CHECK(up.consecutive_ok == 3);
  CHECK(up.last_error().empty());
  REQUIRE(events.size() == 3);
  CHECK(events[1].status == Status::down);
  CHECK(events[2].status == Status::up);
  CHECK(events[2].checks - events[1].checks == 3);
}

TEST_CASE("monitor: apply keeps unchanged checks, restarts changed ones, drops removed") {
  asio::io_context io;
  TcpServer a(io), b(io, TcpServer::Reply{}, 0, asio::ip::make_address("127.0.0.2"));
  auto svc = service("web", {a.port(), b.port()});
  auto other = service("none", {a.port()});
  other.health.edit().type = config::HealthType::none;
  int changes = 0;
  Monitor m(io, [&](const BackendKey&, Status) { ++changes; });
  m.apply({svc, other});
  CHECK(m.size() == 2);
  const BackendKey ka = check_key(svc, 80, svc.backends[0]),
                   kb = check_key(svc, 80, svc.backends[1]);
  CHECK(m.status(ka) == Status::unknown);
  CHECK(!m.get(check_key(other, 80, other.backends[0])));
  REQUIRE(run_until(io, [&] { return m.status(ka) == Status::up && m.status(kb) == Status::up; }));
  REQUIRE(run_until(io, [&] { return m.get(ka)->checks() >= 3; }));

  auto before = *m.get(ka);
  m.apply({svc, other});  // identical: nothing restarts, nothing resets
  auto same = *m.get(ka);
  CHECK(same.checks() == before.checks());
  CHECK(same.status == Status::up);
  CHECK(m.stats().in_flight <= 2);

  svc.health.edit().interval = milliseconds(30);  // changed: restart, status and counters kept
  m.apply({svc, other});
  auto changed = *m.get(ka);
  CHECK(changed.status == Status::up);
  CHECK(changed.checks() >= before.checks());
  CHECK(m.spec(ka)->params->interval == milliseconds(30));

  svc.backends.pop_back();
  m.apply({svc, other});
  CHECK(m.size() == 1);
  CHECK(!m.get(kb));
  auto status_of = [&](const BackendKey& k) { return m.status(k); };
  CHECK(healthy_count(svc, status_of, nullptr) == 1);
  CHECK(healthy_count(other, status_of, nullptr) == 1);  // `none` backends always count
  const int seen = changes;
  REQUIRE(run_until(io, [&] { return m.get(ka)->checks() >= changed.checks() + 3; }));
  CHECK(changes == seen);  // no spurious transitions

  m.shutdown();
  CHECK(m.size() == 0);
  CHECK(m.stats().in_flight == 0);
  io.run_for(milliseconds(100));
  CHECK(changes == seen);
}

// `grown` services of 8 backends each, and the first `base` of them: a reload between the two
// adds or removes the rest. Checked every 60 s, so no check runs within a test.
std::pair<std::vector<config::Service>, std::vector<config::Service>> base_and_grown(int base,
                                                                                     int grown) {
  std::vector<config::Service> b, g;
  for (int i = 0; i < grown; ++i) {
    auto s = service(fmt::format("s{:04}", i), {9, 9, 9, 9, 9, 9, 9, 9});
    s.health.edit().interval = milliseconds(60000);
    g.push_back(s);
    if (i < base) b.push_back(s);
  }
  return {b, g};
}

TEST_CASE("monitor: the checks a reload removes give their memory back to the system") {
  asio::io_context io;
  const auto [base, grown] = base_and_grown(500, 1500);
  Monitor m(io, nullptr);
  m.apply(base);
  REQUIRE(m.size() == 4000);
  const auto at_base = m.stats().check_memory;
  CHECK(at_base.blocks_in_use == 4000);  // every check's node is in the pool
  m.apply(grown);
  REQUIRE(m.size() == 12000);
  const auto at_grown = m.stats().check_memory;
  CHECK(at_grown.chunks > at_base.chunks + 20);
  // Removing the added services frees whole chunks: back to the base's, one spare kept.
  m.apply(base);
  REQUIRE(m.size() == 4000);
  const auto after = m.stats().check_memory;
  CHECK(after.blocks_in_use == 4000);
  CHECK(after.chunks <= at_base.chunks + 1);
  CHECK(after.chunks_released >= at_grown.chunks - at_base.chunks - 1);
  m.shutdown();
  CHECK(m.stats().check_memory.blocks_in_use == 0);
}

TEST_CASE("monitor: copies in slices cover every check once, in key order, across removals") {
  asio::io_context io;
  const auto [base, grown] = base_and_grown(100, 400);
  Monitor m(io, nullptr);
  m.apply(grown);
  REQUIRE(m.size() == 3200);
  std::optional<BackendKey> cursor;
  Monitor::Copies copies;
  CHECK_FALSE(m.copy_slice(cursor, 400, copies));  // s0000-s0049
  CHECK(copies.size() == 400);
  CHECK(cursor == copies.back().first);
  // A reload between two slices: what is left after the cursor is the new set's.
  m.apply(base);  // removes 2,400 checks; their nodes go at once (nothing holds them)
  CHECK(m.stats().check_memory.blocks_in_use == 800);
  while (!m.copy_slice(cursor, 1000, copies)) {
  }
  CHECK(std::is_sorted(copies.begin(), copies.end(),
                       [](const auto& x, const auto& y) { return x.first < y.first; }));
  CHECK(std::adjacent_find(copies.begin(), copies.end(), [](const auto& x, const auto& y) {
          return x.first == y.first;
        }) == copies.end());
  // The rest is base's s0050-s0099: all of base once, none of the removed checks.
  CHECK(copies.size() == 800);
  CHECK(copies.back().first.service == "s0099");
  // A cursor past the last check, or an empty monitor: nothing, and done.
  Monitor::Copies none;
  CHECK(m.copy_slice(cursor, 10, none));
  CHECK(none.empty());
  m.apply({});
  std::optional<BackendKey> fresh;
  CHECK(m.copy_slice(fresh, 10, none));
  CHECK(none.empty());
  CHECK_FALSE(fresh);
}

TEST_CASE("monitor: changes applied in slices end where apply() would, and keep state") {
  asio::io_context io;
  TcpServer a(io);
  std::vector<config::Service> first, second;
  for (int i = 0; i < 300; ++i) {
    auto s = service(fmt::format("s{:03}", i), {a.port()});
    s.health.edit().interval =
        milliseconds(60000);                  // the test is about the set of checks, not runs
    (i < 200 ? first : second).push_back(s);  // s000-s199, then s200-s299 ...
  }
  // ... and the second set keeps s100-s199, half of them with another timeout.
  for (int i = 100; i < 200; ++i) {
    auto s = first[i];
    if (i % 2) s.health.edit().timeout = milliseconds(500);
    second.push_back(s);
  }
  Monitor m(io, nullptr);
  m.apply(first);
  REQUIRE(m.size() == 200);
  const BackendKey kept = check_key(first[100], 80, first[100].backends[0]);

  auto changes = diff_specs(make_specs(first), make_specs(second));
  CHECK(changes.removed.size() == 100);
  CHECK(changes.added.size() == 100);
  CHECK(changes.changed.size() == 50);
  std::size_t done = 0;
  int slices = 0;
  // A zero budget still makes progress: at least 16 changes per slice.
  while (!m.apply_changes_slice(changes, done, std::chrono::microseconds(0))) ++slices;
  CHECK(slices >= 250 / 16 - 1);
  CHECK(done == 250);

  Monitor whole(io, nullptr);
  whole.apply(second);
  CHECK(m.size() == whole.size());
  whole.for_each([&](const BackendKey& key, const BackendHealth&) {
    INFO(key.service);
    REQUIRE(m.spec(key));
    CHECK(*m.spec(key) == *whole.spec(key));
  });
  CHECK(m.get(kept));

  // A stale plan (its removals already gone, its additions already there) is harmless.
  auto again = diff_specs(make_specs(first), make_specs(second));
  m.apply_changes(std::move(again));
  CHECK(m.size() == whole.size());
  m.shutdown();
  whole.shutdown();
}

TEST_CASE("monitor: a removed check's planned runs never start the check that reuses its slot") {
  asio::io_context io;
  TcpServer a(io), b(io, TcpServer::Reply{}, 0, asio::ip::make_address("127.0.0.2"));
  auto one = service("one", {a.port(), b.port()});
  auto two = service("two", {a.port(), b.port()});
  two.health.edit().interval = milliseconds(50);
  Monitor m(io, nullptr);
  // Each swap removes two checks whose runs are planned and adds two that take their slots;
  // a stale run that matched would start a check a second time within its interval.
  for (int i = 0; i < 20; ++i) {
    m.apply({i % 2 == 0 ? one : two});
    io.run_for(milliseconds(i % 5));
  }
  m.apply({two});
  REQUIRE(m.size() == 2);
  const auto started = m.stats().probes_started;
  io.run_for(milliseconds(500));
  // Two checks every 50 ms for 500 ms: about 20 runs; doubled runs would be about 40.
  CHECK(m.stats().probes_started - started <= 2 * (500 / 50 + 2));
  CHECK(m.stats().in_flight <= 2);
  for (const auto& b : two.backends) {
    auto h = m.get(check_key(two, 80, b));
    REQUIRE(h);
    CHECK(h->status == Status::up);
    CHECK(h->checks() <= 500 / 50 + 2);
  }
}

TEST_CASE("monitor: on_change may reconfigure the monitor from inside the callback") {
  asio::io_context io;
  TcpServer a(io);
  auto svc = service("re", {a.port(), closed_tcp_port()});
  int calls = 0;
  Monitor* mp = nullptr;
  Monitor m(io, [&](const BackendKey&, Status) {
    ++calls;
    mp->apply({});  // drops the very check that is reporting
  });
  mp = &m;
  m.apply({svc});
  REQUIRE(run_until(io, [&] { return calls > 0; }));
  io.run_for(milliseconds(100));
  CHECK(calls == 1);
  CHECK(m.size() == 0);
}

TEST_CASE("monitor: 2,000 checks on one interval are spread, all come up") {
  asio::io_context io;
  TcpServer server(io);
  config::Service svc = service("many", {});
  // 1,000 probes a second, each allowed 5 s: under ASan on a loaded 2-core machine a 500 ms
  // interval with 1 s timeouts let checks time out and go down again before all were up.
  svc.health.edit().interval = milliseconds(2000);
  svc.health.edit().timeout = milliseconds(5000);
  svc.health.edit().address = *net::Address::parse("127.0.0.1");  // keys differ, one listener
  for (int i = 0; i < 2000; ++i) {
    config::Backend b;
    b.address = *net::Address::parse(fmt::format("127.1.{}.{}", i / 250, 1 + i % 250));
    b.port = server.port();
    svc.backends.push_back(b);
  }
  Monitor m(io, nullptr);
  m.apply({svc});
  std::size_t peak = 0;
  REQUIRE(run_until(
      io,
      [&] {
        peak = std::max(peak, m.stats().in_flight);
        return m.stats().probes_finished >= 2000 &&
               std::all_of(svc.backends.begin(), svc.backends.end(), [&](const config::Backend& b) {
                 return m.status(check_key(svc, 80, b)) == Status::up;
               });
      },
      std::chrono::seconds(60)));
  // All 2,000 at once would be a burst; spread over the 2 s interval only a fraction overlap.
  CHECK(peak < 1000);
}

TEST_CASE("monitor: each port of a multi-port service is checked on its own") {
  asio::io_context io;
  TcpServer open(io);
  const std::uint16_t closed = closed_tcp_port();
  config::Service svc = service("two", {});
  svc.ports = {open.port(), closed};
  config::Backend b;
  b.address = *net::Address::parse("127.0.0.1");
  svc.backends.push_back(b);
  std::vector<Event> events;
  Monitor m(io, [&](const BackendKey& k, Status s) { events.push_back({k, s, 0}); });
  m.apply({svc});
  CHECK(m.size() == 2);
  const BackendKey up{"two", open.port(), b.address}, down{"two", closed, b.address};
  REQUIRE(
      run_until(io, [&] { return m.status(up) == Status::up && m.status(down) == Status::down; }));
  CHECK(m.spec(up)->port == open.port());
  CHECK(m.spec(down)->port == closed);
  auto status_of = [&](const BackendKey& k) { return m.status(k); };
  CHECK(healthy_on_port(svc, open.port(), status_of, nullptr) == 1);
  CHECK(healthy_on_port(svc, closed, status_of, nullptr) == 0);
  CHECK(healthy_count(svc, status_of, nullptr) == 0);

  // health.port: one shared check (on the open port) for both.
  svc.health.edit().port = open.port();
  m.apply({svc});
  CHECK(m.size() == 1);
  const BackendKey shared{"two", 0, b.address};
  REQUIRE(run_until(io, [&] { return m.status(shared) == Status::up; }));
  CHECK(healthy_count(svc, status_of, nullptr) == 1);
}

TEST_CASE("monitor: a copy keeps what it saw; results after it change only the check's own") {
  boost::asio::io_context io;
  TcpServer up(io);
  auto a = service("a", {up.port()});
  auto b = service("b", {up.port(), up.port()});
  b.ports = {80, 443};
  b.health.edit().per_port = false;  // shared checks: port 0 in the key
  auto c = service("c", {up.port()});
  Monitor m(io, nullptr);
  m.apply({a, b, c});
  // One service's checks, whatever the ports in their keys.
  Monitor::Copies only_b;
  m.copy_service("b", only_b);
  REQUIRE(only_b.size() == 2);
  for (const auto& [key, h] : only_b) CHECK(key.service == "b");
  CHECK(only_b.front().first < only_b.back().first);
  Monitor::Copies none;
  m.copy_service("nope", none);
  CHECK(none.empty());

  const BackendKey key = check_key(a, 80, a.backends[0]);
  Monitor::Copies before;
  m.copy_service("a", before);
  REQUIRE(before.size() == 1);
  REQUIRE(before.front().first == key);
  REQUIRE(before.front().second.checks() == 0);
  REQUIRE(run_until(io, [&] { return m.get(key)->checks() >= 2; }));
  CHECK(before.front().second.checks() == 0);  // what the copy saw
  CHECK(before.front().second.status == Status::unknown);
  Monitor::Copies after;
  m.copy_service("a", after);
  CHECK(after.front().second.checks() >= 2);
  CHECK(after.front().second.status == Status::up);
}
