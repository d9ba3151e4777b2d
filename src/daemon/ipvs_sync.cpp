// `ipvs.sync_daemon`: the kernel's IPVS connection-sync daemons follow one VRRP instance
// (policy in ipvs/sync.hpp, kernel I/O in ipvs/sync_controller.*). Here: which state the
// instance is in, and the status section.
#include "common/log.hpp"
#include "daemon/daemon.hpp"
#include "ipvs/sync.hpp"

namespace l4lb::daemon {
namespace {

nlohmann::json to_json(const ipvs::SyncDaemon& d) {
  return {{"role", std::string(ipvs::to_string(d.role))},
          {"interface", d.interface},
          {"sync_id", d.sync_id},
          {"group", d.group ? nlohmann::json(d.group->to_string()) : nlohmann::json()},
          {"port", d.port},
          {"ttl", d.ttl},
          {"maxlen", d.maxlen}};
}

}  // namespace

bool Daemon::sync_instance_is_master(const config::Config& cfg) const {
  // MASTER in either family (an instance with IPv4 and IPv6 VIPs runs one machine for each).
  if (!cfg.ipvs.sync_daemon) return false;
  for (const auto& [key, state] : vrrp_states_)
    if (key.first == cfg.ipvs.sync_daemon->instance && state == vrrp::State::master) return true;
  return false;
}

nlohmann::json Daemon::ipvs_sync_status() const {
  using nlohmann::json;
  if (!sync_) return nullptr;
  const auto& st = sync_->status();
  if (!st.config && st.running.empty()) return nullptr;
  json configured = nullptr;
  if (st.config) {
    const auto& c = *st.config;
    configured = {{"instance", c.instance},
                  {"interface", c.interface},
                  {"sync_id", c.sync_id},
                  {"group", c.group.to_string()},
                  {"port", c.port},
                  {"ttl", c.ttl},
                  {"maxlen", c.maxlen ? json(c.maxlen) : json()},
                  {"backup_on_master", c.backup_on_master}};
  }
  json wanted = json::array(), running = json::array();
  for (const auto& d : st.wanted) wanted.push_back(std::string(ipvs::to_string(d.role)));
  for (const auto& d : st.running) running.push_back(to_json(d));
  return {{"configured", configured},
          {"instance_master", st.master},
          {"wanted", wanted},
          {"running", st.read_ok ? running : json()},
          {"in_sync", st.in_sync},
          {"starts_total", st.starts},
          {"stops_total", st.stops},
          {"role_changes_total", st.role_changes},
          {"errors_total", st.errors},
          {"last_error", st.last_error.empty() ? json() : json(st.last_error)}};
}

}  // namespace l4lb::daemon
