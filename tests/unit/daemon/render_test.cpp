#include "ctl/render.hpp"

#include <catch2/catch.hpp>

using namespace l4lb::ctl;
using nlohmann::json;

TEST_CASE("ages and rates are short and readable") {
  CHECK(format_age(5) == "5s");
  CHECK(format_age(252) == "4m12s");
  CHECK(format_age(7380) == "2h03m");
  CHECK(format_age(-1) == "-");
  CHECK(format_si(999) == "999");
  CHECK(format_si(1234567) == "1.2M");
}

TEST_CASE("tables align columns") {
  auto t = format_table({{"A", "BB"}, {"ccc", "d"}}, "");
  CHECK(t == "A    BB\nccc  d\n");
}

TEST_CASE("status shows instances, services, backends and a rejected reload") {
  auto status = json::parse(R"({
    "daemon": {"node": "lb-a", "version": "0.1.0", "started_at": 100, "config_file": "/etc/l4lb.yaml",
               "generation": 2,
               "last_reload": {"ok": false, "time": 150, "errors": ["/etc/l4lb.yaml:3:5: error: bad"]}},
    "vrrp": [{"name": "ingress", "family": "ipv4", "interface": "eth1", "vrid": 51,
              "state": "MASTER", "priority": 150, "priority_configured": 150, "since": 110,
              "master": "10.0.0.2", "vips": ["10.0.0.1/24"]}],
    "services": [{"name": "ldap", "vip": "10.0.0.1", "port": 389, "protocol": "tcp",
                  "scheduler": "lc", "forward": "nat", "healthy": 1, "quorum": 2,
                  "quorum_met": false, "in_kernel": true,
                  "backends": [{"address": "192.168.1.1", "port": 389, "weight": 0,
                                "weight_configured": 1, "health": "up", "drained": true,
                                "in_kernel": true, "latency_ms": 0.4}]}],
    "ipvs": {"enabled": true, "available": true}
  })");
  auto text = render_status(status, 200);
  CHECK(text.find("last reload: REJECTED 50s ago") != std::string::npos);
  CHECK(text.find("/etc/l4lb.yaml:3:5: error: bad") != std::string::npos);
  CHECK(text.find("ingress") != std::string::npos);
  CHECK(text.find("MASTER") != std::string::npos);
  CHECK(text.find("150(150)") != std::string::npos);
  CHECK(text.find("10.0.0.1:389/tcp") != std::string::npos);
  CHECK(text.find("1/2 BELOW QUORUM") != std::string::npos);
  CHECK(text.find("192.168.1.1:389") != std::string::npos);
  CHECK(text.find("up,drained") != std::string::npos);
  CHECK(text.find("0.4ms") != std::string::npos);
}

TEST_CASE("status shows a backend's health per port of a multi-port service") {
  auto status = json::parse(R"({
    "services": [{"name": "ldap", "vip": "10.0.0.1", "port": 389, "protocol": "tcp",
                  "scheduler": "lc", "forward": "nat", "healthy": 1, "quorum": 1,
                  "quorum_met": false, "in_kernel": true,
                  "backends": [{"address": "192.168.1.1", "port": 389, "weight": 1,
                                "weight_configured": 1, "health": "up", "in_kernel": true}]},
                 {"name": "ldap", "vip": "10.0.0.1", "port": 636, "protocol": "tcp",
                  "scheduler": "lc", "forward": "nat", "healthy": 0, "quorum": 1,
                  "quorum_met": false, "in_kernel": true,
                  "backends": [{"address": "192.168.1.1", "port": 636, "weight": null,
                                "weight_configured": 1, "health": "down", "in_kernel": false,
                                "last_error": "refused: connection refused"}]}],
    "ipvs": {"enabled": true, "available": true}
  })");
  auto text = render_status(status, 200);
  const auto a = text.find("10.0.0.1:389/tcp"), b = text.find("10.0.0.1:636/tcp");
  REQUIRE(a != std::string::npos);
  REQUIRE(b != std::string::npos);
  REQUIRE(a < b);
  // 389's table shows the backend up and in the kernel; 636's shows it down and absent.
  const std::string first = text.substr(a, b - a), second = text.substr(b);
  CHECK(first.find("192.168.1.1:389") != std::string::npos);
  CHECK(first.find("1(1)") != std::string::npos);
  CHECK(first.find(" up ") != std::string::npos);
  CHECK(first.find("down") == std::string::npos);
  CHECK(second.find("192.168.1.1:636") != std::string::npos);
  CHECK(second.find("absent(1)") != std::string::npos);
  CHECK(second.find("down") != std::string::npos);
  CHECK(second.find("1/1 BELOW QUORUM") == std::string::npos);
  CHECK(second.find("0/1 BELOW QUORUM") != std::string::npos);
  CHECK(second.find("refused") != std::string::npos);
}

TEST_CASE("status shows one-packet services and the ipvs tuning with its errors") {
  auto status = json::parse(R"({
    "services": [{"name": "traps", "vip": "10.0.0.1", "port": 162, "protocol": "udp",
                  "scheduler": "rr", "one_packet": true, "forward": "dr", "in_kernel": true,
                  "backends": []}],
    "ipvs": {"enabled": true, "available": true, "tuning": {
      "timeouts": {"configured": {"tcp": 900, "tcpfin": null, "udp": 30},
                   "kernel": {"tcp": 900, "tcpfin": 120, "udp": 30}, "error": null},
      "sysctls": [{"name": "conntrack", "configured": 1, "value": 0,
                   "error": "cannot write /proc/sys/net/ipv4/vs/conntrack: Read-only file system"},
                  {"name": "expire_nodest_conn", "configured": 1, "value": 1, "error": null}]}}
  })");
  auto text = render_status(status, 200);
  CHECK(text.find("10.0.0.1:162/udp  rr+ops") != std::string::npos);
  CHECK(text.find("IPVS timeouts: tcp 900s tcpfin 120s udp 30s\n") != std::string::npos);
  CHECK(text.find("IPVS timeouts: ERROR") == std::string::npos);
  CHECK(text.find("IPVS sysctl conntrack: ERROR: cannot write /proc/sys/net/ipv4/vs/conntrack: "
                  "Read-only file system\n") != std::string::npos);
  CHECK(text.find("IPVS sysctl expire_nodest_conn: ERROR") == std::string::npos);
  CHECK(text.find("IPVS sysctls: conntrack=0 expire_nodest_conn=1\n") != std::string::npos);

  status["ipvs"]["tuning"] = json::parse(R"({"timeouts": {"configured": {"udp": 30},
      "kernel": null, "error": "IPVS unavailable: module ip_vs not loaded"}, "sysctls": []})");
  text = render_status(status, 200);
  CHECK(text.find("IPVS timeouts: ERROR: IPVS unavailable: module ip_vs not loaded\n") !=
        std::string::npos);
  CHECK(text.find("IPVS timeouts: tcp") == std::string::npos);
  CHECK(text.find("IPVS sysctls:") == std::string::npos);
  // Without the section (ipvs: not configured) nothing is shown.
  status["ipvs"].erase("tuning");
  CHECK(render_status(status, 200).find("IPVS") == std::string::npos);
}

TEST_CASE("status shows the sync daemons, the IPVS connections and a sync error") {
  auto status = json::parse(R"({
    "ipvs": {"enabled": true, "available": true, "sync": {
      "configured": {"instance": "VI_1", "interface": "eth1"}, "instance_master": true,
      "wanted": ["master", "backup"],
      "running": [{"role": "master", "interface": "eth1", "sync_id": 7, "group": "224.0.0.81",
                   "port": 8848, "ttl": 1, "maxlen": 1472},
                  {"role": "backup", "interface": "eth1", "sync_id": 7, "group": "224.0.0.81",
                   "port": 8848, "ttl": 1, "maxlen": 1472}],
      "in_sync": true, "last_error": null, "connections": {"active": 180, "inactive": 20}}}
  })");
  auto text = render_status(status, 200);
  CHECK(text.find("IPVS sync: instance VI_1 MASTER; running master+backup on eth1 id 7 "
                  "224.0.0.81:8848 ttl 1 maxlen 1472; IPVS connections 180 active 20 "
                  "inactive\n") != std::string::npos);
  CHECK(text.find("IPVS sync: ERROR") == std::string::npos);
  status["ipvs"]["sync"]["running"] = nullptr;
  status["ipvs"]["sync"]["instance_master"] = false;
  status["ipvs"]["sync"]["last_error"] = "IPVS start sync backup on eth1: No such device";
  text = render_status(status, 200);
  CHECK(text.find("IPVS sync: instance VI_1 not MASTER; running none; IPVS connections 180 "
                  "active 20 inactive\n") != std::string::npos);
  CHECK(text.find("IPVS sync: ERROR: IPVS start sync backup on eth1: No such device\n") !=
        std::string::npos);
}

TEST_CASE("status shows the IPVS drift checks: what was found, repairs, errors") {
  auto status = json::parse(R"({
    "ipvs": {"enabled": true, "available": true, "repair": {
      "reconcile_interval_ms": 10000, "runs_total": 60, "repairs_total": 2, "errors_total": 0,
      "resyncs_total": 1, "nobufs_total": 4,
      "drift_total": {"missing_service": 2, "missing_destination": 0, "service_settings": 0,
                      "destination_settings": 1, "extra_destination": 0},
      "last_error": null}}
  })");
  auto text = render_status(status, 200);
  CHECK(text.find("IPVS drift: 3 found (destination_settings 1, missing_service 2), 2 repairs, "
                  "0 check errors, 1 resyncs, 4 ENOBUFS; checked every 10s (60 checks)\n") !=
        std::string::npos);
  status["ipvs"]["repair"]["reconcile_interval_ms"] = 0;
  status["ipvs"]["repair"]["last_error"] = "IPVS service dump failed: Operation not permitted";
  text = render_status(status, 200);
  CHECK(text.find("; periodic check off\n") != std::string::npos);
  CHECK(text.find("IPVS drift check: ERROR: IPVS service dump failed: Operation not permitted\n") !=
        std::string::npos);
  status["ipvs"].erase("repair");
  CHECK(render_status(status, 200).find("IPVS drift") == std::string::npos);
}

TEST_CASE("a large summary counts the services that are fine instead of listing them") {
  auto status = json::parse(R"({
    "daemon": {"node": "lb-a", "started_at": 100},
    "services": [{"name": "ldap", "vip": "10.0.0.1", "port": 389, "protocol": "tcp",
                  "healthy": 0, "quorum": 1, "quorum_met": false, "in_kernel": true,
                  "backends_total": 1, "backends": [{"address": "192.168.1.1", "port": 389,
                  "health": "down", "in_kernel": true}]}],
    "services_fine": ["web", "dns", "mail"]
  })");
  auto text = render_status(status, 200);
  CHECK(text.find("1/0 BELOW QUORUM") == std::string::npos);
  CHECK(text.find("0/1 BELOW QUORUM") != std::string::npos);
  CHECK(text.find("3 more service(s) fine, not listed") != std::string::npos);
  status["services"] = json::array();
  text = render_status(status, 200);
  CHECK(text.find("SERVICES: 3 service(s) fine, not listed (l4lbctl status NAME or --view full "
                  "lists them)") != std::string::npos);
  status.erase("services_fine");
  CHECK(render_status(status, 200).find("SERVICES: none") != std::string::npos);
}

TEST_CASE("a large summary counts the services awaiting their first checks") {
  auto status = json::parse(R"({
    "daemon": {"node": "lb-a", "started_at": 100},
    "services": [],
    "services_fine": ["web", "dns"],
    "services_awaiting_checks": ["new-1", "new-2", "new-3", "new-4"]
  })");
  auto text = render_status(status, 200);
  CHECK(text.find("SERVICES: 2 service(s) fine, not listed (l4lbctl status NAME or --view full "
                  "lists them)\n4 more service(s) awaiting their first health checks, not "
                  "listed") != std::string::npos);
  status["services_fine"] = json::array();
  text = render_status(status, 200);
  CHECK(text.find("SERVICES: 4 service(s) awaiting their first health checks, not listed") !=
        std::string::npos);
}
