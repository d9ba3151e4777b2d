#include "ctl/render.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace l4lb::ctl {
namespace {

using nlohmann::json;

std::string s(const json& j, const char* key, const std::string& fallback = "-") {
  if (!j.is_object() || !j.contains(key) || j[key].is_null()) return fallback;
  const auto& v = j[key];
  if (v.is_string()) return v.get<std::string>().empty() ? fallback : v.get<std::string>();
  if (v.is_number_integer()) return std::to_string(v.get<long long>());
  if (v.is_number()) return fmt::format("{:.1f}", v.get<double>());
  if (v.is_boolean()) return v.get<bool>() ? "yes" : "no";
  return fallback;
}

// Like json::value(), but never throws on a document of another shape.
json get(const json& j, const char* key, json fallback) {
  if (!j.is_object() || !j.contains(key) || j[key].type() != fallback.type()) return fallback;
  return j[key];
}

bool flag(const json& j, const char* key, bool fallback) {
  return get(j, key, fallback).get<bool>();
}

double n(const json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_number() ? j[key].get<double>() : 0.0;
}

std::string join(const json& arr, const char* sep = ",") {
  std::string out;
  if (!arr.is_array()) return "-";
  for (const auto& v : arr) {
    if (!out.empty()) out += sep;
    out += v.is_string() ? v.get<std::string>() : v.dump();
  }
  return out.empty() ? "-" : out;
}

std::string header(const json& d, double now) {
  std::string out = fmt::format("node {}  l4lbd {}  up {}  config {} (generation {})\n",
                                s(d, "node"), s(d, "version"), format_age(now - n(d, "started_at")),
                                s(d, "config_file"), s(d, "generation"));
  if (d.contains("last_reload") && d["last_reload"].is_object()) {
    const auto& r = d["last_reload"];
    if (flag(r, "ok", true)) {
      out += fmt::format("last reload: ok, {} ago\n", format_age(now - n(r, "time")));
    } else {
      out += fmt::format("last reload: REJECTED {} ago, running config unchanged:\n",
                         format_age(now - n(r, "time")));
      for (const auto& e : get(r, "errors", json::array()))
        out += "  " + (e.is_string() ? e.get<std::string>() : e.dump()) + "\n";
    }
  }
  return out;
}

std::string vrrp_section(const json& instances, double now) {
  if (!instances.is_array() || instances.empty()) return "VRRP: no instances\n";
  std::vector<std::vector<std::string>> rows = {
      {"INSTANCE", "FAMILY", "IFACE", "VRID", "STATE", "PRIO(CONF)", "SINCE", "MASTER", "VIPS"}};
  for (const auto& i : instances) {
    rows.push_back({s(i, "name"), s(i, "family"), s(i, "interface"), s(i, "vrid"), s(i, "state"),
                    s(i, "priority") + "(" + s(i, "priority_configured") + ")",
                    format_age(now - n(i, "since")), s(i, "master"),
                    join(get(i, "vips", json::array()))});
  }
  return "VRRP\n" + format_table(rows);
}

std::string backend_rows(const json& backends) {
  std::vector<std::vector<std::string>> rows = {
      {"BACKEND", "WEIGHT(CONF)", "HEALTH", "LATENCY", "ACTIVE", "INACT", "LAST ERROR"}};
  for (const auto& b : backends) {
    std::string health = s(b, "health");
    if (flag(b, "drained", false)) health += ",drained";
    std::string latency = b.contains("latency_ms") && b["latency_ms"].is_number()
                              ? fmt::format("{:.1f}ms", b["latency_ms"].get<double>())
                              : "-";
    std::string weight = flag(b, "in_kernel", false) ? s(b, "weight") : "absent";
    std::string address = s(b, "address");
    if (address.find(':') != std::string::npos) address = "[" + address + "]";
    rows.push_back({address + ":" + s(b, "port"), weight + "(" + s(b, "weight_configured") + ")",
                    health, latency, s(b, "active_conns", "0"), s(b, "inactive_conns", "0"),
                    s(b, "last_error")});
  }
  return format_table(rows, "      ");
}

std::string services_section(const json& services, const json& fine, const json& awaiting) {
  const std::size_t n_fine = fine.is_array() ? fine.size() : 0;
  const std::size_t n_awaiting = awaiting.is_array() ? awaiting.size() : 0;
  const bool listed = services.is_array() && !services.empty();
  // A large summary names the services with nothing to look at (fine, or new and waiting for
  // their first check's answer) instead of listing them.
  std::string folded_lines;
  if (n_fine)
    folded_lines += fmt::format(
        "{} {}service(s) fine, not listed (l4lbctl status NAME or --view full lists them)\n",
        n_fine, listed ? "more " : "");
  if (n_awaiting)
    folded_lines += fmt::format(
        "{} {}service(s) awaiting their first health checks, not listed (l4lbctl status NAME or "
        "--view full lists them)\n",
        n_awaiting, listed || n_fine ? "more " : "");
  if (!listed) return folded_lines.empty() ? "SERVICES: none\n" : "SERVICES: " + folded_lines;
  std::string out = "SERVICES\n";
  for (const auto& svc : services) {
    std::string vip = s(svc, "vip");
    if (vip.find(':') != std::string::npos) vip = "[" + vip + "]";
    std::string quorum = fmt::format("{}/{} {}", s(svc, "healthy", "0"), s(svc, "quorum", "0"),
                                     flag(svc, "quorum_met", true) ? "ok" : "BELOW QUORUM");
    std::vector<std::vector<std::string>> rows = {
        {"SERVICE", "VIRTUAL SERVICE", "SCHED", "FWD", "HEALTHY/QUORUM", "ACTIVE", "INACT",
         "CONN/s", "PKT/s in/out", "BYTES/s in/out"},
        {s(svc, "name"), vip + ":" + s(svc, "port") + "/" + s(svc, "protocol"),
         s(svc, "scheduler") + (flag(svc, "one_packet", false) ? "+ops" : ""), s(svc, "forward"),
         quorum, s(svc, "active_conns", "0"), s(svc, "inactive_conns", "0"),
         format_si(n(svc, "cps")), format_si(n(svc, "pps_in")) + "/" + format_si(n(svc, "pps_out")),
         format_si(n(svc, "bps_in")) + "/" + format_si(n(svc, "bps_out"))}};
    if (!flag(svc, "in_kernel", true)) rows[1][1] += " (not in kernel)";
    out += format_table(rows);
    const json backends = get(svc, "backends", json::array());
    const double total = n(svc, "backends_total");
    if (!backends.empty()) out += backend_rows(backends);
    // The summary view leaves out the backends that are fine.
    if (total > static_cast<double>(backends.size()))
      out += fmt::format("      {} {}backend(s) fine (--view full lists them)\n",
                         static_cast<long long>(total) - static_cast<long long>(backends.size()),
                         backends.empty() ? "" : "more ");
  }
  return out + folded_lines;
}

// The namespace-wide settings of `ipvs:` (only when configured), errors first-class.
std::string tuning_lines(const json& tuning) {
  std::string out;
  const json t = get(tuning, "timeouts", json::object());
  const json k = get(t, "kernel", json::object());
  if (!k.empty())
    out += fmt::format("IPVS timeouts: tcp {}s tcpfin {}s udp {}s\n", s(k, "tcp"), s(k, "tcpfin"),
                       s(k, "udp"));
  if (!get(t, "error", std::string()).get<std::string>().empty())
    out += "IPVS timeouts: ERROR: " + s(t, "error") + "\n";
  std::string values;
  for (const auto& c : get(tuning, "sysctls", json::array())) {
    values += fmt::format(" {}={}", s(c, "name"), s(c, "value", "?"));
    if (!get(c, "error", std::string()).get<std::string>().empty())
      out += "IPVS sysctl " + s(c, "name") + ": ERROR: " + s(c, "error") + "\n";
  }
  if (!values.empty()) out += "IPVS sysctls:" + values + "\n";
  return out;
}

// ipvs.sync_daemon (only when configured): the role it follows, what the kernel runs.
// "IPVS sync: instance VI_1 MASTER; running master+backup on eth1 id 1 224.0.0.81:8848; ..."
std::string sync_lines(const json& sync) {
  if (!sync.is_object() || sync.empty()) return {};  // null: not configured
  const json c = get(sync, "configured", json::object());
  std::string running;
  for (const auto& d : get(sync, "running", json::array()))
    running += (running.empty() ? "" : "+") + s(d, "role");
  const json first = get(sync, "running", json::array()).empty()
                         ? json::object()
                         : get(sync, "running", json::array())[0];
  std::string out = fmt::format("IPVS sync: instance {} {}; running {}", s(c, "instance", "-"),
                                flag(sync, "instance_master", false) ? "MASTER" : "not MASTER",
                                running.empty() ? std::string("none") : running);
  if (!first.empty())
    out += fmt::format(" on {} id {} {}:{} ttl {} maxlen {}", s(first, "interface"),
                       s(first, "sync_id"), s(first, "group"), s(first, "port"), s(first, "ttl"),
                       s(first, "maxlen"));
  const json conns = get(sync, "connections", json::object());
  out += fmt::format("; IPVS connections {} active {} inactive\n", s(conns, "active", "0"),
                     s(conns, "inactive", "0"));
  if (!get(sync, "last_error", std::string()).get<std::string>().empty())
    out += "IPVS sync: ERROR: " + s(sync, "last_error") + "\n";
  return out;
}

// Drift repair of the kernel's IPVS table (daemon/ipvs_repair.hpp), when IPVS is open.
std::string repair_line(const json& r) {
  if (r.empty()) return "";
  std::string kinds;
  double found = 0;
  const json drift = get(r, "drift_total", json::object());
  for (const auto& [kind, n] : drift.items()) {
    const double v = n.is_number() ? n.get<double>() : 0;
    found += v;
    if (v > 0) kinds += fmt::format("{}{} {}", kinds.empty() ? "" : ", ", kind, format_si(v));
  }
  const json iv = r.contains("reconcile_interval_ms") ? r["reconcile_interval_ms"] : json();
  const double every = iv.is_number() ? iv.get<double>() / 1000 : 0;
  std::string out = fmt::format(
      "IPVS drift: {} found{}, {} repairs, {} check errors, {} resyncs, {} ENOBUFS; {}\n",
      format_si(found), kinds.empty() ? "" : " (" + kinds + ")", s(r, "repairs_total", "0"),
      s(r, "errors_total", "0"), s(r, "resyncs_total", "0"), s(r, "nobufs_total", "0"),
      every > 0 ? fmt::format("checked every {}s ({} checks)", every, s(r, "runs_total", "0"))
                : std::string("periodic check off"));
  if (!get(r, "last_error", std::string()).get<std::string>().empty())
    out += "IPVS drift check: ERROR: " + s(r, "last_error") + "\n";
  return out;
}

}  // namespace

std::string format_age(double seconds) {
  if (!(seconds >= 0) || seconds > 1e10) return "-";
  auto t = static_cast<long long>(seconds);
  if (t < 60) return fmt::format("{}s", t);
  if (t < 3600) return fmt::format("{}m{:02}s", t / 60, t % 60);
  if (t < 86400) return fmt::format("{}h{:02}m", t / 3600, (t % 3600) / 60);
  return fmt::format("{}d{:02}h", t / 86400, (t % 86400) / 3600);
}

std::string format_si(double v) {
  const char* units[] = {"", "k", "M", "G", "T", "P"};
  int u = 0;
  while (std::fabs(v) >= 1000 && u < 5) {
    v /= 1000;
    ++u;
  }
  if (u == 0) return fmt::format("{}", static_cast<long long>(std::llround(v)));
  return fmt::format("{:.1f}{}", v, units[u]);
}

std::string format_table(const std::vector<std::vector<std::string>>& rows,
                         const std::string& indent) {
  std::vector<std::size_t> width;
  for (const auto& r : rows)
    for (std::size_t c = 0; c < r.size(); ++c) {
      if (width.size() <= c) width.push_back(0);
      width[c] = std::max(width[c], r[c].size());
    }
  std::string out;
  for (const auto& r : rows) {
    std::string line = indent;
    for (std::size_t c = 0; c < r.size(); ++c) {
      line += r[c];
      if (c + 1 < r.size()) line += std::string(width[c] - r[c].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

std::string render_status(const nlohmann::json& status, double now_unix) {
  std::string out = header(get(status, "daemon", json::object()), now_unix);
  const json ipvs = get(status, "ipvs", json::object());
  if (flag(ipvs, "enabled", false) && !flag(ipvs, "available", false))
    out += "IPVS: UNAVAILABLE: " + s(ipvs, "error") + "\n";
  for (const auto& c : get(ipvs, "conflicts", json::array()))
    out += "IPVS conflict: " + (c.is_string() ? c.get<std::string>() : c.dump()) + "\n";
  out += tuning_lines(get(ipvs, "tuning", json::object()));
  out += sync_lines(get(ipvs, "sync", json::object()));
  const json nft = get(status, "nft", json::object());
  if (flag(nft, "wanted", false) || flag(nft, "present", false))
    out += fmt::format("nftables: table {}: {} SNAT rules, {} mark rules, {}\n", s(nft, "table"),
                       s(nft, "snat_rules"), s(nft, "mark_rules"),
                       flag(nft, "in_sync", false) ? "in sync" : "NOT IN SYNC");
  if (!get(nft, "error", std::string()).get<std::string>().empty())
    out += "nftables: ERROR: " + s(nft, "error") + "\n";
  out += repair_line(get(ipvs, "repair", json::object()));
  out += "\n" + vrrp_section(get(status, "vrrp", json::array()), now_unix);
  out += "\n" + services_section(get(status, "services", json::array()),
                                 get(status, "services_fine", json::array()),
                                 get(status, "services_awaiting_checks", json::array()));
  return out;
}

}  // namespace l4lb::ctl
