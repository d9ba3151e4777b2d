#include "health/quorum.hpp"

#include <catch2/catch.hpp>
#include <map>
#include <set>

#include "health/spec.hpp"

using namespace l4lb;
using namespace l4lb::health;

namespace {
net::Address ip(const char* s) { return *net::Address::parse(s); }

config::Service ldap() {
  config::Service s;
  s.name = "ldap";
  s.vip = ip("192.0.2.10");
  s.ports = {389, 636};
  s.quorum = 2;
  for (const char* a : {"10.0.0.1", "10.0.0.2", "10.0.0.3"}) {
    config::Backend b;
    b.address = ip(a);
    s.backends.push_back(b);
  }
  return s;
}

// Every check up unless listed.
struct World {
  std::map<BackendKey, Status> status;
  std::set<net::Address> drained;
  StatusOf status_of() const {
    return [this](const BackendKey& k) {
      auto it = status.find(k);
      return it == status.end() ? Status::up : it->second;
    };
  }
  DrainedOf drained_of() const {
    return [this](const config::Backend& b) { return drained.contains(b.address); };
  }
};
}  // namespace

TEST_CASE("quorum: counted per port, the weakest port decides") {
  auto s = ldap();
  World w;
  CHECK(healthy_on_port(s, 389, w.status_of(), w.drained_of()) == 3);
  CHECK(healthy_count(s, w.status_of(), w.drained_of()) == 3);

  w.status[BackendKey{"ldap", 636, ip("10.0.0.1")}] = Status::down;
  CHECK(healthy_on_port(s, 389, w.status_of(), w.drained_of()) == 3);
  CHECK(healthy_on_port(s, 636, w.status_of(), w.drained_of()) == 2);
  CHECK(healthy_count(s, w.status_of(), w.drained_of()) == 2);
  CHECK_FALSE(below_quorum(s, 2));

  w.status[BackendKey{"ldap", 636, ip("10.0.0.2")}] = Status::unknown;  // not yet checked
  CHECK(healthy_count(s, w.status_of(), w.drained_of()) == 1);
  CHECK(below_quorum(s, 1));
}

TEST_CASE("quorum: drained and weight-0 backends do not count") {
  auto s = ldap();
  World w;
  w.drained.insert(ip("10.0.0.3"));
  CHECK(healthy_count(s, w.status_of(), w.drained_of()) == 2);
  s.backends[0].weight = 0;
  CHECK(healthy_count(s, w.status_of(), w.drained_of()) == 1);
  CHECK(healthy_count(s, w.status_of(), nullptr) == 2);  // no drains known
}

TEST_CASE("quorum: a `none` service counts every serving backend") {
  auto s = ldap();
  s.health.edit().type = config::HealthType::none;
  World w;
  for (const auto& b : s.backends) w.status[BackendKey{"ldap", 389, b.address}] = Status::down;
  CHECK(healthy_count(s, w.status_of(), w.drained_of()) == 3);
  s.backends[1].weight = 0;
  w.drained.insert(ip("10.0.0.3"));
  CHECK(healthy_count(s, w.status_of(), w.drained_of()) == 1);
}

TEST_CASE("quorum: a shared check counts once for all ports") {
  auto s = ldap();
  s.health.edit().port = 9000;
  World w;
  w.status[BackendKey{"ldap", 0, ip("10.0.0.2")}] = Status::down;
  // Per-port keys are not consulted: the shared check is the only one.
  w.status[BackendKey{"ldap", 636, ip("10.0.0.1")}] = Status::down;
  CHECK(healthy_on_port(s, 389, w.status_of(), w.drained_of()) == 2);
  CHECK(healthy_on_port(s, 636, w.status_of(), w.drained_of()) == 2);
  CHECK(healthy_count(s, w.status_of(), w.drained_of()) == 2);
}

TEST_CASE("quorum: a service without ports or backends has 0") {
  auto s = ldap();
  World w;
  s.ports.clear();
  CHECK(healthy_count(s, w.status_of(), w.drained_of()) == 0);
  s = ldap();
  s.backends.clear();
  CHECK(healthy_count(s, w.status_of(), w.drained_of()) == 0);
  CHECK(below_quorum(s, 0));
}
