// The status document served to `l4lbctl status` and rendered into /metrics.
// Its schema is documented in docs/STATUS.md; keep the two in step.
#include <unistd.h>

#include <chrono>

#include "common/log.hpp"
#include "config/loader.hpp"
#include "daemon/daemon.hpp"
#include "health/quorum.hpp"
#include "health/spec.hpp"

namespace l4lb::daemon {
namespace {

using nlohmann::json;

double unix_seconds(std::chrono::system_clock::time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
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
  for (const auto& [reason, count] : h.failures_by_reason) failures[reason] = count;
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
          {"last_error", h.last_error},
          {"latency_ms", h.last_latency_us ? json(h.last_latency_us->count() / 1000.0) : json()},
          {"last_transition", h.last_transition.time_since_epoch().count() == 0
                                  ? json()
                                  : json(unix_seconds(h.last_transition))},
          {"checks", h.checks},
          {"transitions", h.transitions},
          {"failures", failures},
          {"latency_histogram",
           {{"buckets", buckets}, {"sum", h.latency.sum_seconds}, {"count", h.latency.total()}}}};
}

}  // namespace

void Daemon::status(std::function<void(nlohmann::json)> done) {
  if (!ipvs_) return done(status_document(ipvs::Table{}));
  if (!table_reader_) return done(status_document(ipvs_->current()));
  // The document is built when the table arrives, so that it shows the state of that moment.
  table_reader_->read(
      [this, done = std::move(done)](std::optional<ipvs::Table> table, const std::string& error) {
        if (!table) {
          log::warning("ipvs dump for status failed: {}", error);
          return done(status_document(ipvs_ ? ipvs_->model() : ipvs::Table{}));
        }
        done(status_document(*table));
      });
}

nlohmann::json Daemon::status_document(const ipvs::Table& kernel) {
  json doc;
  doc["schema"] = 1;
  doc["daemon"] = {{"node", config_.node_name},
                   {"version", L4LB_VERSION},
                   {"pid", ::getpid()},
                   {"started_at", started_at_},
                   {"config_file", config_path_},
                   {"generation", generation_},
                   {"reloads_ok", reloads_ok_},
                   {"reloads_failed", reloads_failed_},
                   {"summary", config::summary(config_)}};
  if (!last_reload_.is_null()) doc["daemon"]["last_reload"] = last_reload_;

  json vrrp = json::array();
  if (vrrp_)
    for (const auto& i : vrrp_->status()) {
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
                      {"vip_repairs", i.vip_repairs},
                      {"vip_add_errors", i.vip_add_errors},
                      {"fault_reason", i.fault_reason},
                      {"drops", drops}});
    }
  doc["vrrp"] = vrrp;
  if (vrrp_) {
    const auto nl = vrrp_->netlink_stats();
    doc["rtnetlink"] = {
        {"overflows", nl.overflows}, {"resyncs", nl.resyncs}, {"resync_errors", nl.resync_errors}};
  }

  json services = json::array();
  for (const auto& s : config_.services) {
    const int healthy_service = health_ ? healthy_backends(s) : 0;
    for (auto port : s.ports) {
      const int healthy = health_ ? healthy_backends(s, port) : 0;
      auto it = kernel.services.find(ipvs::service_key(s, port));
      const ipvs::Service* live = it == kernel.services.end() ? nullptr : &it->second;
      json svc = {{"name", s.name},
                  {"vip", s.vip.to_string()},
                  {"port", port},
                  {"protocol", std::string(config::to_string(s.protocol))},
                  {"scheduler", s.scheduler},
                  {"forward", std::string(config::to_string(s.forward))},
                  {"quorum", s.quorum},
                  {"healthy", healthy},
                  {"quorum_met", !health::below_quorum(s, healthy_service)},
                  {"in_kernel", live != nullptr},
                  {"active_conns", 0},
                  {"inactive_conns", 0}};
      put_traffic(svc, live ? live->stats : ipvs::Stats{});
      json backends = json::array();
      std::uint64_t active = 0, inactive = 0;
      for (const auto& b : s.backends) {
        const std::uint16_t bport = b.port.value_or(port);
        const ipvs::Destination* dest = nullptr;
        if (live) {
          auto d = live->destinations.find(ipvs::DestKey{b.address, bport});
          if (d != live->destinations.end()) dest = &d->second;
        }
        auto h = health_ ? health_->get(health::check_key(s, port, b)) : std::nullopt;
        std::string state =
            s.health.type == config::HealthType::none
                ? "unchecked"
                : std::string(health::to_string(h ? h->status : health::Status::unknown));
        json bj = {{"address", b.address.to_string()},
                   {"port", bport},
                   {"weight", dest ? json(dest->weight) : json()},
                   {"weight_configured", b.weight},
                   {"health", state},
                   {"drained", drains_.is_drained(s.name, b.address)},
                   {"in_kernel", dest != nullptr},
                   {"latency_ms",
                    h && h->last_latency_us ? json(h->last_latency_us->count() / 1000.0) : json()},
                   {"last_error", h ? h->last_error : ""},
                   {"active_conns", dest ? dest->active_conns : 0},
                   {"inactive_conns", dest ? dest->inactive_conns : 0}};
        put_traffic(bj, dest ? dest->stats : ipvs::Stats{});
        if (dest) {
          active += dest->active_conns;
          inactive += dest->inactive_conns;
        }
        backends.push_back(bj);
      }
      svc["active_conns"] = active;
      svc["inactive_conns"] = inactive;
      svc["backends"] = backends;
      services.push_back(svc);
    }
  }
  doc["services"] = services;

  json checks = json::array();
  if (health_)
    for (const auto& [key, h] : health_->snapshot()) checks.push_back(health_json(key, h));
  doc["health"] = checks;
  if (health_) {
    const auto st = health_->stats();
    doc["health_checker"] = {{"local_resource_errors", st.local_resource_errors},
                             {"half_open",
                              {{"syns_sent", st.half_open.sent},
                               {"answers", st.half_open.answers},
                               {"stray", st.half_open.stray},
                               {"malformed", st.half_open.malformed},
                               {"send_errors", st.half_open.send_errors},
                               {"buffer_overflows", st.half_open.buffer_overflows}}}};
  }

  json conflicts = json::array();
  for (const auto& c : ipvs_conflicts_) conflicts.push_back(c);
  doc["ipvs"] = {{"enabled", !config_.services.empty()},
                 {"available", ipvs_ != nullptr},
                 {"error", ipvs_error_ ? json(*ipvs_error_) : json()},
                 {"operations_total", ipvs_operations_},
                 {"operation_errors_total", ipvs_operation_errors_},
                 {"conflicts", conflicts}};
  return doc;
}

}  // namespace l4lb::daemon
