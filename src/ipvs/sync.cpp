#include "ipvs/sync.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace l4lb::ipvs {

std::string_view to_string(SyncRole r) { return r == SyncRole::master ? "master" : "backup"; }

std::vector<SyncDaemon> wanted_sync_daemons(const std::optional<config::SyncDaemon>& config,
                                            bool master, bool stopping) {
  if (!config || stopping) return {};
  SyncDaemon d;
  d.interface = config->interface;
  d.sync_id = config->sync_id;
  d.maxlen = config->maxlen;
  d.group = config->group;
  d.port = config->port;
  d.ttl = config->ttl;
  std::vector<SyncDaemon> out;
  if (master) {
    d.role = SyncRole::master;
    out.push_back(d);
    if (!config->backup_on_master) return out;
  }
  d.role = SyncRole::backup;
  out.push_back(d);
  return out;
}

bool sync_daemon_matches(const SyncDaemon& want, const SyncDaemon& have) {
  return want.role == have.role && want.interface == have.interface &&
         want.sync_id == have.sync_id && (!want.maxlen || want.maxlen == have.maxlen) &&
         (!want.group || want.group == have.group) && (!want.port || want.port == have.port) &&
         (!want.ttl || want.ttl == have.ttl);
}

std::vector<SyncStep> plan_sync(std::span<const SyncDaemon> want,
                                std::span<const SyncDaemon> running) {
  std::vector<SyncStep> stops, starts;
  auto same_role = [](const SyncDaemon& a, const SyncDaemon& b) { return a.role == b.role; };
  for (const auto& r : running) {
    auto w = std::find_if(want.begin(), want.end(),
                          [&](const SyncDaemon& x) { return same_role(x, r); });
    if (w == want.end() || !sync_daemon_matches(*w, r)) stops.push_back({SyncStep::Kind::stop, r});
  }
  for (const auto& w : want) {
    auto r = std::find_if(running.begin(), running.end(),
                          [&](const SyncDaemon& x) { return same_role(x, w); });
    if (r == running.end() || !sync_daemon_matches(w, *r))
      starts.push_back({SyncStep::Kind::start, w});
  }
  stops.insert(stops.end(), starts.begin(), starts.end());
  return stops;
}

std::string describe(const SyncDaemon& d) {
  std::string group = d.group ? d.group->to_string() : std::string("default");
  if (d.group && d.group->family() == net::Family::v6) group = "[" + group + "]";
  return fmt::format("{} {} id {} {}:{} ttl {} maxlen {}", to_string(d.role), d.interface,
                     d.sync_id, group, d.port ? std::to_string(d.port) : std::string("default"),
                     d.ttl ? std::to_string(d.ttl) : std::string("default"),
                     d.maxlen ? std::to_string(d.maxlen) : std::string("default"));
}

}  // namespace l4lb::ipvs
