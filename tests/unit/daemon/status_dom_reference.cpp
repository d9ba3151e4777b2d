// The status document as nlohmann::json DOM, as src/daemon/status.cpp built it before the
// streaming writer (commit 7869ecd), kept as the reference the writer's output is compared
// with. Only the way the snapshot holds the checks changed (a CheckList here, as tests make them).
#include <unistd.h>

#include <algorithm>
#include <chrono>

#include "config/loader.hpp"
#include "daemon/snapshot.hpp"
#include "health/quorum.hpp"
#include "health/spec.hpp"
#include "ipvs/desired.hpp"

namespace l4lb::daemon::reference {
namespace {

using nlohmann::json;

double unix_seconds(std::chrono::system_clock::time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

// ipvs.sync_daemon's state, plus the connections IPVS holds: the sync daemon keeps no counters
// the kernel exposes (not over netlink, not in /proc), so the destinations' active and
// inactive connection counts of the table just read stand for them; on a sync backup they
// are the connections it learnt from the master.
json sync_section(const StatusSnapshot& snap) {
  if (snap.ipvs_sync.is_null()) return nullptr;
  json sync = snap.ipvs_sync;
  std::uint64_t active = 0, inactive = 0;
  for (const auto& [key, svc] : snap.kernel.services)
    for (const auto& [dkey, d] : svc.destinations) {
      active += snap.kernel.counters(d).active_conns;
      inactive += snap.kernel.counters(d).inactive_conns;
    }
  sync["connections"] = {{"active", active}, {"inactive", inactive}};
  return sync;
}

void put_traffic(json& j, const ipvs::Stats& s) {
  j["conns_total"] = s.conns;
  j["packets_in"] = s.inpkts;
  j["packets_out"] = s.outpkts;
  j["bytes_in"] = s.inbytes;
  j["bytes_out"] = s.outbytes;
  j["cps"] = s.cps;
  j["pps_in"] = s.inpps;
  j["pps_out"] = s.outpps;
  j["bps_in"] = s.inbps;
  j["bps_out"] = s.outbps;
}

json health_json(const health::BackendKey& key, const health::BackendHealth& h) {
  json failures = json::object();
  h.for_each_failure(
      [&](std::string_view reason, std::uint64_t count) { failures[std::string(reason)] = count; });
  json buckets = json::array();
  auto cumulative = h.latency.cumulative();
  for (std::size_t i = 0; i < health::kLatencyBuckets.size(); ++i)
    buckets.push_back({health::kLatencyBuckets[i], cumulative[i]});
  return {{"service", key.service},
          {"port", key.port == 0 ? json() : json(key.port)},  // null: one check for all ports
          {"backend", key.address.to_string()},
          {"status", std::string(health::to_string(h.status))},
          {"consecutive_ok", h.consecutive_ok},
          {"consecutive_fail", h.consecutive_fail},
          {"last_error", h.last_error()},
          {"latency_ms", h.last_latency() ? json(h.last_latency()->count() / 1000.0) : json()},
          {"last_transition", h.last_transition.time_since_epoch().count() == 0
                                  ? json()
                                  : json(unix_seconds(h.last_transition))},
          {"checks", h.checks()},
          {"transitions", h.transitions},
          {"failures", failures},
          {"latency_histogram",
           {{"buckets", buckets}, {"sum", h.latency.sum_seconds}, {"count", h.latency.total()}}}};
}

json histogram_json(const DelayHistogram& h) {
  json buckets = json::array();
  auto cumulative = h.cumulative();
  for (std::size_t i = 0; i < kDelayBuckets.size(); ++i)
    buckets.push_back({kDelayBuckets[i], cumulative[i]});
  return {
      {"buckets", buckets}, {"sum", h.sum_seconds}, {"count", h.total()}, {"max", h.max_seconds}};
}

// Every check of the snapshot, ordered by key.
const CheckCopies& all_checks(const StatusSnapshot& s) {
  static const CheckCopies none;
  return s.checks ? dynamic_cast<const CheckList&>(*s.checks).checks() : none;
}

// The check's health in the snapshot (ordered by key), or null.
const health::BackendHealth* find_health(const StatusSnapshot& s, const health::BackendKey& key) {
  const CheckCopies& checks = all_checks(s);
  auto it = std::lower_bound(checks.begin(), checks.end(), key,
                             [](const auto& entry, const auto& k) { return entry.first < k; });
  if (it == checks.end() || it->first != key) return nullptr;
  return &it->second;
}

health::Status status_of(const StatusSnapshot& s, const health::BackendKey& key) {
  const health::BackendHealth* h = find_health(s, key);
  return h ? h->status : health::Status::unknown;
}

// Quorum's count (health/quorum.hpp): the service's, or one port's.
int healthy_backends(const StatusSnapshot& snap, const config::Service& service) {
  return health::healthy_count(
      service, [&](const health::BackendKey& k) { return status_of(snap, k); },
      [&](const config::Backend& b) { return snap.drains.is_drained(service.name, b.address); });
}

int healthy_backends(const StatusSnapshot& snap, const config::Service& service,
                     std::uint16_t port) {
  return health::healthy_on_port(
      service, port, [&](const health::BackendKey& k) { return status_of(snap, k); },
      [&](const config::Backend& b) { return snap.drains.is_drained(service.name, b.address); });
}

}  // namespace

nlohmann::json status_document(const StatusSnapshot& snap, StatusView view) {
  const bool summary = view == StatusView::summary;
  static const config::Config empty;
  const config::Config& cfg = snap.config ? *snap.config : empty;
  const ipvs::Table& kernel = snap.kernel;
  json doc;
  doc["schema"] = 1;
  doc["view"] = summary ? "summary" : "full";
  doc["daemon"] = {{"node", cfg.node_name},
                   {"version", L4LB_VERSION},
                   {"pid", snap.pid},
                   {"started_at", snap.started_at},
                   {"config_file", snap.config_file},
                   {"generation", snap.generation},
                   {"reloads_ok", snap.reloads_ok},
                   {"reloads_failed", snap.reloads_failed},
                   {"summary", config::summary(cfg)}};
  if (snap.last_reload) doc["daemon"]["last_reload"] = *snap.last_reload;
  json lag = json::array();
  for (const auto& l : snap.lag)
    lag.push_back(
        {{"thread", l.thread}, {"kind", l.kind}, {"histogram", histogram_json(l.histogram)}});
  doc["daemon"]["lag"] = lag;
  json suppressed = json::object();
  for (const auto& [category, count] : snap.log_suppressed) suppressed[category] = count;
  doc["daemon"]["log_suppressed"] = suppressed;
  doc["daemon"]["slow_readers_dropped"] = snap.slow_readers_dropped;
  if (snap.process) {
    const auto& p = *snap.process;
    doc["daemon"]["process"] = {{"resident_bytes", p.resident_bytes},
                                {"peak_resident_bytes", p.peak_resident_bytes},
                                {"virtual_bytes", p.virtual_bytes},
                                {"open_fds", p.open_fds},
                                {"max_fds", p.max_fds},
                                {"cpu_seconds", p.cpu_seconds}};
  }

  json vrrp = json::array();
  for (const auto& i : snap.vrrp) {
    json drops = json::object();
    for (const auto& [reason, count] : i.drops) drops[reason] = count;
    json vips = json::array();
    for (const auto& v : i.vips) vips.push_back(v.to_string());
    vrrp.push_back({{"name", i.name},
                    {"interface", i.interface},
                    {"vrid", i.vrid},
                    {"family", std::string(net::family_name(i.family))},
                    {"state", std::string(vrrp::to_string(i.state))},
                    {"priority", i.priority_effective},
                    {"priority_configured", i.priority_configured},
                    {"since", unix_seconds(i.since)},
                    {"master", i.master_address ? json(i.master_address->to_string()) : json()},
                    {"vips", vips},
                    {"advert_interval_ms", i.advert_interval.count()},
                    {"master_adver_interval_ms", i.master_adver_interval.count()},
                    {"transitions", i.transitions},
                    {"adverts_sent", i.adverts_sent},
                    {"adverts_received", i.adverts_received},
                    {"advert_send_intervals", histogram_json(i.advert_send_intervals)},
                    {"vip_repairs", i.vip_repairs},
                    {"vip_add_errors", i.vip_add_errors},
                    {"fault_reason", i.fault_reason},
                    {"drops", drops}});
  }
  doc["vrrp"] = vrrp;
  if (snap.rtnetlink) {
    const auto& nl = *snap.rtnetlink;
    doc["rtnetlink"] = {{"overflows", nl.overflows},
                        {"resyncs", nl.resyncs},
                        {"resync_errors", nl.resync_errors},
                        {"resync_interrupted", nl.resync_interrupted}};
  }

  json services = json::array();
  for (const auto& s : cfg.services) {
    const int healthy_service = snap.health_running ? healthy_backends(snap, s) : 0;
    for (auto port : s.ports) {
      // A fwmark service is one IPVS service: one entry (its first port), not one per port
      // (8,304 entries for three NodePort ranges made the status too slow to render).
      if (s.fwmark && port != s.ports.front()) break;
      const int healthy = snap.health_running ? healthy_backends(snap, s, port) : 0;
      auto it = kernel.services.find(ipvs::service_key(s, port));
      const ipvs::Service* live = it == kernel.services.end() ? nullptr : &it->second;
      json svc = {{"name", s.name},
                  {"vip", s.vip.to_string()},
                  {"port", port},
                  {"protocol", std::string(config::to_string(s.protocol))},
                  {"scheduler", s.scheduler},
                  {"one_packet", live ? live->one_packet : s.one_packet},
                  {"forward", std::string(config::to_string(s.forward))},
                  {"quorum", s.quorum},
                  {"healthy", healthy},
                  {"quorum_met", !health::below_quorum(s, healthy_service)},
                  {"in_kernel", live != nullptr},
                  {"active_conns", 0},
                  {"inactive_conns", 0}};
      if (s.fwmark) {
        svc["fwmark"] = *s.fwmark;
        svc["ports_total"] = s.ports.size();
      }
      put_traffic(svc, live ? snap.kernel.stats(*live) : ipvs::Stats{});
      json backends = json::array();
      std::uint64_t active = 0, inactive = 0;
      for (const auto& b : s.backends) {
        const std::uint16_t bport = ipvs::dest_port(s, b, port);
        const ipvs::Destination* dest = nullptr;
        if (live) {
          auto d = live->destinations.find(ipvs::DestKey{b.address, bport});
          if (d != live->destinations.end()) dest = &d->second;
        }
        const health::BackendHealth* h = find_health(snap, health::check_key(s, port, b));
        std::string state =
            s.health->type == config::HealthType::none
                ? "unchecked"
                : std::string(health::to_string(h ? h->status : health::Status::unknown));
        const bool drained = snap.drains.is_drained(s.name, b.address);
        if (dest) {
          active += snap.kernel.counters(*dest).active_conns;
          inactive += snap.kernel.counters(*dest).inactive_conns;
        }
        // The summary lists only what needs a look: not up, drained, or missing from the kernel.
        // (Without IPVS nothing is in the kernel; the ipvs section says so once.)
        const bool fine = (state == "up" || state == "unchecked") && !drained &&
                          (dest != nullptr || !snap.ipvs_available);
        if (summary && fine) continue;
        json bj = {{"address", b.address.to_string()},
                   {"port", bport},
                   {"weight", dest ? json(dest->weight) : json()},
                   {"weight_configured", b.weight},
                   {"health", state},
                   {"drained", drained},
                   {"in_kernel", dest != nullptr},
                   {"latency_ms",
                    h && h->last_latency() ? json(h->last_latency()->count() / 1000.0) : json()},
                   {"last_error", h ? h->last_error() : ""},
                   {"active_conns", dest ? snap.kernel.counters(*dest).active_conns : 0},
                   {"inactive_conns", dest ? snap.kernel.counters(*dest).inactive_conns : 0}};
        put_traffic(bj, dest ? snap.kernel.counters(*dest).stats : ipvs::Stats{});
        backends.push_back(bj);
      }
      svc["active_conns"] = active;
      svc["inactive_conns"] = inactive;
      svc["backends_total"] = s.backends.size();
      svc["backends"] = backends;
      services.push_back(svc);
    }
  }
  doc["services"] = services;

  if (!summary) {  // every check's detail: the bulk of the document at scale
    json checks = json::array();
    for (const auto& [key, h] : all_checks(snap)) checks.push_back(health_json(key, h));
    doc["health"] = checks;
  }
  if (snap.health_running) {
    const auto& ho = snap.half_open;
    doc["health_checker"] = {{"local_resource_errors", snap.health_local_resource_errors},
                             {"half_open",
                              {{"syns_sent", ho.sent},
                               {"answers", ho.answers},
                               {"stray", ho.stray},
                               {"malformed", ho.malformed},
                               {"send_errors", ho.send_errors},
                               {"buffer_overflows", ho.buffer_overflows}}}};
  }

  json conflicts = json::array();
  for (const auto& c : snap.ipvs_conflicts) conflicts.push_back(c);
  doc["ipvs"] = {{"enabled", !cfg.services.empty()},
                 {"available", snap.ipvs_available},
                 {"error", snap.ipvs_error ? json(*snap.ipvs_error) : json()},
                 {"operations_total", snap.ipvs_operations},
                 {"operation_errors_total", snap.ipvs_operation_errors},
                 {"conflicts", conflicts},
                 {"repair", snap.ipvs_repair},
                 {"tuning", snap.ipvs_tuning}};
  doc["ipvs"]["sync"] = sync_section(snap);
  doc["nft"] = snap.nft;
  return doc;
}

}  // namespace l4lb::daemon::reference
