// One test per validation rule of issue 2, each on a small config.
#include <catch2/catch.hpp>

#include "config/diff.hpp"
#include "config/loader.hpp"
#include "config/values.hpp"
#include "test_util.hpp"

using namespace l4lb;
using namespace l4lb::config;
using namespace l4lb::config::test;

namespace {

std::string with_instance(std::string_view instance_body) {
  return fmt::format("vrrp:\n  - name: v4\n    interface: eth1\n{}", instance_body);
}

std::string with_service(std::string_view service_body) {
  return fmt::format(
      "vrrp:\n  - {{name: v4, interface: eth1, vrid: 51, vips: [10.0.0.1/24, "
      "\"2001:db8::1/64\"]}}\n"
      "services:\n  - name: s\n{}",
      service_body);
}

// The exact diagnostic lines, so the tests pin message, severity and position.
void expect_lines(const std::string& yaml, std::vector<std::string> expected) {
  INFO(yaml);
  CHECK(joined(diagnostics(yaml)) == joined(expected));
}

void expect_ok(const std::string& yaml) {
  INFO(yaml);
  auto r = load_text(yaml, "t.yaml");
  INFO(joined(diagnostics(yaml)));
  CHECK(r.ok());
  CHECK(r.diagnostics.empty());
}

}  // namespace

TEST_CASE("the base config is valid") { expect_ok(std::string(kBase)); }

TEST_CASE("unknown keys are errors with a suggestion when one is close") {
  expect_lines("vrp: []\nservices: []\n",
               {"t.yaml:1:1: error: unknown key 'vrp' in the top level; did you mean 'vrrp'?"});
  expect_lines(with_instance("    vrid: 5\n    vips: [10.0.0.1]\n    prority: 10\n"),
               {"t.yaml:6:5: error: unknown key 'prority' in vrrp instance; did you mean "
                "'priority'?"});
  expect_lines(with_instance("    virtual_router_id: 5\n    vips: [10.0.0.1]\n"),
               {"t.yaml:2:5: error: vrrp instance: missing required key 'vrid'",
                "t.yaml:4:5: error: unknown key 'virtual_router_id' in vrrp instance; did you mean "
                "'vrid'?"});
  expect_lines(
      with_service("    vip: 10.0.0.1\n    port: 80\n    backends: [{adress: 10.0.0.5}]\n"),
      {"t.yaml:7:16: error: backend: missing required key 'address'",
       "t.yaml:7:17: error: unknown key 'adress' in backend; did you mean 'address'?"});
  expect_lines("control: {sockett: /x}\nfoo: 1\n",
               {"t.yaml:1:11: error: unknown key 'sockett' in control; did you mean 'socket'?",
                "t.yaml:2:1: error: unknown key 'foo' in the top level"});
}

TEST_CASE("duplicate keys in one mapping") {
  expect_lines(with_instance("    vrid: 5\n    vrid: 6\n    vips: [10.0.0.1]\n"),
               {"t.yaml:5:5: error: duplicate key 'vrid' (first at line 4)"});
}

TEST_CASE("wrong types name what was expected and what was found") {
  expect_lines(with_instance("    vrid: [5]\n    vips: [10.0.0.1]\n"),
               {"t.yaml:4:11: error: vrid: expected an integer, got a list"});
  expect_lines(with_instance("    vrid: five\n    vips: [10.0.0.1]\n"),
               {"t.yaml:4:11: error: vrid: 'five' is not an integer"});
  expect_lines(with_instance("    vrid:\n    vips: [10.0.0.1]\n"),
               {"t.yaml:4:5: error: vrid: expected an integer, got nothing"});
  expect_lines(with_instance("    vrid: 5\n    preempt: maybe\n    vips: [10.0.0.1]\n"),
               {"t.yaml:5:14: error: preempt: expected true or false, got 'maybe'"});
  expect_lines(with_instance("    vrid: 5\n    vips: 10.0.0.1\n"),
               {"t.yaml:5:11: error: vips: expected a list, got '10.0.0.1'"});
  expect_lines("services: {name: x}\n",
               {"t.yaml:1:11: error: services: expected a list, got a mapping"});
  expect_lines(with_service("    vip: 10.0.0.1\n    port: 80\n    health: tcp\n"),
               {"t.yaml:7:13: error: health: expected a mapping (health), got 'tcp'"});
  expect_lines("vrrp: [5]\n",
               {"t.yaml:1:8: error: vrrp[0]: expected a mapping (vrrp instance), got '5'"});
}

TEST_CASE("out-of-range numbers") {
  expect_lines(with_instance("    vrid: 0\n    vips: [10.0.0.1]\n"),
               {"t.yaml:4:11: error: vrid: 0 is out of range 1..255"});
  expect_lines(with_instance("    vrid: 256\n    priority: 0\n    vips: [10.0.0.1]\n"),
               {"t.yaml:4:11: error: vrid: 256 is out of range 1..255",
                "t.yaml:5:15: error: priority: 0 is out of range 1..255"});
  expect_ok(with_instance("    vrid: 255\n    priority: 255\n    vips: [10.0.0.1]\n"));
  expect_lines(with_service("    vip: 10.0.0.1\n    port: 0\n    backends: [{address: 10.0.0.5, "
                            "weight: 70000}]\n"),
               {"t.yaml:6:11: error: port: 0 is out of range 1..65535",
                "t.yaml:7:44: error: weight: 70000 is out of range 0..65535"});
  expect_lines(with_service("    vip: 10.0.0.1\n    port: 80\n    quorum: -1\n    backends: "
                            "[{address: 10.0.0.5}]\n"),
               {"t.yaml:7:13: error: quorum: -1 is out of range 0..65535"});
  expect_lines(with_instance("    vrid: 5\n    vips: [10.0.0.1]\n    garp: {repeat: 101}\n"),
               {"t.yaml:6:20: error: repeat: 101 is out of range 0..100"});
}

TEST_CASE("advert_interval: 10ms..40.95s in steps of 10ms") {
  expect_ok(with_instance("    vrid: 5\n    vips: [10.0.0.1]\n    advert_interval: 10ms\n"));
  expect_ok(with_instance("    vrid: 5\n    vips: [10.0.0.1]\n    advert_interval: 40.95s\n"));
  expect_lines(with_instance("    vrid: 5\n    vips: [10.0.0.1]\n    advert_interval: 105ms\n"),
               {"t.yaml:6:22: error: advert_interval: 105ms is not a multiple of 10ms (VRRPv3 "
                "sends it in centiseconds)"});
  expect_lines(with_instance("    vrid: 5\n    vips: [10.0.0.1]\n    advert_interval: 41s\n"),
               {"t.yaml:6:22: error: advert_interval: 41s is out of range 10ms..40.95s"});
  expect_lines(with_instance("    vrid: 5\n    vips: [10.0.0.1]\n    advert_interval: 5ms\n"),
               {"t.yaml:6:22: error: advert_interval: 5ms is out of range 10ms..40.95s"});
  expect_lines(with_instance("    vrid: 5\n    vips: [10.0.0.1]\n    advert_interval: 1\n"),
               {"t.yaml:6:22: error: advert_interval: '1' needs a unit: ms, s, m or h (e.g. 1s "
                "or 1ms)"});
}

TEST_CASE("malformed addresses and prefixes") {
  expect_lines(with_instance("    vrid: 5\n    vips: [10.0.0.300, 10.0.0.1/33, 224.0.0.18]\n"),
               {"t.yaml:5:12: error: vips[0]: '10.0.0.300' is not an address or "
                "address/prefix-length",
                "t.yaml:5:24: error: vips[1]: '10.0.0.1/33' is not an address or "
                "address/prefix-length",
                "t.yaml:5:37: error: vips[2]: 224.0.0.18 cannot be a virtual address "
                "(unspecified or multicast)"});
  expect_lines(
      with_service("    vip: 10.0.0.1/24\n    port: 80\n    backends: [{address: 0.0.0.0}]\n"),
      {"t.yaml:5:10: error: vip: '10.0.0.1/24' is not an IP address (no /prefix here)",
       "t.yaml:7:26: error: address: 0.0.0.0 cannot be a backend (unspecified or "
       "multicast)"});
}

TEST_CASE("port lists: ranges expand, reversed and oversized ranges are refused") {
  auto r = load_text(with_service("    vip: 10.0.0.1\n    ports: [1389, 1636, \"58978-58979\"]\n"
                                  "    backends: [{address: 10.0.0.5}]\n"),
                     "t.yaml");
  REQUIRE(r.ok());
  CHECK(r.config->services[0].ports == std::vector<std::uint16_t>{1389, 1636, 58978, 58979});
  expect_lines(with_service("    vip: 10.0.0.1\n    ports: [\"58979-58978\", 1-2000, 80, 80]\n"
                            "    backends: [{address: 10.0.0.5}]\n"),
               {"t.yaml:6:13: error: ports[0]: port range '58979-58978' is reversed (write "
                "58978-58979)",
                "t.yaml:6:28: error: ports[1]: port range '1-2000' has 2000 ports; the limit is "
                "1000 per range",
                "t.yaml:6:40: error: ports[3]: port 80 is listed twice"});
  expect_lines(with_service("    vip: 10.0.0.1\n    port: 80\n    ports: [81]\n"),
               {"t.yaml:7:5: error: ports: use either 'port' or 'ports', not both"});
  expect_lines(with_service("    vip: 10.0.0.1\n"),
               {"t.yaml:4:5: error: service: missing required key 'port' or 'ports'"});
  expect_lines(with_service("    vip: 10.0.0.1\n    ports: []\n"),
               {"t.yaml:6:12: error: ports: needs at least one port"});
}

TEST_CASE("duplicate names") {
  expect_lines(
      "vrrp:\n  - {name: a, interface: eth1, vrid: 1, vips: [10.0.0.1]}\n"
      "  - {name: a, interface: eth1, vrid: 2, vips: [10.0.0.2]}\n",
      {"t.yaml:3:12: error: name: duplicate vrrp instance name 'a' (first at line 2)"});
  expect_lines(
      "services:\n  - {name: a, vip: 10.0.0.1, port: 1, quorum: 0}\n"
      "  - {name: a, vip: 10.0.0.1, port: 2, quorum: 0}\n",
      {"t.yaml:2:20: warning: vip: 10.0.0.1 of service 'a' is not a VIP of any vrrp "
       "instance; it is treated as a static address that must already be on this node",
       "t.yaml:3:12: error: name: duplicate service name 'a' (first at line 2)"});
}

TEST_CASE("the same vip:port/protocol in two services") {
  expect_lines(with_service("    vip: 10.0.0.1\n    ports: [80, 443]\n    quorum: 0\n"
                            "  - {name: t, vip: 10.0.0.1, ports: [\"440-450\"], quorum: 0}\n"
                            "  - {name: u, vip: 10.0.0.1, port: 80, protocol: udp, quorum: 0}\n"),
               {"t.yaml:8:38: error: 10.0.0.1:443/tcp is already defined by service 's' (line "
                "4)"});
  expect_lines(with_service("    vip: 10.0.0.1\n    ports: [\"1-10\"]\n    quorum: 0\n"
                            "  - {name: t, vip: 10.0.0.1, ports: [\"5-20\"], quorum: 0}\n"),
               {"t.yaml:8:38: error: 10.0.0.1:5/tcp is already defined by service 's' (line 4) "
                "(and 5 more port(s))"});
}

TEST_CASE("a VRID may repeat on one interface only across address families") {
  // Same VRID, same interface, different families: allowed by VRRPv3.
  expect_ok(
      "vrrp:\n  - {name: a, interface: eth1, vrid: 51, vips: [10.0.0.1]}\n"
      "  - {name: b, interface: eth1, vrid: 51, vips: [\"2001:db8::1\"]}\n"
      "  - {name: c, interface: eth2, vrid: 51, vips: [10.0.0.2]}\n");
  expect_lines(
      "vrrp:\n  - {name: a, interface: eth1, vrid: 51, vips: [10.0.0.1]}\n"
      "  - {name: b, interface: eth1, vrid: 51, vips: [10.0.0.2]}\n",
      {"t.yaml:3:38: error: vrid: 51 is already used for ipv4 on eth1 by vrrp instance "
       "'a' (line 2)"});
  // A dual-stack instance takes the VRID for both families.
  expect_lines(
      "vrrp:\n  - {name: a, interface: eth1, vrid: 7, vips: [10.0.0.1, \"2001:db8::1\"]}\n"
      "  - {name: b, interface: eth1, vrid: 7, vips: [\"2001:db8::2\"]}\n",
      {"t.yaml:3:38: error: vrid: 7 is already used for ipv6 on eth1 by vrrp instance "
       "'a' (line 2)"});
}

TEST_CASE("vips: dual-stack instances, duplicates, one owner per VIP") {
  expect_ok(with_instance("    vrid: 5\n    vips: [10.0.0.1/24, \"2001:db8::1/64\"]\n"));
  expect_lines(with_instance("    vrid: 5\n    vips: [10.0.0.1/24, 10.0.0.1/32]\n"),
               {"t.yaml:5:25: error: vips[1]: 10.0.0.1 is listed twice"});
  expect_lines(with_instance("    vrid: 5\n    vips: []\n"),
               {"t.yaml:5:11: error: vips: a vrrp instance needs at least one virtual address"});
  expect_lines(
      "vrrp:\n  - {name: a, interface: eth1, vrid: 1, vips: [10.0.0.1]}\n"
      "  - {name: b, interface: eth1, vrid: 2, vips: [10.0.0.1/24]}\n",
      {"t.yaml:3:48: error: vips: 10.0.0.1 is already a VIP of vrrp instance 'a' (line "
       "2)"});
}

TEST_CASE("backends of another address family need forward: tun") {
  const char* body =
      "    vip: 10.0.0.1\n    port: 80\n    forward: {}\n"
      "    backends: [{{address: \"2001:db8::5\"}}]\n";
  expect_lines(with_service(fmt::format(fmt::runtime(body), "nat")),
               {"t.yaml:8:26: error: address: backend 2001:db8::5 is ipv6 but the VIP 10.0.0.1 "
                "is ipv4; IPVS forwards across address families only with forward: tun"});
  CHECK_FALSE(load_text(with_service(fmt::format(fmt::runtime(body), "dr")), "t").ok());
  expect_ok(with_service(fmt::format(fmt::runtime(body), "tun")));
}

TEST_CASE("backend port: only on single-port services, and only nat may change it") {
  expect_lines(with_service("    vip: 10.0.0.1\n    ports: [80, 443]\n"
                            "    backends: [{address: 10.0.0.5, port: 8080}]\n"),
               {"t.yaml:7:36: error: port: a backend port is only allowed on a single-port "
                "service; this one has 2 ports and each backend uses the VIP's port"});
  expect_ok(
      with_service("    vip: 10.0.0.1\n    port: 80\n"
                   "    backends: [{address: 10.0.0.5, port: 8080}]\n"));
  expect_lines(with_service("    vip: 10.0.0.1\n    port: 80\n    forward: dr\n"
                            "    backends: [{address: 10.0.0.5, port: 8080}]\n"),
               {"t.yaml:8:42: error: port: forward dr cannot change the port (the VIP port is "
                "80); only nat can"});
  expect_ok(
      with_service("    vip: 10.0.0.1\n    port: 80\n    forward: dr\n"
                   "    backends: [{address: 10.0.0.5, port: 80}]\n"));
}

TEST_CASE("duplicate backends and thresholds") {
  expect_lines(with_service("    vip: 10.0.0.1\n    port: 80\n"
                            "    backends: [{address: 10.0.0.5}, {address: 10.0.0.5}]\n"),
               {"t.yaml:7:37: error: backends[1]: backend 10.0.0.5 is listed twice"});
  expect_lines(with_service("    vip: 10.0.0.1\n    port: 80\n"
                            "    backends: [{address: 10.0.0.5, upper_threshold: 10, "
                            "lower_threshold: 20}]\n"),
               {"t.yaml:7:74: error: lower_threshold: 20 is above upper_threshold 10"});
}

TEST_CASE("scheduler and scheduler_flags") {
  expect_lines(
      with_service("    vip: 10.0.0.1\n    port: 80\n    scheduler: lc\n"
                   "    scheduler_flags: [sh-port]\n    backends: [{address: 10.0.0.5}]\n"),
      {"t.yaml:8:23: error: scheduler_flags[0]: sh-port only applies to the sh and mh "
       "schedulers (this service uses lc)"});
  for (auto sched : {"sh", "mh"})
    expect_ok(
        with_service(fmt::format("    vip: 10.0.0.1\n    port: 80\n    scheduler: {}\n"
                                 "    scheduler_flags: [sh-port, sh-fallback]\n"
                                 "    backends: [{{address: 10.0.0.5}}]\n",
                                 sched)));
  expect_lines(with_service("    vip: 10.0.0.1\n    port: 80\n    scheduler: wrrr\n"
                            "    backends: [{address: 10.0.0.5}]\n"),
               {"t.yaml:7:16: error: scheduler: expected one of rr, wrr, lc, wlc, sh, mh, sed, "
                "nq, dh, lblc, lblcr, fo, ovf, got 'wrrr'; did you mean 'wrr'?"});
}

TEST_CASE("unicast: source and peers of one family, matching the vips") {
  expect_ok(
      with_instance("    vrid: 5\n    vips: [10.0.0.1]\n"
                    "    unicast: {source: 10.0.0.2, peers: [10.0.0.3]}\n"));
  expect_lines(with_instance("    vrid: 5\n    vips: [\"2001:db8::1\"]\n"
                             "    unicast: {source: 10.0.0.2, peers: [10.0.0.3]}\n"),
               {"t.yaml:5:12: error: vips: 2001:db8::1 is ipv6 but the unicast source 10.0.0.2 "
                "is ipv4; a unicast instance carries one family (put the ipv6 addresses in their "
                "own instance)"});
  expect_lines(with_instance("    vrid: 5\n    vips: [10.0.0.1]\n"
                             "    unicast: {source: 10.0.0.2, peers: [\"2001:db8::3\", 10.0.0.2, "
                             "10.0.0.4, 10.0.0.4]}\n"),
               {"t.yaml:6:41: error: peers[0]: peer 2001:db8::3 is ipv6 but the unicast source "
                "10.0.0.2 is ipv4",
                "t.yaml:6:56: error: peers[1]: 10.0.0.2 is this router's own unicast source",
                "t.yaml:6:76: error: peers[3]: peer 10.0.0.4 is listed twice"});
  expect_lines(
      with_instance("    vrid: 5\n    vips: [10.0.0.1]\n    unicast: {source: 10.0.0.2}\n"),
      {"t.yaml:6:14: error: unicast: missing required key 'peers'"});
  expect_lines(with_instance("    vrid: 5\n    vips: [10.0.0.1]\n"
                             "    unicast: {source: 10.0.0.2, peers: []}\n"),
               {"t.yaml:6:40: error: peers: a unicast instance needs at least one peer"});
}

TEST_CASE("track: interfaces and services") {
  std::string services = "services:\n  - {name: ldap, vip: 10.0.0.1, port: 389, quorum: 0}\n";
  expect_ok(with_instance("    vrid: 5\n    vips: [10.0.0.1]\n    track:\n"
                          "      interfaces: [eth0, {name: eth2, weight: -20}]\n"
                          "      services: [{service: ldap, weight: -60}]\n") +
            services);
  expect_lines(with_instance("    vrid: 5\n    vips: [10.0.0.1]\n    track:\n"
                             "      services: [{service: ldpa, weight: -60}]\n") +
                   services,
               {"t.yaml:7:28: error: service: unknown service 'ldpa' in track.services of vrrp "
                "instance 'v4'; did you mean 'ldap'?"});
  expect_lines(with_instance("    vrid: 5\n    vips: [10.0.0.1]\n    track:\n"
                             "      interfaces: [{name: eth0, weight: 0}, "
                             "averyveryverylongname]\n      services: [{service: ldap}]\n") +
                   services,
               {"t.yaml:7:41: error: weight: 0 has no effect; omit weight to go to FAULT while "
                "the interface is down",
                "t.yaml:7:45: error: interfaces[1]: 'averyveryverylongname' is not a valid "
                "interface name (1..15 characters, no '/', ':' or spaces)",
                "t.yaml:8:18: error: track.services item: missing required key 'weight'"});
}

TEST_CASE("a service VIP no instance owns is a warning (static VIP), not an error") {
  auto r = load_text(
      "services:\n  - {name: s, vip: 10.9.9.9, port: 80, backends: [{address: "
      "10.0.0.5}]}\n",
      "t.yaml");
  CHECK(r.ok());
  REQUIRE(r.diagnostics.size() == 1);
  CHECK(r.diagnostics[0].to_string() ==
        "t.yaml:2:20: warning: vip: 10.9.9.9 of service 's' is not a VIP of any vrrp instance; "
        "it is treated as a static address that must already be on this node");
}

TEST_CASE("quorum above the number of backends is a warning") {
  expect_lines(with_service("    vip: 10.0.0.1\n    port: 80\n    quorum: 3\n"
                            "    backends: [{address: 10.0.0.5}, {address: 10.0.0.6}]\n"),
               {"t.yaml:7:13: warning: quorum: 3 is more than the 2 backend(s); the service is "
                "always below quorum"});
  expect_ok(
      with_service("    vip: 10.0.0.1\n    port: 80\n    quorum: 2\n"
                   "    backends: [{address: 10.0.0.5}, {address: 10.0.0.6}]\n"));
}

TEST_CASE("health: per_port, and its contradiction with an explicit port") {
  auto svc = [](std::string_view health) {
    return with_service(
        fmt::format("    vip: 10.0.0.1\n    ports: [389, 636]\n    health: {}\n"
                    "    backends: [{{address: 10.0.0.5}}]\n",
                    health));
  };
  expect_ok(svc("{type: tcp, per_port: false}"));
  expect_ok(svc("{type: tcp, port: 9000, per_port: false}"));
  auto on = load_text(svc("{type: http, per_port: true}"), "t");
  REQUIRE(on.ok());
  CHECK(on.config->services[0].health->per_port == true);
  auto unset = load_text(svc("{type: tcp}"), "t");
  REQUIRE(unset.ok());
  CHECK(!unset.config->services[0].health->per_port);
  expect_lines(svc("{type: tcp, port: 9000, per_port: true}"),
               {"t.yaml:7:47: error: per_port: true contradicts 'port: 9000', which checks one "
                "port for all the service's ports; drop one of the two"});
  expect_lines(svc("{type: none, per_port: false}"),
               {"t.yaml:7:26: error: health: 'per_port' does not apply to type none"});
  expect_lines(svc("{type: tcp, per_port: maybe}"),
               {"t.yaml:7:35: error: per_port: expected true or false, got 'maybe'"});
}

TEST_CASE("health: keys by type, expect_status forms, timeout within interval") {
  auto svc = [](std::string_view health) {
    return with_service(
        fmt::format("    vip: 10.0.0.1\n    port: 80\n    health: {}\n"
                    "    backends: [{{address: 10.0.0.5}}]\n",
                    health));
  };
  expect_ok(svc("{type: none}"));
  expect_ok(svc("{type: http, path: /healthz, expect_status: 204}"));
  expect_ok(svc("{type: http, expect_status: \"200-299\"}"));
  expect_ok(svc("{type: http, expect_status: [200, \"300-302\"]}"));
  expect_ok(svc("{type: udp, send: ping, expect: pong}"));
  expect_ok(svc("{type: tcp, send: \"PING\\r\\n\", expect: \"+PONG\", expect_prefix: true}"));
  auto r = load_text(svc("{type: http, expect_status: [200, \"300-302\"]}"), "t");
  REQUIRE(r.ok());
  CHECK(r.config->services[0].health->expect_status ==
        std::vector<std::pair<int, int>>{{200, 200}, {300, 302}});
  expect_ok(svc("{type: tcp, handshake: half-open}"));
  expect_ok(svc("{type: tcp, handshake: full, send: x, expect: y}"));
  auto hs = load_text(svc("{type: tcp, handshake: full}"), "t");
  REQUIRE(hs.ok());
  CHECK(hs.config->services[0].health->handshake == Handshake::full);
  auto dflt = load_text(svc("{type: tcp}"), "t");
  REQUIRE(dflt.ok());
  CHECK(dflt.config->services[0].health->handshake == Handshake::automatic);
  expect_lines(svc("{type: tcp, handshake: half-open, send: x}"),
               {"t.yaml:7:36: error: handshake: half-open sends nothing after the SYN-ACK, so it "
                "cannot check 'send'/'expect'; use full (or leave the default, auto)"});
  expect_lines(
      svc("{type: udp, handshake: full}"),
      {"t.yaml:7:25: error: health: 'handshake' applies only to tcp checks (this one is udp)"});
  expect_lines(svc("{type: tcp, handshake: halfopen}"),
               {"t.yaml:7:36: error: handshake: expected one of auto, half-open, full, got "
                "'halfopen'; did you mean 'half-open'?"});
  expect_lines(svc("{type: none, interval: 1s}"),
               {"t.yaml:7:26: error: health: 'interval' does not apply to type none"});
  expect_lines(
      svc("{type: tcp, path: /x}"),
      {"t.yaml:7:25: error: health: 'path' applies only to http checks (this one is tcp)"});
  expect_lines(svc("{type: http, send: x}"),
               {"t.yaml:7:26: error: health: 'send' applies only to tcp and udp checks (this one "
                "is http)"});
  expect_lines(svc("{type: http, expect_status: [\"399-200\", 700, []]}"),
               {"t.yaml:7:42: error: expect_status[0]: status range '399-200' is reversed (write "
                "200-399)",
                "t.yaml:7:53: error: expect_status[1]: HTTP status 700 is out of range 100..599",
                "t.yaml:7:58: error: expect_status[2]: expected a status such as 200 or "
                "\"200-399\", got a list"});
  expect_lines(svc("{type: tcp, interval: 1s, timeout: 2s}"),
               {"t.yaml:7:48: error: timeout: 2s is longer than the interval 1s; a check must "
                "finish before the next one starts"});
  expect_lines(svc("{type: ping}"),
               {"t.yaml:7:20: error: type: expected one of tcp, udp, http, none, got 'ping'"});
  expect_lines(svc("{type: http, path: healthz}"),
               {"t.yaml:7:32: error: path: must start with '/' and contain no spaces (at most "
                "2048 bytes)"});
  expect_lines(svc("{source: \"2001:db8::9\"}"),
               {"t.yaml:7:13: error: health: source 2001:db8::9 is ipv6 but backend 10.0.0.5 is "
                "ipv4"});
}

TEST_CASE("persistence in whole seconds, netmask by family") {
  expect_lines(with_service("    vip: 10.0.0.1\n    port: 80\n    persistence: 1500ms\n"
                            "    backends: [{address: 10.0.0.5}]\n"),
               {"t.yaml:7:18: error: persistence: 1.5s is not a whole number of seconds (IPVS "
                "counts persistence in seconds)"});
  expect_lines(
      with_service("    vip: \"2001:db8::1\"\n    port: 80\n    persistence: 1m\n"
                   "    persistence_netmask: 0\n    backends: [{address: \"2001:db8::5\"}]\n"),
      {"t.yaml:8:26: error: persistence_netmask: 0 is out of range 1..128"});
  expect_lines(with_service("    vip: 10.0.0.1\n    port: 80\n    persistence_netmask: 24\n"
                            "    backends: [{address: 10.0.0.5}]\n"),
               {"t.yaml:7:26: warning: persistence_netmask: has no effect without persistence"});
}

TEST_CASE("global keys: paths absolute, metrics host:port, names") {
  expect_lines("state_dir: run/l4lb\ncontrol: {socket: l4lbd.sock}\n",
               {"t.yaml:1:12: error: state_dir: 'run/l4lb' must be an absolute path",
                "t.yaml:2:19: error: socket: 'l4lbd.sock' must be an absolute path"});
  expect_lines(fmt::format("control: {{socket: /{}}}\n", std::string(120, 'a')),
               {"t.yaml:1:19: error: socket: path is 121 bytes; at most 107"});
  expect_lines("metrics: {listen: \"localhost:9465\"}\n",
               {"t.yaml:1:19: error: listen: 'localhost' is not an IP address (names are not "
                "resolved; use e.g. 127.0.0.1)"});
  expect_lines("node_name: \"lb a\"\n",
               {"t.yaml:1:12: error: node_name: 'lb a' is not a valid name (1..64 letters, "
                "digits, '-', '_', '.')"});
  expect_lines("control: {admin_group: \"ops team\"}\n",
               {"t.yaml:1:24: error: admin_group: 'ops team' is not a valid name (1..64 letters, "
                "digits, '-', '_', '.')"});
  expect_lines("control: {admin_group: [ops]}\n",
               {"t.yaml:1:24: error: admin_group: expected a string, got a list"});
  expect_lines("control: {admin_grp: ops}\n",
               {"t.yaml:1:11: error: unknown key 'admin_grp' in control; did you mean "
                "'admin_group'?"});
  {
    auto c = load_text("control: {group: l4lb, admin_group: l4lb-admin}\nservices: []\n", "t");
    REQUIRE(c.ok());
    CHECK(c.config->control.group == "l4lb");
    CHECK(c.config->control.admin_group == std::optional<std::string>("l4lb-admin"));
    auto d = load_text("services: []\n", "t");
    REQUIRE(d.ok());
    CHECK_FALSE(d.config->control.admin_group);  // default: none, root only
  }
  auto r = load_text("metrics: {listen: \"[::1]:9465\"}\nremove_services_on_exit: true\n", "t");
  REQUIRE(r.ok());
  CHECK(r.config->metrics.listen == "[::1]:9465");
  CHECK(r.config->remove_services_on_exit);
  REQUIRE(r.diagnostics.size() == 1);
  CHECK(r.diagnostics[0].message ==
        "no vrrp instances and no services: the daemon has nothing to do");
}

TEST_CASE("every problem of a file is reported at once") {
  auto r = load_text(R"(vrrp:
  - name: a
    interface: eth1
    vrid: 300
    advert_interval: 15ms
    vips: [10.0.0.1]
services:
  - name: s
    vip: 10.0.0.1
    ports: ["90-80"]
    protocol: sctp
    backends: [{address: 10.0.0.5, weight: -1}]
metrics: {listen: nope}
)",
                     "t.yaml");
  CHECK_FALSE(r.ok());
  CHECK(r.error_count() == 6);
}

TEST_CASE("backends may be written as bare addresses") {
  auto r = load_text(with_service("    vip: 10.0.0.1\n    port: 80\n"
                                  "    backends: [10.0.0.5, {address: 10.0.0.6, weight: 3}]\n"),
                     "t.yaml");
  REQUIRE(r.ok());
  const auto& b = r.config->services[0].backends;
  REQUIRE(b.size() == 2);
  CHECK(b[0].address.to_string() == "10.0.0.5");
  CHECK(b[0].weight == 1);
  CHECK(b[1].weight == 3);
  expect_lines(with_service("    vip: 10.0.0.1\n    port: 80\n"
                            "    backends: [\"2001:db8::5\", 10.0.0.5, 10.0.0.5, nonsense]\n"),
               {"t.yaml:7:16: error: backends[0]: backend 2001:db8::5 is ipv6 but the VIP 10.0.0.1 "
                "is ipv4; IPVS forwards across address families only with forward: tun",
                "t.yaml:7:41: error: backends[2]: backend 10.0.0.5 is listed twice",
                "t.yaml:7:51: error: backends[3]: 'nonsense' is not an IP address"});
}

TEST_CASE("one_packet: only for udp services; a warning with nat") {
  auto with_proto = [](std::string_view proto, std::string_view one_packet,
                       std::string_view forward = "dr") {
    return with_service(
        fmt::format("    vip: 10.0.0.1\n    port: 162\n    protocol: {}\n"
                    "    one_packet: {}\n    forward: {}\n"
                    "    backends: [{{address: 10.0.0.5}}]\n",
                    proto, one_packet, forward));
  };
  expect_ok(with_proto("udp", "true"));
  expect_ok(with_proto("udp", "true", "tun"));
  expect_ok(with_proto("udp", "false"));
  expect_ok(with_proto("tcp", "false"));  // explicitly off is fine anywhere
  expect_ok(with_proto("udp", "false", "nat"));
  expect_lines(with_proto("tcp", "true"),
               {"t.yaml:8:17: error: one_packet: only applies to protocol: udp (this service is "
                "tcp)"});
  expect_lines(with_service("    vip: 10.0.0.1\n    port: 162\n    one_packet: true\n"
                            "    backends: [{address: 10.0.0.5}]\n"),
               {"t.yaml:7:17: error: one_packet: only applies to protocol: udp (this service is "
                "tcp)"});
  expect_lines(with_proto("udp", "yes please"),
               {"t.yaml:8:17: error: one_packet: expected true or false, got 'yes please'"});
  expect_lines(with_proto("udp", "true", "nat"),
               {"t.yaml:8:17: warning: one_packet: with forward: nat, replies from the backends "
                "are not translated back to the VIP (IPVS keeps no connection entry); fine for "
                "one-way traffic such as SNMP traps or syslog, use forward: dr or tun for "
                "request/response"});
  auto r = load_text(with_proto("udp", "true"), "t.yaml");
  REQUIRE(r.ok());
  CHECK(r.config->services[0].one_packet);
}

TEST_CASE("ipvs: timeouts in whole seconds, allow-listed sysctls as 0 or 1") {
  auto r = load_text(
      "ipvs:\n  timeouts: {tcp: 15m, tcpfin: 2m, udp: 45s}\n"
      "  sysctls: {conntrack: 1, expire_nodest_conn: 1, "
      "expire_quiescent_template: 0}\n",
      "t.yaml");
  REQUIRE(r.error_count() == 0);
  CHECK(r.config->ipvs.timeouts.tcp == 900u);
  CHECK(r.config->ipvs.timeouts.tcpfin == 120u);
  CHECK(r.config->ipvs.timeouts.udp == 45u);
  CHECK(r.config->ipvs.sysctls == std::map<std::string, int>{{"conntrack", 1},
                                                             {"expire_nodest_conn", 1},
                                                             {"expire_quiescent_template", 0}});

  // Unset means untouched: nothing is configured by default.
  r = load_text("ipvs:\n  timeouts: {udp: 30s}\n", "t.yaml");
  REQUIRE(r.error_count() == 0);
  CHECK_FALSE(r.config->ipvs.timeouts.tcp);
  CHECK(r.config->ipvs.timeouts.udp == 30u);
  CHECK(r.config->ipvs.sysctls.empty());
  CHECK(load_text("services: []\n", "t.yaml").config->ipvs == Ipvs{});

  CHECK(joined(diagnostics("ipvs:\n  timeouts: {tcp: 1500ms, udp: 0s, tcpfin: 1000h}\n")) ==
        joined({"t.yaml:2:19: error: tcp: 1.5s is not a whole number of seconds (IPVS counts its "
                "timeouts in seconds)",
                "t.yaml:2:32: error: udp: 0s is out of range 1s..2147483s",
                "t.yaml:2:44: error: tcpfin: 1000h is out of range 1s..2147483s"}));
  CHECK(joined(diagnostics("ipvs:\n  sysctls: {conntrack: 2, sync_threshold: 3}\n")) ==
        joined({"t.yaml:2:24: error: conntrack: 2 is out of range 0..1",
                "t.yaml:2:27: error: unknown key 'sync_threshold' in ipvs.sysctls"}));
  CHECK(joined(diagnostics("ipvs:\n  timeout: {tcp: 1s}\n")) ==
        joined({"t.yaml:2:3: error: unknown key 'timeout' in ipvs; did you mean 'timeouts'?"}));
}

TEST_CASE("ipvs.sync_daemon: follows an existing instance, kernel defaults, ranges checked") {
  const std::string vrrp =
      "vrrp:\n  - {name: VI_1, interface: eth1, vrid: 51, vips: [10.0.0.1/24]}\n";
  auto r = load_text(vrrp + "ipvs:\n  sync_daemon: {instance: VI_1, interface: eth1}\n", "t.yaml");
  REQUIRE(r.error_count() == 0);
  REQUIRE(r.config->ipvs.sync_daemon);
  const auto& d = *r.config->ipvs.sync_daemon;
  CHECK(d.instance == "VI_1");
  CHECK(d.interface == "eth1");
  CHECK(d.sync_id == 0);
  CHECK(d.group.to_string() == "224.0.0.81");
  CHECK(d.port == 8848);
  CHECK(d.ttl == 1);
  CHECK(d.maxlen == 0);
  CHECK(d.backup_on_master);

  r = load_text(vrrp +
                    "ipvs:\n  sync_daemon: {instance: VI_1, interface: eth2, sync_id: 200, group: "
                    "ff02::1:81, port: 9000, ttl: 2, maxlen: 1400, backup_on_master: false}\n",
                "t.yaml");
  REQUIRE(r.error_count() == 0);
  const auto& e = *r.config->ipvs.sync_daemon;
  CHECK(e.sync_id == 200);
  CHECK(e.group.to_string() == "ff02::1:81");
  CHECK(e.port == 9000);
  CHECK(e.ttl == 2);
  CHECK(e.maxlen == 1400);
  CHECK_FALSE(e.backup_on_master);

  CHECK(joined(diagnostics(vrrp + "ipvs:\n  sync_daemon: {instance: VI_2, interface: eth1}\n")) ==
        joined({"t.yaml:4:16: error: ipvs.sync_daemon: instance: no vrrp instance named 'VI_2' "
                "(the sync daemon follows that instance's MASTER/BACKUP state)"}));
  CHECK(
      joined(diagnostics(vrrp + "ipvs:\n  sync_daemon: {instance: VI_1, interface: 'a b', sync_id: "
                                "256, group: 10.0.0.1, ttl: 0}\n")) ==
      joined({"t.yaml:4:44: error: interface: 'a b' is not a valid interface name (1..15 "
              "characters, no '/', ':' or spaces)",
              "t.yaml:4:60: error: sync_id: 256 is out of range 0..255",
              "t.yaml:4:72: error: group: 10.0.0.1 is not a multicast address (the sync daemon "
              "sends to a multicast group; default 224.0.0.81)",
              "t.yaml:4:87: error: ttl: 0 is out of range 1..255"}));
  CHECK(joined(diagnostics(vrrp + "ipvs:\n  sync_daemon: {instance: VI_1}\n")) ==
        joined({"t.yaml:4:16: error: ipvs.sync_daemon: missing required key 'interface'"}));
}

TEST_CASE("snat: true, false or {source}; nat only; source of the VIP's family") {
  auto svc = [](std::string_view vip, std::string_view snat, std::string_view forward = "nat") {
    return with_service(
        fmt::format("    vip: {}\n    port: 80\n    forward: {}\n"
                    "    snat: {}\n    backends: [{{address: 10.0.0.5}}]\n",
                    vip, forward, snat));
  };
  auto r = load_text(svc("10.0.0.1", "true"), "t.yaml");
  REQUIRE(r.ok());
  REQUIRE(r.config->services[0].snat);
  CHECK_FALSE(r.config->services[0].snat->source);
  r = load_text(svc("10.0.0.1", "false"), "t.yaml");
  REQUIRE(r.ok());
  CHECK_FALSE(r.config->services[0].snat);
  r = load_text(svc("10.0.0.1", "{source: 192.0.2.7}"), "t.yaml");
  REQUIRE(r.ok());
  REQUIRE(r.config->services[0].snat->source);
  CHECK(r.config->services[0].snat->source->to_string() == "192.0.2.7");
  r = load_text(svc("10.0.0.1", "{}"), "t.yaml");
  REQUIRE(r.ok());
  CHECK_FALSE(r.config->services[0].snat->source);
  expect_lines(svc("10.0.0.1", "true", "dr"),
               {"t.yaml:8:11: error: snat: only applies to forward: nat (this service uses dr)"});
  expect_lines(svc("10.0.0.1", "{source: fd00::7}"),
               {"t.yaml:8:20: error: snat.source: fd00::7 is not of the VIP's family "
                "(10.0.0.1)"});
  expect_lines(svc("10.0.0.1", "{source: 0.0.0.0}"),
               {"t.yaml:8:20: error: snat.source: 0.0.0.0 cannot be a source address "
                "(unspecified or multicast)"});
  expect_lines(svc("10.0.0.1", "maybe"),
               {"t.yaml:8:11: error: snat: expected true or false, got 'maybe'"});
  CHECK(joined(diagnostics(svc("10.0.0.1", "{sorce: 192.0.2.7}"))).find("did you mean") !=
        std::string::npos);
  // SNAT needs IPVS's conntrack: an explicit 0 beside it is refused.
  expect_lines("ipvs:\n  sysctls: {conntrack: 0}\n" + svc("10.0.0.1", "true"),
               {"t.yaml:6:5: error: snat: service 's' needs ipvs.sysctls.conntrack: 1 (set to "
                "0); without it netfilter never sees IPVS's connections to translate"});
}

TEST_CASE("fwmark: true (a mark from the name) or a number; ranges past 1,000 ports") {
  auto svc = [](std::string_view extra) {
    return with_service(
        fmt::format("    vip: 10.0.0.1\n    ports: [30000-32767]\n{}"
                    "    backends: [{{address: 10.0.0.5}}]\n",
                    extra));
  };
  auto r = load_text(svc("    fwmark: true\n"), "t.yaml");
  REQUIRE(r.ok());
  CHECK(r.config->services[0].fwmark == auto_fwmark("s"));
  CHECK(r.config->services[0].ports.size() == 2768);
  CHECK((auto_fwmark("s") & 0xff000000u) == 0x4c000000u);
  CHECK(auto_fwmark("s") != auto_fwmark("t"));
  r = load_text(svc("    fwmark: 4711\n"), "t.yaml");
  REQUIRE(r.ok());
  CHECK(r.config->services[0].fwmark == 4711u);
  // Without fwmark the range is over the cap.
  CHECK(joined(diagnostics(svc(""))).find("has 2768 ports; the limit is 1000 per range") !=
        std::string::npos);
  CHECK(joined(diagnostics(svc("    fwmark: false\n"))).find("the limit is 1000") !=
        std::string::npos);
  expect_lines(svc("    fwmark: 0\n"),
               {"t.yaml:7:13: error: fwmark: 0 is out of range 1..4294967295"});
  expect_lines(
      with_service("    vip: 10.0.0.1\n    port: 80\n    fwmark: true\n"
                   "    backends: [{address: 10.0.0.5, port: 8080}]\n"),
      {"t.yaml:8:16: error: port: a fwmark service keeps each connection's own port; backend "
       "10.0.0.5 cannot set one"});
  expect_lines(svc("    fwmark: true\n    health: {per_port: true}\n"),
               {"t.yaml:8:13: error: health: per_port: true cannot apply to a fwmark service (one "
                "IPVS service for all its ports; one check per backend decides)"});
  CHECK(
      joined(
          diagnostics(
              "services:\n"
              "  - {name: a, vip: 10.0.0.1, ports: [1000-2999], fwmark: 5, backends: [10.0.0.5]}\n"
              "  - {name: b, vip: 10.0.0.2, ports: [1000-2999], fwmark: 5, backends: "
              "[10.0.0.5]}\n"))
          .find("t.yaml:3:5: error: fwmark: service 'b' has the mark 0x5 of service 'a'; set a "
                "distinct fwmark: NUMBER on one of them\n") != std::string::npos);
}

TEST_CASE("ipvs.reconcile_interval: 10s by default, 0 turns it off, 1s..1h otherwise") {
  CHECK(load_text("services: []\n", "t.yaml").config->ipvs.reconcile_interval ==
        std::chrono::seconds(10));
  auto r = load_text("ipvs:\n  reconcile_interval: 0\n", "t.yaml");
  REQUIRE(r.config);
  CHECK(r.config->ipvs.reconcile_interval.count() == 0);
  r = load_text("ipvs:\n  reconcile_interval: 2m\n", "t.yaml");
  REQUIRE(r.config);
  CHECK(r.config->ipvs.reconcile_interval == std::chrono::minutes(2));
  CHECK(joined(diagnostics("ipvs:\n  reconcile_interval: 500ms\n")) ==
        joined({"t.yaml:2:23: error: reconcile_interval: 500ms is too short (0 for off, or at "
                "least 1s)"}));
  CHECK_FALSE(diagnostics("ipvs:\n  reconcile_interval: 2h\n").empty());
  CHECK_FALSE(diagnostics("ipvs:\n  reconcile_interval: -1s\n").empty());
  Config a = *load_text("services: []\n", "t.yaml").config, b = a;
  b.ipvs.reconcile_interval = std::chrono::seconds(30);
  CHECK(diff(a, b).global_fields == std::vector<std::string>{"ipvs.reconcile_interval"});
}
