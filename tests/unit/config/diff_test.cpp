#include "config/diff.hpp"

#include <catch2/catch.hpp>

#include "config/loader.hpp"
#include "test_util.hpp"

using namespace l4lb;
using namespace l4lb::config;
using namespace l4lb::config::test;

namespace {

Config example() {
  auto r = load_text(example_text(), "l4lb.yaml");
  REQUIRE(r.ok());
  return *r.config;
}

const ItemChange* find(const std::vector<ItemChange>& items, std::string_view name) {
  for (const auto& c : items)
    if (c.name == name) return &c;
  return nullptr;
}

}  // namespace

TEST_CASE("diff of a config with itself is empty") {
  auto c = example();
  auto d = diff(c, c);
  CHECK(d.empty());
  CHECK(d.describe().empty());
}

TEST_CASE("moving blocks around the file is not a change") {
  auto a = example();
  auto b = example();
  for (auto& s : b.services) {
    s.location.line += 10;
    for (auto& be : s.backends) be.location.line += 10;
    s.health_location.line += 10;
  }
  for (auto& i : b.vrrp) i.location.line += 3;
  CHECK(diff(a, b).empty());
}

TEST_CASE("a priority-only change names just that field (update in place)") {
  auto a = example();
  auto b = a;
  b.vrrp[0].priority = 90;
  auto d = diff(a, b);
  REQUIRE(d.vrrp.size() == 1);
  CHECK(d.vrrp[0].change == Change::changed);
  CHECK(d.vrrp[0].name == "ipa-v4");
  CHECK(d.vrrp[0].fields == std::vector<std::string>{"priority"});
  CHECK(d.services.empty());
  CHECK(d.backends.empty());
  CHECK(d.describe() == std::vector<std::string>{"vrrp instance 'ipa-v4' changed: priority"});
}

TEST_CASE("interface and vrid changes are reported so the instance can be replaced") {
  auto a = example();
  auto b = a;
  b.vrrp[1].interface = "eth9";
  b.vrrp[1].vrid = 52;
  b.vrrp[1].vips.push_back(*net::Prefix::parse("2001:db8:35::200/64"));
  auto d = diff(a, b);
  REQUIRE(d.vrrp.size() == 1);
  CHECK(d.vrrp[0].fields == std::vector<std::string>{"interface", "vrid", "vips"});
}

TEST_CASE("instances and services added and removed, matched by name") {
  auto a = example();
  auto b = a;
  b.vrrp.erase(b.vrrp.begin());
  b.vrrp.push_back(a.vrrp[0]);
  b.vrrp.back().name = "ipa-v4-new";
  b.services.erase(b.services.begin() + 2);  // ipa-kerberos-tcp
  Service extra = a.services[0];
  extra.name = "extra";
  b.services.push_back(extra);
  auto d = diff(a, b);
  REQUIRE(d.vrrp.size() == 2);
  CHECK(d.vrrp[0].change == Change::removed);
  CHECK(d.vrrp[0].name == "ipa-v4");
  CHECK(d.vrrp[1].change == Change::added);
  CHECK(d.vrrp[1].name == "ipa-v4-new");
  REQUIRE(d.services.size() == 2);
  CHECK(find(d.services, "ipa-kerberos-tcp")->change == Change::removed);
  CHECK(find(d.services, "extra")->change == Change::added);
  // Backends of added/removed services travel with their service.
  CHECK(d.backends.empty());
}

TEST_CASE("service field changes") {
  auto a = example();
  auto b = a;
  auto& s = b.services[0];
  s.ports.push_back(8443);
  s.scheduler = "wlc";
  s.health.edit().interval = Duration{5000};
  s.quorum = 2;
  b.services[1].sh_port = true;
  auto d = diff(a, b);
  REQUIRE(d.services.size() == 2);
  CHECK(d.services[0].name == "ipa-web");
  CHECK(d.services[0].fields == std::vector<std::string>{"ports", "scheduler", "quorum", "health"});
  CHECK(d.services[1].fields == std::vector<std::string>{"scheduler_flags"});
}

TEST_CASE("backends matched by service, address and port") {
  auto a = example();
  auto b = a;
  auto& web = b.services[0];
  web.backends[0].weight = 5;                    // changed
  web.backends.erase(web.backends.begin() + 1);  // 192.168.182.140 removed
  Backend nb;
  nb.address = *net::Address::parse("192.168.1.50");
  web.backends.push_back(nb);  // added
  auto& ldap6 = b.services[4];
  ldap6.backends[0].port = 2389;  // a new port is a new backend
  auto d = diff(a, b);
  CHECK(d.services.empty());
  REQUIRE(d.backends.size() == 5);
  CHECK(find(d.backends, "ipa-web/192.168.67.114")->fields == std::vector<std::string>{"weight"});
  CHECK(find(d.backends, "ipa-web/192.168.182.140")->change == Change::removed);
  CHECK(find(d.backends, "ipa-web/192.168.1.50")->change == Change::added);
  CHECK(find(d.backends, "ipa-ldap-v6/[2001:db8:67::114]:1389")->change == Change::removed);
  CHECK(find(d.backends, "ipa-ldap-v6/[2001:db8:67::114]:2389")->change == Change::added);
}

TEST_CASE("global fields") {
  auto a = example();
  auto b = a;
  b.metrics.listen.reset();
  b.node_name = "lb-b";
  b.control.socket = "/run/other.sock";
  b.control.admin_group = "ops";
  auto d = diff(a, b);
  CHECK(d.global_fields == std::vector<std::string>{"node_name", "control.socket",
                                                    "control.admin_group", "metrics.listen"});
  CHECK(d.describe() == std::vector<std::string>{"node_name changed", "control.socket changed",
                                                 "control.admin_group changed",
                                                 "metrics.listen changed"});
}

TEST_CASE("diff between two loaded files") {
  auto a = load_text(kBase, "a");
  std::string changed(kBase);
  changed.replace(changed.find("port: 80"), 8, "ports: [80, 81]");
  changed += "    quorum: 1\n";
  auto b = load_text(changed, "b");
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  auto d = diff(*a.config, *b.config);
  CHECK(d.describe() == std::vector<std::string>{"service 'web' changed: ports"});
}

TEST_CASE("one_packet and the ipvs section are changes a reload applies") {
  auto a = example();
  auto b = a;
  b.services[0].one_packet = !a.services[0].one_packet;
  b.ipvs.timeouts.udp = 30;
  auto d = diff(a, b);
  REQUIRE(d.services.size() == 1);
  CHECK(d.services[0].fields == std::vector<std::string>{"one_packet"});
  CHECK(d.global_fields == std::vector<std::string>{"ipvs.timeouts"});
  b = a;
  b.ipvs.sysctls["conntrack"] =
      a.ipvs.sysctls.count("conntrack") ? 1 - a.ipvs.sysctls.at("conntrack") : 1;
  d = diff(a, b);
  CHECK(d.global_fields == std::vector<std::string>{"ipvs.sysctls"});
  CHECK(d.describe() == std::vector<std::string>{"ipvs.sysctls changed"});
  a = b;
  b.ipvs.sync_daemon = config::SyncDaemon{};
  b.ipvs.sync_daemon->instance = "VI_1";
  d = config::diff(a, b);
  CHECK(d.global_fields == std::vector<std::string>{"ipvs.sync_daemon"});
}
