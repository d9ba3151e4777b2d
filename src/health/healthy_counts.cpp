#include "health/healthy_counts.hpp"

#include <algorithm>

#include "health/spec.hpp"

namespace l4lb::health {

void HealthyCounts::reset(std::shared_ptr<const config::Config> config, const StatusOf& status_of,
                          const DrainedIn& drained) {
  config_ = std::move(config);
  Index index;
  if (config_) index.by_name = names_of(*config_);
  // No previous positions: every entry counted afresh.
  build(std::move(index), {}, {}, status_of, drained);
}

std::unordered_map<std::string_view, std::size_t> HealthyCounts::names_of(
    const config::Config& config) {
  std::unordered_map<std::string_view, std::size_t> names;
  names.reserve(config.services.size());
  for (std::size_t i = 0; i < config.services.size(); ++i)
    names.emplace(config.services[i].name, i);
  return names;
}

HealthyCounts::Index HealthyCounts::index_for(const config::Config& previous,
                                              const config::Config& next) {
  Index index;
  const auto before = names_of(previous);
  index.by_name = names_of(next);
  index.previous.reserve(next.services.size());
  for (std::size_t i = 0; i < next.services.size(); ++i) {
    auto it = before.find(next.services[i].name);
    index.previous.push_back(it == before.end() ? npos : it->second);
    if (it == before.end()) index.created.push_back(fresh(next.services[i], nullptr, {}));
  }
  return index;
}

HealthyCounts::Entry HealthyCounts::fresh(const config::Service& s, const StatusOf* status_of,
                                          const DrainedIn& drained) {
  Entry e;
  e.service = &s;
  e.status.reserve(s.ports.size() * s.backends.size());
  const bool unchecked = s.health.type == config::HealthType::none;
  for (auto port : s.ports)
    for (const auto& b : s.backends)
      e.status.push_back(unchecked   ? Status::up
                         : status_of ? (*status_of)(check_key(s, port, b))
                                     : Status::unknown);
  for (const auto& b : s.backends) e.drained.push_back(drained && drained(s, b) ? 1 : 0);
  return e;
}

HealthyCounts::Leftovers HealthyCounts::carry_over(std::shared_ptr<const config::Config> config,
                                                   Index index,
                                                   const std::vector<std::size_t>& touched,
                                                   const std::vector<std::size_t>& added,
                                                   const StatusOf& status_of,
                                                   const DrainedIn& drained) {
  // The previous entries' services stay readable (`previous` keeps their config alive) until
  // the new entries are built; the caller decides where the previous config is freed.
  std::shared_ptr<const config::Config> previous = std::move(config_);
  config_ = std::move(config);
  if (config_ && index.by_name.size() != config_->services.size()) {
    // Not an index of this config (a caller's mistake): count afresh rather than misread.
    index = Index{};
    index.by_name = names_of(*config_);
  }
  Leftovers left = build(std::move(index), touched, added, status_of, drained);
  left.config = std::move(previous);
  return left;
}

HealthyCounts::Leftovers HealthyCounts::build(Index index, const std::vector<std::size_t>& touched,
                                              const std::vector<std::size_t>& added,
                                              const StatusOf& status_of, const DrainedIn& drained) {
  Leftovers left;
  left.entries = std::move(entries_);
  left.by_name = std::move(by_name_);
  std::vector<Entry>& old_entries = left.entries;
  const std::vector<PortCounts> old_flat = std::move(flat_);
  entries_.clear();
  flat_.clear();
  by_name_ = std::move(index.by_name);
  if (!config_) return left;
  const auto& services = config_->services;
  std::vector<char> is_touched(services.size(), 0);  // 2: added
  for (auto i : touched)
    if (i < services.size()) is_touched[i] = 1;
  for (auto i : added)
    if (i < services.size()) is_touched[i] = 2;
  entries_.reserve(services.size());
  std::size_t n_ports = 0;
  for (const auto& s : services) n_ports += s.ports.size();
  flat_.resize(n_ports);
  std::size_t offset = 0;
  std::size_t created = 0;  // the next of index.created
  for (std::size_t i = 0; i < services.size(); ++i) {
    const config::Service& s = services[i];
    const std::size_t before = i < index.previous.size() ? index.previous[i] : npos;
    Entry e;
    // An untouched service has the same ports, backends and checks as its previous entry;
    // the sizes and the name are checked all the same (a wrong index must not misread).
    if (!is_touched[i] && before < old_entries.size() &&
        old_entries[before].service->name == s.name &&
        old_entries[before].status.size() == s.ports.size() * s.backends.size() &&
        old_entries[before].drained.size() == s.backends.size()) {
      // Same statuses, drains and ports: same counts (no recount of 80,000 slots).
      e = std::move(old_entries[before]);
      e.service = &s;
      std::copy_n(old_flat.begin() + static_cast<std::ptrdiff_t>(e.offset), s.ports.size(),
                  flat_.begin() + static_cast<std::ptrdiff_t>(offset));
      e.offset = offset;
      entries_.push_back(std::move(e));
    } else if (is_touched[i] == 2 && before == npos && !drained && created < index.created.size() &&
               index.created[created].status.size() == s.ports.size() * s.backends.size()) {
      // Added, made on the reload worker; with drains in place it is made here (a drain may
      // name a backend of a new service).
      e = std::move(index.created[created]);
      e.service = &s;
      e.offset = offset;
      entries_.push_back(std::move(e));
      recount(entries_.back());
    } else {
      e = fresh(s, is_touched[i] == 2 ? nullptr : &status_of, drained);
      e.offset = offset;
      entries_.push_back(std::move(e));
      recount(entries_.back());
    }
    offset += s.ports.size();
    if (before == npos) ++created;
  }
  return left;
}

void HealthyCounts::recount(Entry& e) {
  const config::Service& s = *e.service;
  const std::size_t nb = s.backends.size();
  for (std::size_t p = 0; p < s.ports.size(); ++p) {
    PortCounts c;
    for (std::size_t b = 0; b < nb; ++b) {
      const Status st = e.status[p * nb + b];
      const bool drained = e.drained[b] != 0;
      c.healthy += counts_for_quorum(s, s.backends[b], st, drained) ? 1 : 0;
      c.fine += st == Status::up && !drained ? 1 : 0;
    }
    flat_[e.offset + p] = c;
  }
}

void HealthyCounts::on_change(const BackendKey& key, Status status) {
  auto it = by_name_.find(key.service);
  if (it == by_name_.end()) return;
  Entry& e = entries_[it->second];
  const config::Service& s = *e.service;
  if (s.health.type == config::HealthType::none) return;  // counted as up whatever happens
  const std::size_t nb = s.backends.size();
  const bool shared = shares_check(s);
  for (std::size_t p = 0; p < s.ports.size(); ++p)
    for (std::size_t b = 0; b < nb; ++b) {
      const config::Backend& be = s.backends[b];
      // check_key(s, port, be) == key, without building the key.
      const std::uint16_t port = shared ? 0 : be.port.value_or(s.ports[p]);
      if (port != key.port || be.address != key.address) continue;
      Status& slot = e.status[p * nb + b];
      if (slot == status) continue;
      const bool drained = e.drained[b] != 0;
      PortCounts& c = flat_[e.offset + p];
      c.healthy -= counts_for_quorum(s, be, slot, drained) ? 1 : 0;
      c.fine -= slot == Status::up && !drained ? 1 : 0;
      slot = status;
      c.healthy += counts_for_quorum(s, be, slot, drained) ? 1 : 0;
      c.fine += slot == Status::up && !drained ? 1 : 0;
    }
}

void HealthyCounts::drains_changed(const std::string& service, const DrainedIn& drained) {
  auto it = by_name_.find(service);
  if (it == by_name_.end()) return;
  Entry& e = entries_[it->second];
  for (std::size_t b = 0; b < e.service->backends.size(); ++b)
    e.drained[b] = drained && drained(*e.service, e.service->backends[b]) ? 1 : 0;
  recount(e);
}

std::span<const HealthyCounts::PortCounts> HealthyCounts::ports(std::string_view service) const {
  auto it = by_name_.find(service);
  if (it == by_name_.end()) return {};
  const Entry& e = entries_[it->second];
  return {flat_.data() + e.offset, e.service->ports.size()};
}

int HealthyCounts::healthy_on_port(std::string_view service, std::uint16_t port) const {
  auto it = by_name_.find(service);
  if (it == by_name_.end()) return 0;
  const Entry& e = entries_[it->second];
  const auto& ports = e.service->ports;
  auto p = std::find(ports.begin(), ports.end(), port);
  return p == ports.end() ? 0
                          : flat_[e.offset + static_cast<std::size_t>(p - ports.begin())].healthy;
}

int HealthyCounts::lowest(const Entry& e) const {
  const std::size_t n_ports = e.service->ports.size();
  if (n_ports == 0) return 0;
  int n = flat_[e.offset].healthy;
  for (std::size_t p = 1; p < n_ports; ++p) n = std::min(n, flat_[e.offset + p].healthy);
  return n;
}

int HealthyCounts::healthy_at(std::size_t service) const {
  return service < entries_.size() ? lowest(entries_[service]) : 0;
}

int HealthyCounts::healthy(std::string_view service) const {
  auto it = by_name_.find(service);
  return it == by_name_.end() ? 0 : lowest(entries_[it->second]);
}

}  // namespace l4lb::health
