#include "health/healthy_counts.hpp"

#include <algorithm>

#include "health/spec.hpp"

namespace l4lb::health {

void HealthyCounts::reset(std::shared_ptr<const config::Config> config, const StatusOf& status_of,
                          const DrainedIn& drained) {
  // Afresh: with no previous entries, carry_over has nothing to keep.
  entries_.clear();
  by_name_.clear();
  config_.reset();
  carry_over(std::move(config), {}, {}, status_of, drained);
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

void HealthyCounts::carry_over(std::shared_ptr<const config::Config> config,
                               const std::vector<std::size_t>& touched,
                               const std::vector<std::size_t>& added, const StatusOf& status_of,
                               const DrainedIn& drained) {
  // The previous entries stay readable (their names are views into the previous config, which
  // `previous` keeps alive) until the new ones are built.
  std::shared_ptr<const config::Config> previous = std::move(config_);
  std::vector<Entry> old_entries = std::move(entries_);
  std::unordered_map<std::string_view, std::size_t> old_by_name = std::move(by_name_);
  entries_.clear();
  flat_.clear();
  by_name_.clear();
  config_ = std::move(config);
  if (!config_) return;
  const auto& services = config_->services;
  std::vector<char> is_touched(services.size(), 0);  // 2: added
  for (auto i : touched)
    if (i < services.size()) is_touched[i] = 1;
  for (auto i : added)
    if (i < services.size()) is_touched[i] = 2;
  entries_.reserve(services.size());
  by_name_.reserve(services.size());
  for (std::size_t i = 0; i < services.size(); ++i) {
    const config::Service& s = services[i];
    Entry e;
    auto it = is_touched[i] ? old_by_name.end() : old_by_name.find(s.name);
    if (it != old_by_name.end() &&
        old_entries[it->second].status.size() == s.ports.size() * s.backends.size() &&
        old_entries[it->second].drained.size() == s.backends.size()) {
      e = std::move(old_entries[it->second]);
      e.service = &s;
    } else {
      e = fresh(s, is_touched[i] == 2 ? nullptr : &status_of, drained);
    }
    e.offset = flat_.size();
    flat_.resize(flat_.size() + s.ports.size());
    by_name_.emplace(s.name, entries_.size());
    entries_.push_back(std::move(e));
    recount(entries_.back());
  }
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

int HealthyCounts::healthy(std::string_view service) const {
  auto it = by_name_.find(service);
  return it == by_name_.end() ? 0 : lowest(entries_[it->second]);
}

}  // namespace l4lb::health
