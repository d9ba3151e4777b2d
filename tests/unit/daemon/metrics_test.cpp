#include "daemon/metrics.hpp"

#include <catch2/catch.hpp>
#include <set>
#include <sstream>
#include <string>

using l4lb::daemon::render_metrics;
using nlohmann::json;

namespace {
json sample_status() {
  return json::parse(R"({
    "daemon": {"node": "lb-a", "version": "0.1.0", "generation": 3, "reloads_ok": 2,
               "reloads_failed": 1, "started_at": 1000.5,
               "last_reload": {"ok": false, "time": 2000},
               "process": {"resident_bytes": 52428800, "peak_resident_bytes": 67108864,
                           "virtual_bytes": 1073741824, "open_fds": 120, "max_fds": 65536,
                           "cpu_seconds": 12.5},
               "allocator": {"allocated_bytes": 35651584, "resident_bytes": 41943040}},
    "vrrp": [{"name": "ingress", "family": "ipv4", "state": "MASTER", "priority": 90,
              "priority_configured": 150, "transitions": 2, "adverts_sent": 10,
              "adverts_received": 4, "drops": {"bad_checksum": 3, "ttl": 1},
              "vips": ["10.0.0.1/24"]}],
    "services": [{"name": "ldap", "vip": "10.0.0.1", "port": 389, "protocol": "tcp",
                  "healthy": 2, "quorum_met": true, "active_conns": 5, "inactive_conns": 1,
                  "conns_total": 77, "packets_in": 1, "packets_out": 2, "bytes_in": 3,
                  "bytes_out": 4,
                  "backends": [{"address": "192.168.1.1", "port": 389, "weight": 1,
                                "active_conns": 5, "conns_total": 77}]}],
    "health": [{"service": "ldap", "port": 389, "backend": "192.168.1.1", "status": "up",
                "checks": 9, "failures": {"timeout": 2},
                "latency_histogram": {"buckets": [[0.001, 3], [0.01, 7]], "sum": 0.02,
                                      "count": 7}},
               {"service": "ldap", "port": 636, "backend": "192.168.1.1", "status": "down",
                "checks": 9, "failures": {"refused": 9}},
               {"service": "web", "port": null, "backend": "192.168.1.1", "status": "up",
                "checks": 4}],
    "health_checker": {"half_open": {"syns_sent": 20, "answers": 18, "stray": 1,
                                     "malformed": 0, "send_errors": 1,
                                     "buffer_overflows": 4}},
    "ipvs": {"available": true, "operations_total": 12, "operation_errors_total": 1}
  })");
}
bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos || text.rfind(line + "\n", 0) == 0;
}
}  // namespace

TEST_CASE("metrics carry VRRP state, VIP location, IPVS traffic and health") {
  auto text = render_metrics(sample_status());
  CHECK(
      has_line(text, R"(l4lb_vrrp_state{vrrp_instance="ingress",family="ipv4",state="MASTER"} 1)"));
  CHECK(
      has_line(text, R"(l4lb_vrrp_state{vrrp_instance="ingress",family="ipv4",state="BACKUP"} 0)"));
  CHECK(has_line(text, R"(l4lb_vrrp_priority{vrrp_instance="ingress",family="ipv4"} 90)"));
  CHECK(has_line(
      text,
      R"(l4lb_vrrp_drops_total{vrrp_instance="ingress",family="ipv4",reason="bad_checksum"} 3)"));
  CHECK(has_line(text, R"(l4lb_vip_master{vrrp_instance="ingress",vip="10.0.0.1/24"} 1)"));
  CHECK(has_line(
      text,
      R"(l4lb_ipvs_service_current_connections{service="ldap",vip="10.0.0.1",port="389",protocol="tcp",state="active"} 5)"));
  // Per backend: gauges and new connections; packets and bytes only per service.
  CHECK(has_line(
      text,
      R"(l4lb_ipvs_backend_current_connections{service="ldap",vip="10.0.0.1",port="389",protocol="tcp",backend="192.168.1.1",backend_port="389",state="active"} 5)"));
  CHECK(has_line(
      text,
      R"(l4lb_ipvs_backend_connections_total{service="ldap",vip="10.0.0.1",port="389",protocol="tcp",backend="192.168.1.1",backend_port="389"} 77)"));
  CHECK(text.find("l4lb_ipvs_backend_packets_total") == std::string::npos);
  CHECK(text.find("l4lb_ipvs_backend_bytes_total") == std::string::npos);
  CHECK(has_line(
      text,
      R"(l4lb_ipvs_service_connections_total{service="ldap",vip="10.0.0.1",port="389",protocol="tcp"} 77)"));
  // Health series name the port each check stands for; "all" for a shared check.
  CHECK(has_line(text, R"(l4lb_backend_up{service="ldap",port="389",backend="192.168.1.1"} 1)"));
  CHECK(has_line(text, R"(l4lb_backend_up{service="ldap",port="636",backend="192.168.1.1"} 0)"));
  CHECK(has_line(text, R"(l4lb_backend_up{service="web",port="all",backend="192.168.1.1"} 1)"));
  // Check counts, failures and durations are summed per service (every port and backend).
  CHECK(has_line(text, R"(l4lb_health_checks_total{service="ldap"} 18)"));
  CHECK(has_line(text, R"(l4lb_health_checks_total{service="web"} 4)"));
  CHECK(has_line(text, R"(l4lb_health_check_failures_total{service="ldap",reason="timeout"} 2)"));
  CHECK(has_line(text, R"(l4lb_health_check_failures_total{service="ldap",reason="refused"} 9)"));
  CHECK(has_line(text, R"(l4lb_health_check_duration_seconds_bucket{service="ldap",le="0.01"} 7)"));
  CHECK(has_line(text, R"(l4lb_health_check_duration_seconds_bucket{service="ldap",le="+Inf"} 7)"));
  CHECK(has_line(text, R"(l4lb_health_check_duration_seconds_count{service="ldap"} 7)"));
  CHECK(text.find(R"(l4lb_health_checks_total{service="ldap",port=)") == std::string::npos);
  CHECK(has_line(text, "l4lb_health_half_open_syns_sent_total 20"));
  CHECK(has_line(text, "l4lb_health_half_open_answers_total 18"));
  CHECK(has_line(text, R"(l4lb_health_half_open_dropped_total{reason="stray"} 1)"));
  CHECK(has_line(text, R"(l4lb_health_half_open_dropped_total{reason="malformed"} 0)"));
  CHECK(has_line(text, "l4lb_health_half_open_send_errors_total 1"));
  CHECK(has_line(text, R"(l4lb_health_half_open_dropped_total{reason="buffer_full"} 4)"));
  CHECK(has_line(text, R"(l4lb_reloads_total{result="failed"} 1)"));
  CHECK(has_line(text, "l4lb_last_reload_success 0"));
  CHECK(has_line(text, "l4lb_config_generation 3"));
}

TEST_CASE("the daemon's footprint under the standard process collector names") {
  auto text = render_metrics(sample_status());
  CHECK(has_line(text, "process_resident_memory_bytes 52428800"));
  CHECK(has_line(text, "l4lb_process_peak_resident_memory_bytes 67108864"));
  CHECK(has_line(text, "process_virtual_memory_bytes 1073741824"));
  CHECK(has_line(text, "process_open_fds 120"));
  CHECK(has_line(text, "process_max_fds 65536"));
  CHECK(has_line(text, "process_cpu_seconds_total 12.5"));
  CHECK(has_line(text, "process_start_time_seconds 1000.5"));
  CHECK(has_line(text, "l4lb_allocator_allocated_bytes 35651584"));
  CHECK(has_line(text, "l4lb_allocator_resident_bytes 41943040"));
  // Without them (/proc unreadable) the series are left out, not reported as 0.
  auto status = sample_status();
  status["daemon"].erase("process");
  status["daemon"].erase("allocator");  // a build without jemalloc
  text = render_metrics(status);
  CHECK(text.find("process_") == std::string::npos);
  CHECK(text.find("l4lb_allocator_") == std::string::npos);
}

TEST_CASE("each metric family has exactly one HELP and TYPE, before its samples") {
  auto text = render_metrics(sample_status());
  std::size_t pos = 0;
  int type_lines = 0;
  while ((pos = text.find("# TYPE l4lb_vrrp_state ", pos)) != std::string::npos) {
    ++type_lines;
    ++pos;
  }
  CHECK(type_lines == 1);
  CHECK(text.find("# TYPE l4lb_vrrp_state ") < text.find("l4lb_vrrp_state{"));
}

TEST_CASE("label values are escaped and a malformed document renders without throwing") {
  json s = sample_status();
  s["vrrp"][0]["name"] = "a\"b\\c\nd";
  auto text = render_metrics(s);
  CHECK(text.find(R"(vrrp_instance="a\"b\\c\nd")") != std::string::npos);
  CHECK_NOTHROW(render_metrics(json::parse(R"({"vrrp": 5, "services": [1, "x"], "daemon": []})")));
}

namespace {
// Label names of one sample line `name{a="x",b="y"} value` (values may hold escaped quotes).
std::vector<std::string> label_names(const std::string& line) {
  std::vector<std::string> names;
  auto open = line.find('{');
  if (open == std::string::npos) return names;
  std::size_t i = open + 1;
  while (i < line.size() && line[i] != '}') {
    auto eq = line.find('=', i);
    if (eq == std::string::npos) break;
    names.push_back(line.substr(i, eq - i));
    i = eq + 2;  // past ="
    while (i < line.size() && line[i] != '"') i += line[i] == '\\' ? 2 : 1;
    ++i;  // past the closing quote
    if (i < line.size() && line[i] == ',') ++i;
  }
  return names;
}
}  // namespace

TEST_CASE("no series uses a label Prometheus sets on every target (instance, job)") {
  // Prometheus attaches `instance` and `job` to every scraped series; a metric carrying either
  // arrives renamed to exported_instance / exported_job (honor_labels off, the default).
  json s = sample_status();
  s["vrrp"][0]["name"] = "x\",instance=\"y";  // a value that looks like a label stays a value
  auto text = render_metrics(s);
  std::istringstream in(text);
  std::set<std::string> seen;
  int samples = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    ++samples;
    for (const auto& name : label_names(line)) {
      INFO(line);
      CHECK(name != "instance");
      CHECK(name != "job");
      CHECK(name.rfind("__", 0) != 0);  // reserved for Prometheus itself
      seen.insert(name);
    }
  }
  CHECK(samples > 50);
  // The parser above really sees labels (a broken one would pass vacuously).
  CHECK(seen.count("vrrp_instance") == 1);
  CHECK(seen.count("service") == 1);
  CHECK(seen.count("le") == 1);
}

TEST_CASE("metric names follow Prometheus conventions: counters end in _total, nothing else does") {
  auto text = render_metrics(sample_status());
  std::istringstream in(text);
  int families = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("# TYPE ", 0) != 0) continue;
    ++families;
    std::istringstream t(line.substr(7));
    std::string name, type;
    t >> name >> type;
    INFO(line);
    // Ours are l4lb_*; the process collector's keep Prometheus' standard names.
    static const std::set<std::string> process = {"process_resident_memory_bytes",
                                                  "process_virtual_memory_bytes",
                                                  "process_open_fds",
                                                  "process_max_fds",
                                                  "process_cpu_seconds_total",
                                                  "process_start_time_seconds"};
    CHECK((name.rfind("l4lb_", 0) == 0 || process.count(name) == 1));
    const bool total = name.size() > 6 && name.compare(name.size() - 6, 6, "_total") == 0;
    CHECK(total == (type == "counter"));
    if (type == "histogram") CHECK(name.find("_seconds") != std::string::npos);
  }
  CHECK(families > 20);
}

TEST_CASE("sync daemon metrics: roles running and wanted, counters, IPVS connections") {
  auto status = sample_status();
  CHECK(render_metrics(status).find("l4lb_ipvs_sync") == std::string::npos);  // not configured
  status["ipvs"]["sync"] = json::parse(R"({
    "configured": {"instance": "ingress"}, "instance_master": false, "wanted": ["backup"],
    "running": [{"role": "master"}, {"role": "backup"}], "in_sync": false,
    "role_changes_total": 3, "errors_total": 2, "last_error": "x",
    "connections": {"active": 180, "inactive": 20}})");
  auto text = render_metrics(status);
  CHECK(has_line(text, R"(l4lb_ipvs_sync_daemon_running{role="master"} 1)"));
  CHECK(has_line(text, R"(l4lb_ipvs_sync_daemon_running{role="backup"} 1)"));
  CHECK(has_line(text, R"(l4lb_ipvs_sync_daemon_wanted{role="master"} 0)"));
  CHECK(has_line(text, R"(l4lb_ipvs_sync_daemon_wanted{role="backup"} 1)"));
  CHECK(has_line(text, "l4lb_ipvs_sync_instance_master 0"));
  CHECK(has_line(text, "l4lb_ipvs_sync_role_changes_total 3"));
  CHECK(has_line(text, "l4lb_ipvs_sync_errors_total 2"));
  CHECK(has_line(text, R"(l4lb_ipvs_connections{state="active"} 180)"));
  CHECK(has_line(text, R"(l4lb_ipvs_connections{state="inactive"} 20)"));
  // "running": null (the kernel could not be read) is no daemon, not a crash.
  status["ipvs"]["sync"]["running"] = nullptr;
  CHECK(has_line(render_metrics(status), R"(l4lb_ipvs_sync_daemon_running{role="master"} 0)"));
}

TEST_CASE("metrics carry the nft table's state and counters") {
  auto status = sample_status();
  auto text = render_metrics(status);
  CHECK(has_line(text, "l4lb_nft_table_in_sync 1"));  // no table wanted, none there
  CHECK(has_line(text, "l4lb_nft_apply_errors_total 0"));
  status["nft"] = json::parse(R"({"table": "inet l4lb", "wanted": true, "present": false,
                                  "in_sync": false, "apply_errors_total": 3,
                                  "repairs_total": 2})");
  text = render_metrics(status);
  CHECK(has_line(text, "l4lb_nft_table_in_sync 0"));
  CHECK(has_line(text, "l4lb_nft_apply_errors_total 3"));
  CHECK(has_line(text, "l4lb_nft_repairs_total 2"));
}

TEST_CASE("IPVS drift repair counters: 0 before IPVS is open, then by kind") {
  json st = sample_status();
  CHECK(render_metrics(st).find("l4lb_ipvs_drift_total{") == std::string::npos);
  CHECK(has_line(render_metrics(st), "l4lb_ipvs_drift_repairs_total 0"));
  st["ipvs"]["repair"] = json::parse(R"({
    "runs_total": 60, "repairs_total": 5, "errors_total": 1, "resyncs_total": 2,
    "nobufs_total": 4,
    "drift_total": {"missing_service": 2, "missing_destination": 1, "service_settings": 0,
                    "destination_settings": 1, "extra_destination": 1}})");
  const auto text = render_metrics(st);
  CHECK(has_line(text, "l4lb_ipvs_reconcile_runs_total 60"));
  CHECK(has_line(text, R"(l4lb_ipvs_drift_total{kind="missing_service"} 2)"));
  CHECK(has_line(text, R"(l4lb_ipvs_drift_total{kind="service_settings"} 0)"));
  CHECK(has_line(text, R"(l4lb_ipvs_drift_total{kind="extra_destination"} 1)"));
  CHECK(has_line(text, "l4lb_ipvs_drift_repairs_total 5"));
  CHECK(has_line(text, "l4lb_ipvs_reconcile_errors_total 1"));
  CHECK(has_line(text, "l4lb_ipvs_resyncs_total 2"));
  CHECK(has_line(text, "l4lb_ipvs_netlink_nobufs_total 4"));
}

TEST_CASE("metrics fed in runs equal the metrics of the whole document") {
  json doc = sample_status();
  // A second service and more checks, so that runs split services and checks of one service.
  json web = doc["services"][0];
  web["name"] = "web";
  web["port"] = 80;
  doc["services"].push_back(web);
  doc["health"].push_back(json::parse(
      R"({"service": "web", "port": null, "backend": "192.168.1.2", "status": "down",
          "checks": 3, "failures": {"timeout": 3},
          "latency_histogram": {"buckets": [[0.001, 0], [0.01, 1]], "sum": 3.0, "count": 3}})"));
  const std::string whole = render_metrics(doc);
  l4lb::daemon::MetricsBuilder b;
  b.sections(doc);
  for (const auto& s : doc["services"]) b.services(json::array({s}));
  for (const auto& c : doc["health"]) b.checks(json::array({c}));
  CHECK(b.text() == whole);
  CHECK(has_line(whole, R"(l4lb_health_check_duration_seconds_bucket{service="web",le="0.01"} 1)"));
  CHECK(has_line(whole, R"(l4lb_health_checks_total{service="web"} 7)"));
}
