#include "vrrp/machine.hpp"

#include <catch2/catch.hpp>

using namespace l4lb;
using namespace l4lb::vrrp;
using namespace std::chrono_literals;

namespace {
net::Address A(const char* s) { return *net::Address::parse(s); }
const TimePoint T0{};

MachineParams params(int prio = 100, Duration interval = Duration{1000}) {
  MachineParams p;
  p.vrid = 1;
  p.priority = prio;
  p.advert_interval = interval;
  p.primary = A("10.0.0.2");
  return p;
}
}  // namespace

TEST_CASE("Skew_Time and Master_Down_Interval follow RFC 5798 6.1") {
  // 1 s interval, priority 100: skew = 156 * 100 / 256 cs = 60 cs (integer centiseconds).
  CHECK(skew_time(100, 100) == Micros{600'000});
  CHECK(master_down_interval(100, 100) == Micros{3'600'000});
  // 10 ms interval: 156 * 1 / 256 = 0 cs; Master_Down_Interval is 3 * 10 ms.
  CHECK(skew_time(100, 1) == Micros{0});
  CHECK(master_down_interval(100, 1) == Micros{30'000});
  // 100 ms: 156 * 10 / 256 = 6 cs; priority 254: 2 * 10 / 256 = 0.
  CHECK(skew_time(100, 10) == Micros{60'000});
  CHECK(skew_time(254, 10) == Micros{0});
  CHECK(skew_time(1, 100) == Micros{990'000});
  CHECK(skew_time(255, 100) == Micros{0});
  CHECK(to_centiseconds(Duration{10}) == 1);
  CHECK(to_centiseconds(Duration{1000}) == 100);
  CHECK(to_centiseconds(Duration{0}) == 1);
  CHECK(to_centiseconds(Duration{100000}) == 4095);
}

TEST_CASE("Startup: non-owner goes Backup and takes over after Master_Down_Interval") {
  Machine m(params(100));
  auto a = m.start(T0);
  CHECK(m.state() == State::backup);
  REQUIRE(a.transition);
  CHECK(a.transition->first == State::initialize);
  CHECK_FALSE(a.add_vips);
  REQUIRE(m.next_deadline());
  CHECK(*m.next_deadline() == T0 + Micros{3'600'000});
  CHECK_FALSE(m.on_timer(T0 + 3s).any());
  a = m.on_timer(*m.next_deadline());
  CHECK(m.state() == State::master);
  CHECK(a.add_vips);
  CHECK(a.send_advert);
  CHECK(a.announce);
  CHECK(*m.next_deadline() == T0 + Micros{3'600'000} + 1s);
  CHECK(m.master_address() == A("10.0.0.2"));
}

TEST_CASE("Startup: address owner (255) goes straight to Master") {
  Machine m(params(255));
  auto a = m.start(T0);
  CHECK(m.state() == State::master);
  CHECK(a.add_vips);
  CHECK(a.send_advert);
  CHECK(*m.next_deadline() == T0 + 1s);
}

TEST_CASE("Master sends an advert every Advertisement_Interval") {
  Machine m(params(255, Duration{100}));
  m.start(T0);
  for (int i = 1; i <= 5; ++i) {
    auto a = m.on_timer(T0 + i * 100ms);
    CHECK(a.send_advert);
    CHECK_FALSE(a.transition);
  }
}

TEST_CASE("Backup learns the Master's interval and resets the down timer") {
  Machine m(params(100, Duration{1000}));
  m.start(T0);
  m.on_advert(200, 10, A("10.0.0.9"), T0 + 500ms);
  CHECK(m.master_adver_interval_cs() == 10);
  CHECK(*m.next_deadline() == T0 + 500ms + Micros{360'000});
  CHECK(m.master_address() == A("10.0.0.9"));
  // keeps being reset while adverts arrive
  m.on_advert(200, 10, A("10.0.0.9"), T0 + 600ms);
  CHECK_FALSE(m.on_timer(T0 + 900ms).any());
  CHECK(m.on_timer(T0 + 960ms).transition);
  CHECK(m.state() == State::master);
}

TEST_CASE("Backup with preempt discards lower priority adverts and takes over") {
  Machine m(params(100));
  m.start(T0);
  m.on_advert(50, 100, A("10.0.0.9"), T0 + 1s);
  CHECK(*m.next_deadline() == T0 + Micros{3'600'000});  // not reset
  m.on_timer(T0 + 4s);
  CHECK(m.state() == State::master);
}

TEST_CASE("Backup without preempt accepts a lower priority Master") {
  auto p = params(100);
  p.preempt = false;
  Machine m(p);
  m.start(T0);
  m.on_advert(50, 100, A("10.0.0.9"), T0 + 1s);
  CHECK(*m.next_deadline() == T0 + 1s + Micros{3'600'000});
  m.on_advert(50, 100, A("10.0.0.9"), T0 + 2s);
  m.on_timer(T0 + 4s);
  CHECK(m.state() == State::backup);
}

TEST_CASE("preempt_delay holds a Backup back from preempting") {
  auto p = params(100, Duration{100});
  p.preempt_delay = Duration{2000};
  Machine m(p);
  m.start(T0);
  TimePoint t = T0 + 100ms;
  m.on_advert(50, 10, A("10.0.0.9"), t);  // hold until T0+2.1s
  for (int i = 1; i < 19; ++i) {
    t = T0 + 100ms + i * 100ms;
    m.on_advert(50, 10, A("10.0.0.9"), t);
    CHECK_FALSE(m.on_timer(t).any());
    CHECK(m.state() == State::backup);
  }
  // the hold ends at 2.1 s: the deadline is capped there, the lower Master is preempted
  REQUIRE(m.next_deadline());
  CHECK(*m.next_deadline() == T0 + 2100ms);
  m.on_timer(T0 + 2100ms);
  CHECK(m.state() == State::master);
}

TEST_CASE("Backup receiving priority 0 waits only Skew_Time") {
  Machine m(params(100));
  m.start(T0);
  m.on_advert(200, 100, A("10.0.0.9"), T0 + 1s);
  m.on_advert(0, 100, A("10.0.0.9"), T0 + 1500ms);
  CHECK(*m.next_deadline() == T0 + 1500ms + Micros{600'000});
  m.on_timer(*m.next_deadline());
  CHECK(m.state() == State::master);
}

TEST_CASE("Master yields to higher priority, or equal priority with a higher address") {
  Machine m(params(100));
  m.start(T0);
  m.on_timer(T0 + 4s);
  REQUIRE(m.state() == State::master);
  SECTION("lower priority is discarded") {
    CHECK_FALSE(m.on_advert(99, 100, A("10.0.0.9"), T0 + 5s).any());
    CHECK(m.state() == State::master);
  }
  SECTION("equal priority, lower address is discarded") {
    CHECK_FALSE(m.on_advert(100, 100, A("10.0.0.1"), T0 + 5s).any());
    CHECK(m.state() == State::master);
  }
  SECTION("equal priority, higher address wins") {
    auto a = m.on_advert(100, 50, A("10.0.0.3"), T0 + 5s);
    CHECK(m.state() == State::backup);
    CHECK(a.remove_vips);
    CHECK_FALSE(a.send_priority_zero);
    CHECK(m.master_adver_interval_cs() == 50);
    CHECK(*m.next_deadline() == T0 + 5s + Micros{1'800'000});
  }
  SECTION("higher priority wins") {
    m.on_advert(101, 100, A("10.0.0.1"), T0 + 5s);
    CHECK(m.state() == State::backup);
  }
  SECTION("priority 0 from another router: send an advert at once") {
    auto a = m.on_advert(0, 100, A("10.0.0.9"), T0 + 5s + 100ms);
    CHECK(a.send_advert);
    CHECK(*m.next_deadline() == T0 + 6s + 100ms);
  }
}

TEST_CASE("Shutdown in Master resigns with priority 0 and removes VIPs") {
  Machine m(params(255));
  m.start(T0);
  auto a = m.shutdown(T0 + 1s);
  CHECK(a.send_priority_zero);
  CHECK(a.remove_vips);
  CHECK(m.state() == State::initialize);
  CHECK_FALSE(m.next_deadline());
  Machine b(params(100));
  b.start(T0);
  a = b.shutdown(T0);
  CHECK_FALSE(a.send_priority_zero);
  CHECK(b.state() == State::initialize);
}

TEST_CASE("Fault: leaves Master, ignores adverts, returns through Initialize") {
  Machine m(params(100));
  m.start(T0);
  m.on_timer(T0 + 4s);
  auto a = m.set_fault(true, T0 + 5s);
  CHECK(m.state() == State::fault);
  CHECK(a.remove_vips);
  CHECK(a.send_priority_zero);
  CHECK_FALSE(m.next_deadline());
  CHECK_FALSE(m.on_advert(200, 100, A("10.0.0.9"), T0 + 6s).any());
  CHECK_FALSE(m.on_timer(T0 + 60s).any());
  a = m.set_fault(false, T0 + 7s);
  CHECK(m.state() == State::backup);
  REQUIRE(a.transition);
  CHECK(a.transition->first == State::fault);
  CHECK(a.transition->second == State::backup);
  SECTION("fault before start") {
    Machine f(params(100));
    f.set_fault(true, T0);
    f.start(T0);
    CHECK(f.state() == State::fault);
  }
}

TEST_CASE("Priority changes apply at once") {
  Machine m(params(100));
  m.start(T0);
  m.on_timer(T0 + 4s);
  auto a = m.set_priority(50, T0 + 4500ms);
  CHECK(a.send_advert);
  CHECK(m.params().priority == 50);
  // a Backup at 80 now wins: its advert preempts us
  m.on_advert(80, 100, A("10.0.0.1"), T0 + 4600ms);
  CHECK(m.state() == State::backup);
  CHECK_FALSE(m.set_priority(50, T0 + 5s).any());
}

TEST_CASE("update() changes parameters in place without re-election") {
  Machine m(params(100));
  m.start(T0);
  m.on_timer(T0 + 4s);
  auto p = params(100, Duration{200});
  auto a = m.update(p, T0 + 4100ms);
  CHECK(m.state() == State::master);
  CHECK_FALSE(a.transition);
  CHECK(*m.next_deadline() == T0 + 4300ms);
  CHECK(m.master_adver_interval_cs() == 20);
  CHECK(m.transitions() == 2);
}
