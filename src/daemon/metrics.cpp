#include "daemon/metrics.hpp"

#include <fmt/format.h>

#include <map>
#include <string_view>
#include <vector>

namespace l4lb::daemon {
namespace {

using nlohmann::json;

std::string escape(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

using Labels = std::vector<std::pair<std::string, std::string>>;

std::string labels(const Labels& ls) {
  if (ls.empty()) return "";
  std::string out = "{";
  for (std::size_t i = 0; i < ls.size(); ++i) {
    if (i) out += ",";
    out += ls[i].first + "=\"" + escape(ls[i].second) + "\"";
  }
  return out + "}";
}

double num(const json& j, const char* key) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_number()) return 0;
  return j[key].get<double>();
}

// Like json::value(), but never throws: the document may come from an older or newer daemon.
json get(const json& j, const char* key, json fallback) {
  if (!j.is_object() || !j.contains(key) || j[key].type() != fallback.type()) return fallback;
  return j[key];
}

bool flag(const json& j, const char* key, bool fallback) {
  return get(j, key, fallback).get<bool>();
}

std::string str(const json& j, const char* key) {
  if (!j.is_object() || !j.contains(key)) return "";
  if (j[key].is_string()) return j[key].get<std::string>();
  if (j[key].is_number_integer()) return std::to_string(j[key].get<long long>());
  return "";
}

// Collects samples per metric family so each family's HELP/TYPE is printed once, as the
// format requires, even though samples are produced object by object.
//
// With a focus (streaming, MetricsFamily), it keeps nothing: the samples of that one family go
// straight to `out`, its HELP/TYPE before the first of them; every other family is skipped.
class Writer {
 public:
  Writer() = default;
  Writer(std::string_view focus, std::string& out) : focus_(focus), out_(&out) {}
  // Whether samples of `name` are taken (callers skip building their labels otherwise).
  bool wants(std::string_view name) const { return !out_ || name == focus_; }
  void add(const std::string& name, const char* type, const char* help, const Labels& ls,
           double value) {
    if (out_) {
      if (name != focus_) return;
      header(name, type, help);
      *out_ += name + labels(ls) + " " + fmt::format("{}", value) + "\n";
      return;
    }
    auto& f = families_[name];
    if (f.type.empty()) {
      f.type = type;
      f.help = help;
      order_.push_back(name);
    }
    f.samples += name + labels(ls) + " " + fmt::format("{}", value) + "\n";
  }
  // Histogram samples: name_bucket/_sum/_count under one family `name`.
  void raw(const std::string& name, const char* type, const char* help, const std::string& lines) {
    if (out_) {
      if (name != focus_) return;
      header(name, type, help);
      *out_ += lines;
      return;
    }
    auto& f = families_[name];
    if (f.type.empty()) {
      f.type = type;
      f.help = help;
      order_.push_back(name);
    }
    f.samples += lines;
  }
  // The text; the samples are moved out family by family (a scrape of 10,000 services is
  // tens of MB: never twice at once).
  std::string take() {
    std::string out;
    std::size_t size = 0;
    // Exactly: a reserve that falls short makes the last append double the whole text.
    for (const auto& [name, f] : families_)
      size += f.samples.size() + 2 * name.size() + f.help.size() + f.type.size() + 18;
    out.reserve(size);
    take_to([&](std::string_view part) { out.append(part); });
    return out;
  }
  // The same text in pieces; each family's samples are freed once handed on.
  void take_to(const std::function<void(std::string_view)>& out) {
    for (const auto& name : order_) {
      auto& f = families_.at(name);
      for (std::string_view part :
           {std::string_view("# HELP "), std::string_view(name), std::string_view(" "),
            std::string_view(f.help), std::string_view("\n# TYPE "), std::string_view(name),
            std::string_view(" "), std::string_view(f.type), std::string_view("\n"),
            std::string_view(f.samples)})
        out(part);
      f.samples = std::string();
    }
  }

 private:
  void header(std::string_view name, const char* type, const char* help) {
    if (header_done_) return;
    header_done_ = true;
    *out_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  }
  struct Family {
    std::string type, help, samples;
  };
  std::string focus_;
  std::string* out_ = nullptr;
  bool header_done_ = false;
  std::map<std::string, Family> families_;
  std::vector<std::string> order_;
};

void histogram(Writer& w, const Labels& base, const json& h,
               const std::string& name = "l4lb_health_check_duration_seconds",
               const char* help = "Duration of health checks (successful and failed).") {
  if (!h.is_object() || !h.contains("buckets")) return;
  std::string lines;
  for (const auto& b : h["buckets"]) {
    if (!b.is_array() || b.size() != 2) continue;
    Labels l = base;
    l.emplace_back("le", fmt::format("{}", b[0].get<double>()));
    lines += name + "_bucket" + labels(l) + " " + fmt::format("{}", b[1].get<double>()) + "\n";
  }
  Labels inf = base;
  inf.emplace_back("le", "+Inf");
  lines += name + "_bucket" + labels(inf) + " " + fmt::format("{}", num(h, "count")) + "\n";
  lines += name + "_sum" + labels(base) + " " + fmt::format("{}", num(h, "sum")) + "\n";
  lines += name + "_count" + labels(base) + " " + fmt::format("{}", num(h, "count")) + "\n";
  w.raw(name, "histogram", help, lines);
}

void daemon_metrics(Writer& w, const json& d) {
  w.add("l4lb_build_info", "gauge", "Build information; always 1.",
        {{"version", str(d, "version")}, {"node", str(d, "node")}}, 1);
  w.add("l4lb_config_generation", "gauge", "Number of configs applied since start (1 = the first).",
        {}, num(d, "generation"));
  w.add("l4lb_reloads_total", "counter", "Config reloads by result.", {{"result", "ok"}},
        num(d, "reloads_ok"));
  w.add("l4lb_reloads_total", "counter", "Config reloads by result.", {{"result", "failed"}},
        num(d, "reloads_failed"));
  const json last = get(d, "last_reload", json::object());
  w.add("l4lb_last_reload_success", "gauge", "1 if the last reload was applied, 0 if rejected.", {},
        flag(last, "ok", true) ? 1 : 0);
  w.add("l4lb_last_reload_timestamp_seconds", "gauge", "Unix time of the last reload attempt.", {},
        num(last, "time"));
  w.add("l4lb_start_time_seconds", "gauge", "Unix time the daemon started.", {},
        num(d, "started_at"));
  const json lag = get(d, "lag", json::array());
  for (const auto& l : lag)
    histogram(w, {{"thread", str(l, "thread")}, {"kind", str(l, "kind")}},
              get(l, "histogram", json::object()), "l4lb_thread_lag_seconds",
              "How late each thread runs its work: the loop's timer lateness (sampled every "
              "10 ms), a worker's queue delay.");
  const json suppressed = get(d, "log_suppressed", json::object());
  for (const auto& [category, count] : suppressed.items())
    w.add("l4lb_log_suppressed_total", "counter",
          "Log lines suppressed by rate limiting (summarised once a second), by category.",
          {{"category", category}}, count.is_number() ? count.get<double>() : 0);
  w.add("l4lb_slow_readers_dropped_total", "counter",
        "Status and /metrics clients disconnected for falling more than 16 MiB behind the others.",
        {}, num(d, "slow_readers_dropped"));
  // Prometheus' standard process collector names, so that stock dashboards and alerts work.
  if (const json p = get(d, "process", json::object()); !p.empty()) {
    w.add("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", {},
          num(p, "resident_bytes"));
    w.add("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", {},
          num(p, "virtual_bytes"));
    w.add("process_open_fds", "gauge", "Number of open file descriptors.", {}, num(p, "open_fds"));
    w.add("process_max_fds", "gauge", "Maximum number of open file descriptors (soft limit).", {},
          num(p, "max_fds"));
    w.add("process_cpu_seconds_total", "counter", "Total user and system CPU time in seconds.", {},
          num(p, "cpu_seconds"));
    w.add("process_start_time_seconds", "gauge", "Start time of the process since the epoch.", {},
          num(d, "started_at"));
    w.add("l4lb_process_peak_resident_memory_bytes", "gauge",
          "Largest resident memory size since start (VmHWM) in bytes.", {},
          num(p, "peak_resident_bytes"));
  }
  if (const json a = get(d, "allocator", json::object()); !a.empty()) {
    w.add("l4lb_allocator_allocated_bytes", "gauge",
          "Bytes in blocks the daemon has allocated and not freed (jemalloc).", {},
          num(a, "allocated_bytes"));
    w.add("l4lb_allocator_resident_bytes", "gauge",
          "Bytes of the allocator's pages in memory, its metadata included (jemalloc).", {},
          num(a, "resident_bytes"));
  }
}

void vrrp_metrics(Writer& w, const json& instances) {
  static const char* states[] = {"INITIALIZE", "BACKUP", "MASTER", "FAULT"};
  for (const auto& i : instances) {
    // Not "instance": Prometheus sets that label on every scraped series (the target), and a
    // clash would rename ours to exported_instance.
    Labels base = {{"vrrp_instance", str(i, "name")}, {"family", str(i, "family")}};
    for (const char* s : states) {
      Labels l = base;
      l.emplace_back("state", s);
      w.add("l4lb_vrrp_state", "gauge", "VRRP state of the instance (1 for the current state).", l,
            str(i, "state") == s ? 1 : 0);
    }
    w.add("l4lb_vrrp_priority", "gauge", "Effective VRRP priority (after tracking).", base,
          num(i, "priority"));
    w.add("l4lb_vrrp_priority_configured", "gauge", "Configured VRRP priority.", base,
          num(i, "priority_configured"));
    w.add("l4lb_vrrp_transitions_total", "counter", "VRRP state transitions.", base,
          num(i, "transitions"));
    w.add("l4lb_vrrp_adverts_sent_total", "counter", "VRRP advertisements sent.", base,
          num(i, "adverts_sent"));
    w.add("l4lb_vrrp_adverts_received_total", "counter", "Valid VRRP advertisements received.",
          base, num(i, "adverts_received"));
    w.add("l4lb_vrrp_vip_repairs_total", "counter",
          "VIPs removed from outside while master, and restored.", base, num(i, "vip_repairs"));
    w.add("l4lb_vrrp_vip_add_errors_total", "counter",
          "VIP adds the kernel refused (each puts the instance in FAULT).", base,
          num(i, "vip_add_errors"));
    if (i.contains("advert_send_intervals"))
      histogram(w, base, i["advert_send_intervals"], "l4lb_vrrp_advert_send_interval_seconds",
                "Time between two consecutive adverts sent while master.");
    if (i.contains("drops") && i["drops"].is_object())
      for (const auto& [reason, count] : i["drops"].items()) {
        Labels l = base;
        l.emplace_back("reason", reason);
        w.add("l4lb_vrrp_drops_total", "counter", "Received VRRP packets dropped, by reason.", l,
              count.is_number() ? count.get<double>() : 0);
      }
    const bool master = str(i, "state") == "MASTER";
    if (i.contains("vips") && i["vips"].is_array())
      for (const auto& vip : i["vips"])
        w.add("l4lb_vip_master", "gauge", "1 if this node is master for (holds) the VIP.",
              {{"vrrp_instance", str(i, "name")},
               {"vip", vip.is_string() ? vip.get<std::string>() : ""}},
              master ? 1 : 0);
  }
}

void traffic(Writer& w, const std::string& prefix, const char* what, const Labels& base,
             const MetricsEntry& e) {
  auto with = [&](const char* k, const char* v) {
    Labels l = base;
    l.emplace_back(k, v);
    return l;
  };
  // "current_connections", not "connections": a gauge `X` beside the counter `X_total` would be
  // one family name for two types in OpenMetrics.
  w.add(prefix + "_current_connections", "gauge", "Current IPVS connections by state.",
        with("state", "active"), e.active_conns);
  w.add(prefix + "_current_connections", "gauge", "Current IPVS connections by state.",
        with("state", "inactive"), e.inactive_conns);
  w.add(prefix + "_connections_total", "counter", what, base, e.conns_total);
  w.add(prefix + "_packets_total", "counter", "IPVS packets by direction.", with("direction", "in"),
        e.packets_in);
  w.add(prefix + "_packets_total", "counter", "IPVS packets by direction.",
        with("direction", "out"), e.packets_out);
  w.add(prefix + "_bytes_total", "counter", "IPVS bytes by direction.", with("direction", "in"),
        e.bytes_in);
  w.add(prefix + "_bytes_total", "counter", "IPVS bytes by direction.", with("direction", "out"),
        e.bytes_out);
}

// One entry of status "services" (one service and port).
void entry_metrics(Writer& w, const MetricsEntry& e) {
  Labels base = {
      {"service", e.service}, {"vip", e.vip}, {"port", e.port}, {"protocol", e.protocol}};
  traffic(w, "l4lb_ipvs_service", "Connections scheduled by the IPVS virtual service.", base, e);
  w.add("l4lb_service_healthy_backends", "gauge", "Backends currently passing health checks.", base,
        e.healthy);
  w.add("l4lb_service_quorum_met", "gauge", "1 while healthy backends >= quorum.", base,
        e.quorum_met ? 1 : 0);
  if (!w.wants("l4lb_ipvs_backend_connections_total") &&
      !w.wants("l4lb_ipvs_backend_current_connections") && !w.wants("l4lb_ipvs_backend_weight"))
    return;
  for (const auto& b : e.backends) {
    // Per backend: gauges and the new-connection counter (how evenly the scheduler spreads).
    // Packets, bytes, check counts and a latency histogram per backend made ~26 series
    // each, 2.1 million at 10,000 services x 8 backends; the service's counters and its
    // checks' aggregate stand for them.
    Labels bl = base;
    bl.emplace_back("backend", b.address);
    bl.emplace_back("backend_port", b.port);
    w.add("l4lb_ipvs_backend_connections_total", "counter",
          "Connections scheduled to the IPVS destination.", bl, b.conns_total);
    for (const char* state : {"active", "inactive"}) {
      Labels l = bl;
      l.emplace_back("state", state);
      w.add("l4lb_ipvs_backend_current_connections", "gauge",
            "Current IPVS connections to the destination by state.", l,
            state == std::string_view("active") ? b.active_conns : b.inactive_conns);
    }
    w.add("l4lb_ipvs_backend_weight", "gauge", "Weight in the kernel now.", bl, b.weight);
  }
}

void service_metrics(Writer& w, const json& services) {
  for (const auto& s : services) {
    MetricsEntry e{str(s, "name"),
                   str(s, "vip"),
                   str(s, "port"),
                   str(s, "protocol"),
                   num(s, "active_conns"),
                   num(s, "inactive_conns"),
                   num(s, "conns_total"),
                   num(s, "packets_in"),
                   num(s, "packets_out"),
                   num(s, "bytes_in"),
                   num(s, "bytes_out"),
                   num(s, "healthy"),
                   flag(s, "quorum_met", false),
                   {}};
    if (s.contains("backends") && s["backends"].is_array())
      for (const auto& b : s["backends"])
        e.backends.push_back({str(b, "address"), str(b, "port"), num(b, "conns_total"),
                              num(b, "active_conns"), num(b, "inactive_conns"), num(b, "weight")});
    entry_metrics(w, e);
  }
}

// The checks of one service, summed: how many ran, failed by reason, and how long they took.
struct CheckTotals {
  double checks = 0;
  std::map<std::string, double> failures;
  std::vector<std::pair<std::string, double>> buckets;  // le -> cumulative count, in order
  double sum = 0, count = 0;
};

void check_metrics(Writer& w, CheckTotals& t, const MetricsCheck& c) {
  if (w.wants("l4lb_backend_up"))
    w.add("l4lb_backend_up", "gauge", "1 if the backend passes its health check, else 0.",
          {{"service", c.service}, {"port", c.port}, {"backend", c.backend}}, c.up ? 1 : 0);
  t.checks += c.checks;
  for (const auto& [reason, count] : c.failures) t.failures[reason] += count;
  std::size_t i = 0;
  for (const auto& [upper, count] : c.buckets) {
    const std::string le = fmt::format("{}", upper);
    if (i < t.buckets.size() && t.buckets[i].first == le)
      t.buckets[i].second += count;
    else if (i == t.buckets.size())
      t.buckets.emplace_back(le, count);
    ++i;
  }
  t.sum += c.sum;
  t.count += c.count;
}

void health_metrics(Writer& w, std::map<std::string, CheckTotals>& totals, const json& checks) {
  for (const auto& c : checks) {
    // A check shared by every port of its service (status "port": null) is port="all".
    const bool shared = !c.contains("port") || c["port"].is_null();
    MetricsCheck m{str(c, "service"),
                   shared ? std::string("all") : str(c, "port"),
                   str(c, "backend"),
                   str(c, "status") == "up",
                   num(c, "checks"),
                   {},
                   {},
                   0,
                   0};
    if (c.contains("failures") && c["failures"].is_object())
      for (const auto& [reason, count] : c["failures"].items())
        m.failures.emplace_back(reason, count.is_number() ? count.get<double>() : 0);
    const json h = get(c, "latency_histogram", json::object());
    for (const auto& b : get(h, "buckets", json::array())) {
      if (!b.is_array() || b.size() != 2 || !b[0].is_number() || !b[1].is_number()) continue;
      m.buckets.emplace_back(b[0].get<double>(), b[1].get<double>());
    }
    m.sum = num(h, "sum");
    m.count = num(h, "count");
    check_metrics(w, totals[m.service], m);
  }
}

void service_totals(Writer& w, const std::string& service, const CheckTotals& t) {
  {
    const Labels base = {{"service", service}};
    w.add("l4lb_health_checks_total", "counter", "Health checks run, all backends of the service.",
          base, t.checks);
    for (const auto& [reason, n] : t.failures) {
      Labels l = base;
      l.emplace_back("reason", reason);
      w.add("l4lb_health_check_failures_total", "counter",
            "Failed health checks by reason, all backends of the service.", l, n);
    }
    std::string lines;
    const std::string name = "l4lb_health_check_duration_seconds";
    for (const auto& [le, n] : t.buckets) {
      Labels l = base;
      l.emplace_back("le", le);
      lines += name + "_bucket" + labels(l) + " " + fmt::format("{}", n) + "\n";
    }
    Labels inf = base;
    inf.emplace_back("le", "+Inf");
    lines += name + "_bucket" + labels(inf) + " " + fmt::format("{}", t.count) + "\n";
    lines += name + "_sum" + labels(base) + " " + fmt::format("{}", t.sum) + "\n";
    lines += name + "_count" + labels(base) + " " + fmt::format("{}", t.count) + "\n";
    w.raw(name, "histogram",
          "Duration of health checks (successful and failed), all backends of the service.", lines);
  }
}

void check_totals(Writer& w, const std::map<std::string, CheckTotals>& totals) {
  for (const auto& [service, t] : totals) service_totals(w, service, t);
}

// ipvs.sync_daemon (docs/STATUS.md): which daemons run, which should, and the IPVS
// connection counts that stand in for the sync daemon's missing counters.
void sync_metrics(Writer& w, const json& sync) {
  if (!sync.is_object() || sync.empty()) return;  // null: not configured
  for (const char* role : {"master", "backup"}) {
    bool running = false, wanted = false;
    for (const auto& d : get(sync, "running", json::array()))
      if (d.is_object() && d.value("role", "") == role) running = true;
    for (const auto& r : get(sync, "wanted", json::array()))
      if (r.is_string() && r.get<std::string>() == role) wanted = true;
    w.add("l4lb_ipvs_sync_daemon_running", "gauge",
          "1 if the kernel runs the IPVS connection-sync daemon of this role.", {{"role", role}},
          running ? 1 : 0);
    w.add("l4lb_ipvs_sync_daemon_wanted", "gauge",
          "1 if l4lbd wants the sync daemon of this role to run (from the VRRP state).",
          {{"role", role}}, wanted ? 1 : 0);
  }
  w.add("l4lb_ipvs_sync_instance_master", "gauge",
        "1 if the VRRP instance the sync daemon follows is MASTER here.", {},
        flag(sync, "instance_master", false) ? 1 : 0);
  w.add("l4lb_ipvs_sync_role_changes_total", "counter",
        "Master/backup switches of the sync daemons.", {}, num(sync, "role_changes_total"));
  w.add("l4lb_ipvs_sync_errors_total", "counter",
        "Sync daemon reads, starts and stops that failed (each is retried).", {},
        num(sync, "errors_total"));
  const json conns = get(sync, "connections", json::object());
  for (const char* state : {"active", "inactive"})
    w.add("l4lb_ipvs_connections", "gauge",
          "Connections IPVS holds to the destinations (synchronised ones included).",
          {{"state", state}}, num(conns, state));
}

}  // namespace

struct MetricsBuilder::State {
  Writer w;
  std::map<std::string, CheckTotals> totals;  // by service
};

MetricsBuilder::MetricsBuilder() : state_(std::make_unique<State>()) {}
MetricsBuilder::~MetricsBuilder() = default;

void MetricsBuilder::services(const nlohmann::json& services) {
  service_metrics(state_->w, services.is_array() ? services : json::array());
}

void MetricsBuilder::checks(const nlohmann::json& checks) {
  health_metrics(state_->w, state_->totals, checks.is_array() ? checks : json::array());
}

std::string MetricsBuilder::text() {
  check_totals(state_->w, state_->totals);
  state_->totals.clear();
  return state_->w.take();
}

void MetricsBuilder::text_to(const std::function<void(std::string_view)>& out) {
  check_totals(state_->w, state_->totals);
  state_->totals.clear();
  state_->w.take_to(out);
}

struct MetricsFamily::State {
  State(std::string_view family, std::string& out) : w(family, out) {}
  Writer w;
  std::string service;  // whose checks are being summed
  CheckTotals totals;
  bool any = false;
};

MetricsFamily::MetricsFamily(std::string_view family, std::string& out)
    : state_(std::make_unique<State>(family, out)) {}
MetricsFamily::~MetricsFamily() = default;

bool MetricsFamily::wants(std::string_view family) const { return state_->w.wants(family); }

void MetricsFamily::entry(const MetricsEntry& e) { entry_metrics(state_->w, e); }

void MetricsFamily::check(const MetricsCheck& c) {
  State& s = *state_;
  if (s.any && c.service != s.service) {
    service_totals(s.w, s.service, s.totals);
    s.totals = CheckTotals{};
  }
  s.any = true;
  s.service = c.service;
  check_metrics(s.w, s.totals, c);
}

void MetricsFamily::finish() {
  State& s = *state_;
  if (s.any) service_totals(s.w, s.service, s.totals);
  s.any = false;
}

const std::vector<std::string>& MetricsFamily::entry_families() {
  static const std::vector<std::string> names = {"l4lb_ipvs_service_current_connections",
                                                 "l4lb_ipvs_service_connections_total",
                                                 "l4lb_ipvs_service_packets_total",
                                                 "l4lb_ipvs_service_bytes_total",
                                                 "l4lb_service_healthy_backends",
                                                 "l4lb_service_quorum_met",
                                                 "l4lb_ipvs_backend_connections_total",
                                                 "l4lb_ipvs_backend_current_connections",
                                                 "l4lb_ipvs_backend_weight"};
  return names;
}

std::vector<std::string> MetricsFamily::check_families(bool first_service_has_failures) {
  // In the order a whole rendering meets them: the first service's sums come first, and its
  // failures (when it has any) before its duration histogram.
  if (first_service_has_failures)
    return {"l4lb_backend_up", "l4lb_health_checks_total", "l4lb_health_check_failures_total",
            "l4lb_health_check_duration_seconds"};
  return {"l4lb_backend_up", "l4lb_health_checks_total", "l4lb_health_check_duration_seconds",
          "l4lb_health_check_failures_total"};
}

std::string render_metrics(const nlohmann::json& status) {
  MetricsBuilder b;
  b.sections(status);
  b.services(get(status, "services", json::array()));
  b.checks(get(status, "health", json::array()));
  return b.text();
}

void MetricsBuilder::sections(const nlohmann::json& status) {
  Writer& w = state_->w;
  daemon_metrics(w, get(status, "daemon", json::object()));
  vrrp_metrics(w, get(status, "vrrp", json::array()));
  const json rtnl = get(status, "rtnetlink", json::object());
  w.add("l4lb_rtnetlink_overflows_total", "counter",
        "Link/address event bursts lost to a full socket buffer (each answered by a re-read).", {},
        num(rtnl, "overflows"));
  w.add("l4lb_rtnetlink_resyncs_total", "counter",
        "Full re-reads of the kernel's links and addresses, by result.", {{"result", "ok"}},
        num(rtnl, "resyncs"));
  w.add("l4lb_rtnetlink_resyncs_total", "counter",
        "Full re-reads of the kernel's links and addresses, by result.", {{"result", "error"}},
        num(rtnl, "resync_errors"));
  w.add("l4lb_rtnetlink_resyncs_total", "counter",
        "Full re-reads of the kernel's links and addresses, by result.",
        {{"result", "interrupted"}}, num(rtnl, "resync_interrupted"));
  const json checker = get(status, "health_checker", json::object());
  w.add("l4lb_health_local_resource_errors_total", "counter",
        "Probes that failed for want of l4lbd's own descriptors, buffers or memory; they never "
        "change a backend's state.",
        {}, num(checker, "local_resource_errors"));
  const json half_open = get(checker, "half_open", json::object());
  w.add("l4lb_health_half_open_syns_sent_total", "counter",
        "SYNs sent by half-open TCP checks, retransmissions included.", {},
        num(half_open, "syns_sent"));
  w.add("l4lb_health_half_open_answers_total", "counter",
        "SYN-ACKs and RSTs that answered a half-open check.", {}, num(half_open, "answers"));
  for (auto [reason, key] : {std::pair{"stray", "stray"}, std::pair{"malformed", "malformed"},
                             std::pair{"buffer_full", "buffer_overflows"}})
    w.add("l4lb_health_half_open_dropped_total", "counter",
          "Segments to the half-open checks' ports dropped: stray (answering no check in flight), "
          "malformed, or by the kernel for want of socket buffer (buffer_full).",
          {{"reason", reason}}, num(half_open, key));
  w.add("l4lb_health_half_open_send_errors_total", "counter", "SYNs the kernel refused to send.",
        {}, num(half_open, "send_errors"));
  const json ipvs = get(status, "ipvs", json::object());
  w.add("l4lb_ipvs_available", "gauge", "1 if the IPVS netlink family could be opened.", {},
        flag(ipvs, "available", false) ? 1 : 0);
  w.add("l4lb_ipvs_operations_total", "counter", "IPVS netlink operations issued.", {},
        num(ipvs, "operations_total"));
  w.add("l4lb_ipvs_operation_errors_total", "counter",
        "IPVS netlink operations the kernel refused.", {}, num(ipvs, "operation_errors_total"));
  sync_metrics(w, get(ipvs, "sync", json::object()));
  const json nft = get(status, "nft", json::object());
  w.add("l4lb_nft_table_in_sync", "gauge",
        "1 if l4lbd's nftables table (inet l4lb) is as the config wants it (absent when not "
        "needed).",
        {}, flag(nft, "in_sync", true) ? 1 : 0);
  w.add("l4lb_nft_apply_errors_total", "counter",
        "Failed reads or transactions of l4lbd's nftables table.", {},
        num(nft, "apply_errors_total"));
  w.add("l4lb_nft_repairs_total", "counter",
        "Times l4lbd's nftables table was found changed or deleted by someone else and restored.",
        {}, num(nft, "repairs_total"));
  // Drift repair (daemon/ipvs_repair.hpp). The counters are always there (0 until IPVS is
  // open), so the drift alert's expression exists on every node; the kinds appear once counted.
  const json repair = get(ipvs, "repair", json::object());
  {
    w.add("l4lb_ipvs_reconcile_runs_total", "counter",
          "Checks of the kernel's IPVS table against what l4lbd programmed.", {},
          num(repair, "runs_total"));
    const json drift = get(repair, "drift_total", json::object());
    for (const auto& [kind, n] : drift.items())
      w.add("l4lb_ipvs_drift_total", "counter",
            "Changes found on l4lbd's own IPVS services that l4lbd did not make.", {{"kind", kind}},
            n.is_number() ? n.get<double>() : 0);
    w.add("l4lb_ipvs_drift_repairs_total", "counter",
          "Checks that found drift and reprogrammed the kernel.", {}, num(repair, "repairs_total"));
    w.add("l4lb_ipvs_reconcile_errors_total", "counter",
          "Checks that could not read the kernel's IPVS table.", {}, num(repair, "errors_total"));
    w.add("l4lb_ipvs_resyncs_total", "counter",
          "Re-reads of the kernel's IPVS table after a failed operation or lost answers.", {},
          num(repair, "resyncs_total"));
    w.add("l4lb_ipvs_netlink_nobufs_total", "counter",
          "Answers lost to a full IPVS netlink socket buffer (ENOBUFS).", {},
          num(repair, "nobufs_total"));
  }
}

}  // namespace l4lb::daemon
