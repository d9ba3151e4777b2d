#include "config/diff.hpp"

#include <fmt/format.h>

#include <map>
#include <tuple>

namespace l4lb::config {
namespace {

// Field-by-field comparisons that ignore Location: moving a block in the file is not a change.
template <typename T, typename Getter>
void compare(const T& a, const T& b, std::string_view field, Getter get,
             std::vector<std::string>& out) {
  if (!(get(a) == get(b))) out.emplace_back(field);
}

std::vector<std::string> instance_fields(const VrrpInstance& a, const VrrpInstance& b) {
  std::vector<std::string> f;
  compare(
      a, b, "interface", [](auto& x) { return x.interface; }, f);
  compare(
      a, b, "vrid", [](auto& x) { return x.vrid; }, f);
  compare(
      a, b, "priority", [](auto& x) { return x.priority; }, f);
  compare(
      a, b, "advert_interval", [](auto& x) { return x.advert_interval; }, f);
  compare(
      a, b, "preempt", [](auto& x) { return x.preempt; }, f);
  compare(
      a, b, "preempt_delay", [](auto& x) { return x.preempt_delay; }, f);
  compare(
      a, b, "accept_mode", [](auto& x) { return x.accept_mode; }, f);
  compare(
      a, b, "unicast",
      [](auto& x) {
        return x.unicast ? std::optional{std::tie(x.unicast->source, x.unicast->peers)}
                         : std::nullopt;
      },
      f);
  compare(
      a, b, "vips", [](auto& x) { return x.vips; }, f);
  compare(
      a, b, "track.interfaces",
      [](auto& x) {
        std::vector<std::pair<std::string, std::optional<int>>> v;
        for (auto& t : x.track_interfaces) v.emplace_back(t.name, t.weight);
        return v;
      },
      f);
  compare(
      a, b, "track.services",
      [](auto& x) {
        std::vector<std::pair<std::string, int>> v;
        for (auto& t : x.track_services) v.emplace_back(t.service, t.weight);
        return v;
      },
      f);
  compare(
      a, b, "garp",
      [](auto& x) { return std::tie(x.garp.repeat, x.garp.interval, x.garp.refresh); }, f);
  compare(
      a, b, "notify", [](auto& x) { return x.notify; }, f);
  compare(
      a, b, "notify_timeout", [](auto& x) { return x.notify_timeout; }, f);
  return f;
}

std::vector<std::string> service_fields(const Service& a, const Service& b) {
  std::vector<std::string> f;
  compare(
      a, b, "vip", [](auto& x) { return x.vip; }, f);
  compare(
      a, b, "ports", [](auto& x) { return x.ports; }, f);
  compare(
      a, b, "protocol", [](auto& x) { return x.protocol; }, f);
  compare(
      a, b, "scheduler", [](auto& x) { return x.scheduler; }, f);
  compare(
      a, b, "scheduler_flags",
      [](auto& x) {
        return std::pair{x.sh_fallback, x.sh_port};
      },
      f);
  compare(
      a, b, "one_packet", [](auto& x) { return x.one_packet; }, f);
  compare(
      a, b, "forward", [](auto& x) { return x.forward; }, f);
  compare(
      a, b, "snat", [](auto& x) { return x.snat; }, f);
  compare(
      a, b, "fwmark", [](auto& x) { return x.fwmark; }, f);
  compare(
      a, b, "persistence", [](auto& x) { return x.persistence; }, f);
  compare(
      a, b, "persistence_netmask", [](auto& x) { return x.persistence_netmask; }, f);
  compare(
      a, b, "on_failure", [](auto& x) { return x.on_failure; }, f);
  compare(
      a, b, "quorum", [](auto& x) { return x.quorum; }, f);
  compare(
      a, b, "wait_first_check", [](auto& x) { return x.wait_first_check; }, f);
  compare(
      a, b, "health", [](auto& x) -> const SharedHealth& { return x.health; }, f);
  return f;
}

std::vector<std::string> backend_fields(const Backend& a, const Backend& b) {
  std::vector<std::string> f;
  compare(
      a, b, "weight", [](auto& x) { return x.weight; }, f);
  compare(
      a, b, "upper_threshold", [](auto& x) { return x.upper_threshold; }, f);
  compare(
      a, b, "lower_threshold", [](auto& x) { return x.lower_threshold; }, f);
  return f;
}

std::string backend_name(const Service& s, const Backend& b) {
  return fmt::format("{}/{}", s.name,
                     b.port ? b.address.with_port(*b.port) : b.address.to_string());
}

// Matches items by key; reports removed (old order), then added and changed (new order).
template <typename T, typename Key, typename Fields, typename Name>
void match(const std::vector<T>& old_items, const std::vector<T>& new_items, Key key, Fields fields,
           Name name, std::vector<ItemChange>& out) {
  std::map<decltype(key(old_items.front())), const T*> old_by_key;
  std::map<decltype(key(old_items.front())), const T*> new_by_key;
  for (const auto& o : old_items) old_by_key.emplace(key(o), &o);
  for (const auto& n : new_items) new_by_key.emplace(key(n), &n);
  for (const auto& o : old_items)
    if (!new_by_key.contains(key(o))) out.push_back({Change::removed, name(o), {}});
  for (const auto& n : new_items) {
    auto it = old_by_key.find(key(n));
    if (it == old_by_key.end()) {
      out.push_back({Change::added, name(n), {}});
    } else if (auto f = fields(*it->second, n); !f.empty()) {
      out.push_back({Change::changed, name(n), std::move(f)});
    }
  }
}

}  // namespace

bool ConfigDiff::empty() const {
  return vrrp.empty() && services.empty() && backends.empty() && global_fields.empty();
}

std::vector<std::string> ConfigDiff::describe() const {
  std::vector<std::string> lines;
  auto verb = [](Change c) {
    return c == Change::added ? "added" : c == Change::removed ? "removed" : "changed";
  };
  auto emit = [&](std::string_view kind, const std::vector<ItemChange>& items) {
    for (const auto& c : items) {
      std::string line = fmt::format("{} '{}' {}", kind, c.name, verb(c.change));
      if (!c.fields.empty()) line += fmt::format(": {}", fmt::join(c.fields, ", "));
      lines.push_back(std::move(line));
    }
  };
  for (const auto& g : global_fields) lines.push_back(fmt::format("{} changed", g));
  emit("vrrp instance", vrrp);
  emit("service", services);
  emit("backend", backends);
  return lines;
}

ConfigDiff diff(const Config& a, const Config& b) {
  ConfigDiff d;
  if (a.node_name != b.node_name) d.global_fields.emplace_back("node_name");
  if (a.state_dir != b.state_dir) d.global_fields.emplace_back("state_dir");
  if (a.control.socket != b.control.socket) d.global_fields.emplace_back("control.socket");
  if (a.control.group != b.control.group) d.global_fields.emplace_back("control.group");
  if (a.control.admin_group != b.control.admin_group)
    d.global_fields.emplace_back("control.admin_group");
  if (a.metrics.listen != b.metrics.listen) d.global_fields.emplace_back("metrics.listen");
  if (a.ipvs.timeouts != b.ipvs.timeouts) d.global_fields.emplace_back("ipvs.timeouts");
  if (a.ipvs.sysctls != b.ipvs.sysctls) d.global_fields.emplace_back("ipvs.sysctls");
  if (a.ipvs.sync_daemon != b.ipvs.sync_daemon) d.global_fields.emplace_back("ipvs.sync_daemon");
  if (a.ipvs.reconcile_interval != b.ipvs.reconcile_interval)
    d.global_fields.emplace_back("ipvs.reconcile_interval");
  if (a.remove_services_on_exit != b.remove_services_on_exit)
    d.global_fields.emplace_back("remove_services_on_exit");
  if (a.realtime_priority != b.realtime_priority) d.global_fields.emplace_back("realtime_priority");

  auto by_name = [](const auto& x) { return x.name; };
  match(a.vrrp, b.vrrp, by_name, instance_fields, by_name, d.vrrp);
  match(a.services, b.services, by_name, service_fields, by_name, d.services);

  // Backends of services present in both configs; an added or removed service
  // brings or takes all of its backends with it.
  std::map<std::string, const Service*> old_services;
  for (const auto& s : a.services) old_services.emplace(s.name, &s);
  for (const auto& s : b.services) {
    auto it = old_services.find(s.name);
    if (it == old_services.end()) continue;
    auto key = [](const Backend& x) { return std::pair{x.address, x.port}; };
    auto name = [&s](const Backend& x) { return backend_name(s, x); };
    match(it->second->backends, s.backends, key, backend_fields, name, d.backends);
  }
  return d;
}

}  // namespace l4lb::config
