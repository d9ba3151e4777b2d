#include "ipvs/desired.hpp"

#include <catch2/catch.hpp>

#include "helpers.hpp"

using namespace l4lb;
using namespace l4lb::ipvs;
using namespace l4lb::ipvs::test;

namespace {

config::Service web() {
  config::Service s;
  s.name = "web";
  s.vip = addr("10.0.0.1");
  s.ports = {80, 443};
  s.scheduler = "rr";
  for (const char* a : {"10.1.0.1", "10.1.0.2", "10.1.0.3"}) {
    config::Backend b;
    b.address = addr(a);
    b.weight = 5;
    s.backends.push_back(b);
  }
  return s;
}

BackendStateFn states(std::map<std::string, BackendState> m) {
  return [m](const config::Service&, std::uint16_t, const config::Backend& b) {
    auto it = m.find(b.address.to_string());
    return it == m.end() ? BackendState{} : it->second;
  };
}

const Destination* find(const Table& t, std::uint16_t port, const std::string& a,
                        std::uint16_t dport) {
  auto s = t.services.find(ServiceKey::inet(Protocol::tcp, addr("10.0.0.1"), port));
  if (s == t.services.end()) return nullptr;
  auto d = s->second.destinations.find(DestKey{addr(a), dport});
  return d == s->second.destinations.end() ? nullptr : &d->second;
}

}  // namespace

TEST_CASE("each port is one virtual service; backend port defaults to the VIP port") {
  auto s = web();
  s.backends[1].port = 8443;
  Table t = desired_table({s}, states({{"10.1.0.1", {Health::up}}, {"10.1.0.2", {Health::up}}}));
  REQUIRE(t.services.size() == 2);
  CHECK(find(t, 80, "10.1.0.1", 80));
  CHECK(find(t, 443, "10.1.0.1", 443));
  CHECK(find(t, 80, "10.1.0.2", 8443));
  CHECK(find(t, 443, "10.1.0.2", 8443));
  CHECK(t.services.begin()->second.scheduler == "rr");
}

TEST_CASE("one port down leaves that port's virtual service only") {
  auto s = web();
  s.ports = {80, 443, 8443};
  // 10.1.0.2 fails its check on 443 only.
  BackendStateFn fn = [](const config::Service&, std::uint16_t port, const config::Backend& b) {
    const bool down = port == 443 && b.address == addr("10.1.0.2");
    return BackendState{down ? Health::down : Health::up, false};
  };
  SECTION("remove on failure") {
    Table t = desired_table({s}, fn);
    for (std::uint16_t port : {80, 443, 8443})
      for (const char* a : {"10.1.0.1", "10.1.0.2", "10.1.0.3"}) {
        const bool gone = port == 443 && std::string(a) == "10.1.0.2";
        INFO(a << ":" << port);
        CHECK((find(t, port, a, port) == nullptr) == gone);
        if (!gone) CHECK(find(t, port, a, port)->weight == 5);
      }
  }
  SECTION("drain on failure") {
    s.on_failure = config::OnFailure::drain;
    Table t = desired_table({s}, fn);
    REQUIRE(find(t, 443, "10.1.0.2", 443));
    CHECK(find(t, 443, "10.1.0.2", 443)->weight == 0);
    CHECK(find(t, 80, "10.1.0.2", 80)->weight == 5);
    CHECK(find(t, 8443, "10.1.0.2", 8443)->weight == 5);
  }
}

TEST_CASE("health policy: up, down (remove / drain), unknown, drained") {
  auto s = web();
  auto fn = states({{"10.1.0.1", {Health::up, false}},
                    {"10.1.0.2", {Health::down, false}},
                    {"10.1.0.3", {Health::unknown, false}}});
  SECTION("remove on failure, wait for the first check") {
    Table t = desired_table({s}, fn);
    REQUIRE(find(t, 80, "10.1.0.1", 80));
    CHECK(find(t, 80, "10.1.0.1", 80)->weight == 5);
    CHECK_FALSE(find(t, 80, "10.1.0.2", 80));
    CHECK_FALSE(find(t, 80, "10.1.0.3", 80));
  }
  SECTION("drain on failure, do not wait for the first check") {
    s.on_failure = config::OnFailure::drain;
    s.wait_first_check = false;
    Table t = desired_table({s}, fn);
    REQUIRE(find(t, 80, "10.1.0.2", 80));
    CHECK(find(t, 80, "10.1.0.2", 80)->weight == 0);
    REQUIRE(find(t, 80, "10.1.0.3", 80));
    CHECK(find(t, 80, "10.1.0.3", 80)->weight == 5);
  }
  SECTION("drained backends keep their place at weight 0") {
    Table t = desired_table({s}, states({{"10.1.0.1", {Health::up, true}}}));
    REQUIRE(find(t, 80, "10.1.0.1", 80));
    CHECK(find(t, 80, "10.1.0.1", 80)->weight == 0);
  }
  SECTION("health type none is always up") {
    s.health.edit().type = config::HealthType::none;
    Table t = desired_table({s}, fn);
    CHECK(find(t, 80, "10.1.0.2", 80)->weight == 5);
    CHECK(find(t, 80, "10.1.0.3", 80)->weight == 5);
  }
}

TEST_CASE("service settings: forward, flags, persistence, protocol, IPv6") {
  auto s = web();
  s.health.edit().type = config::HealthType::none;
  s.forward = config::Forward::dr;
  s.protocol = config::Protocol::udp;
  s.scheduler = "sh";
  s.sh_fallback = true;
  s.sh_port = true;
  s.persistence = Duration(1500);
  s.backends[0].upper_threshold = 100;
  s.backends[0].lower_threshold = 10;
  Table t = desired_table({s}, nullptr);
  const auto& svc = t.services.at(ServiceKey::inet(Protocol::udp, addr("10.0.0.1"), 80));
  CHECK(svc.persistent);
  CHECK(svc.timeout == 2);  // rounded up, never to 0
  CHECK(svc.netmask == 32);
  CHECK(svc.sh_fallback);
  CHECK(svc.sh_port);
  const auto& d = svc.destinations.at(DestKey{addr("10.1.0.1"), 80});
  CHECK(d.forward == Forward::route);
  CHECK(d.upper_threshold == 100);
  CHECK(d.lower_threshold == 10);

  s.forward = config::Forward::tun;
  s.vip = addr("2001:db8::1");
  s.persistence_netmask = 64;
  Table t6 = desired_table({s}, nullptr);
  const auto& s6 = t6.services.begin()->second;
  CHECK(s6.key.address.is_v6());
  CHECK(s6.netmask == 64);
  CHECK(s6.destinations.begin()->second.forward == Forward::tunnel);

  s.persistence = Duration(0);
  Table t0 = desired_table({s}, nullptr);
  CHECK_FALSE(t0.services.begin()->second.persistent);
  CHECK(t0.services.begin()->second.netmask == 128);
}

TEST_CASE("one_packet reaches the kernel table; off by default") {
  auto s = web();
  s.health.edit().type = config::HealthType::none;
  s.protocol = config::Protocol::udp;
  Table t = desired_table({s}, nullptr);
  const auto key = ServiceKey::inet(Protocol::udp, addr("10.0.0.1"), 80);
  CHECK_FALSE(t.services.at(key).one_packet);
  s.one_packet = true;
  t = desired_table({s}, nullptr);
  CHECK(t.services.at(key).one_packet);
  CHECK(t.services.at(ServiceKey::inet(Protocol::udp, addr("10.0.0.1"), 443)).one_packet);
  CHECK(t.services.at(key).settings_string() == "rr ops");
}

TEST_CASE("a fwmark service is one mark service for all its ports, destinations port 0") {
  auto s = web();
  s.ports.clear();
  for (unsigned p = 30000; p <= 32767; ++p) s.ports.push_back(static_cast<std::uint16_t>(p));
  s.fwmark = 0x4c000001u;
  s.persistence = Duration{300000};
  s.health.edit().type = config::HealthType::none;
  Table t = desired_table({s}, nullptr);
  REQUIRE(t.services.size() == 1);
  const auto key = ServiceKey::mark(net::Family::v4, 0x4c000001u);
  CHECK(service_key(s, 31000) == key);
  const Service& svc = t.services.at(key);
  CHECK(svc.persistent);
  CHECK(svc.timeout == 300);
  CHECK(svc.destinations.size() == 3);
  for (const auto& [k, d] : svc.destinations) CHECK(d.port == 0);
  CHECK(dest_port(s, s.backends[0], 31000) == 0);
}
