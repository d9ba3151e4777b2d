#include "health/healthy_counts.hpp"

#include <algorithm>

#include "health/spec.hpp"

namespace l4lb::health {

// A carry-over in steps: what the previous counts were, and which service is still to carry.
struct HealthyCounts::Pending {
  std::shared_ptr<const config::Config> previous_config;  // keeps old_entries' services alive
  std::vector<Entry> old_entries;
  std::vector<PortCounts> old_flat;
  std::unordered_map<std::string_view, std::size_t> old_by_name;
  std::vector<std::size_t> previous;  // per service of config_: its old position, or npos
  // Per service of config_: what is left to do for it.
  enum : std::uint8_t { untouched, touched, added, carried };
  std::vector<std::uint8_t> state;
  std::size_t cursor = 0;  // every service before it is carried
  std::size_t left = 0;    // services not carried yet
  StatusOf status_of;
  DrainedIn drained;
};

HealthyCounts::HealthyCounts() = default;
HealthyCounts::~HealthyCounts() = default;
HealthyCounts::HealthyCounts(HealthyCounts&&) noexcept = default;
HealthyCounts& HealthyCounts::operator=(HealthyCounts&&) noexcept = default;

void HealthyCounts::reset(std::shared_ptr<const config::Config> config, const StatusOf& status_of,
                          const DrainedIn& drained) {
  pending_.reset();
  entries_.clear();
  flat_.clear();
  by_name_.clear();
  config_ = std::move(config);
  if (!config_) return;
  // No previous positions: every entry counted afresh.
  (void)begin_carry_over(config_, fresh_index(*config_), {}, {}, status_of, drained);
  (void)finish_carry_over();
}

std::unordered_map<std::string_view, std::size_t> HealthyCounts::names_of(
    const config::Config& config) {
  std::unordered_map<std::string_view, std::size_t> names;
  names.reserve(config.services.size());
  for (std::size_t i = 0; i < config.services.size(); ++i)
    names.emplace(config.services[i].name, i);
  return names;
}

HealthyCounts::Index HealthyCounts::fresh_index(const config::Config& config) {
  Index index;
  index.by_name = names_of(config);
  index.previous.assign(config.services.size(), npos);
  index.entries.resize(config.services.size());
  for (std::size_t i = 0; i < config.services.size(); ++i) {
    index.entries[i].offset = index.ports;
    index.ports += config.services[i].ports.size();
  }
  return index;
}

HealthyCounts::Index HealthyCounts::index_for(const config::Config& previous,
                                              const config::Config& next) {
  Index index;
  const auto before = names_of(previous);
  index.by_name = names_of(next);
  index.previous.reserve(next.services.size());
  index.entries.resize(next.services.size());
  for (std::size_t i = 0; i < next.services.size(); ++i) {
    auto it = before.find(next.services[i].name);
    index.previous.push_back(it == before.end() ? npos : it->second);
    if (it == before.end()) index.entries[i] = fresh(next.services[i], nullptr, {});
    index.entries[i].offset = index.ports;
    index.ports += next.services[i].ports.size();
  }
  return index;
}

HealthyCounts::Entry HealthyCounts::fresh(const config::Service& s, const StatusOf* status_of,
                                          const DrainedIn& drained) {
  Entry e;
  e.service = &s;
  e.status.reserve(s.ports.size() * s.backends.size());
  const bool unchecked = s.health->type == config::HealthType::none;
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
  Leftovers earlier =
      begin_carry_over(std::move(config), std::move(index), touched, added, status_of, drained);
  Leftovers left = finish_carry_over();
  if (earlier.config) left.config = std::move(earlier.config);  // the oldest, for the caller
  return left;
}

HealthyCounts::Leftovers HealthyCounts::begin_carry_over(
    std::shared_ptr<const config::Config> config, Index index,
    const std::vector<std::size_t>& touched, const std::vector<std::size_t>& added,
    StatusOf status_of, DrainedIn drained) {
  // The index is relative to the counts as they are: a carry-over still pending ends first.
  Leftovers earlier = finish_carry_over();
  auto p = std::make_unique<Pending>();
  // The previous entries' services stay readable (`previous_config` keeps their config alive)
  // until the last of them is carried; the caller decides where that config is freed.
  p->previous_config = std::move(config_);
  p->old_entries = std::move(entries_);
  p->old_flat = std::move(flat_);
  p->old_by_name = std::move(by_name_);
  entries_.clear();
  flat_.clear();
  by_name_.clear();
  config_ = std::move(config);
  if (!config_) return earlier;
  const auto& services = config_->services;
  if (index.by_name.size() != services.size() || index.entries.size() != services.size() ||
      index.previous.size() != services.size())
    // Not an index of this config (a caller's mistake): count afresh rather than misread.
    index = fresh_index(*config_);
  by_name_ = std::move(index.by_name);
  entries_ = std::move(index.entries);
  flat_.resize(index.ports);
  p->previous = std::move(index.previous);
  p->state.assign(services.size(), Pending::untouched);
  for (auto i : touched)
    if (i < services.size()) p->state[i] = Pending::touched;
  for (auto i : added)
    if (i < services.size()) p->state[i] = Pending::added;
  p->left = services.size();
  p->status_of = std::move(status_of);
  p->drained = std::move(drained);
  pending_ = std::move(p);
  if (pending_->left == 0) (void)finish_carry_over();  // an empty config: nothing to carry
  return earlier;
}

void HealthyCounts::carry(std::size_t i) const {
  Pending& p = *pending_;
  const config::Service& s = config_->services[i];
  Entry& e = entries_[i];
  const std::size_t offset = e.offset;  // placed by the index
  const std::size_t before = p.previous[i];
  const auto& old = p.old_entries;
  // An untouched service has the same ports, backends and checks as its previous entry;
  // the sizes and the name are checked all the same (a wrong index must not misread).
  if (p.state[i] == Pending::untouched && before < old.size() && old[before].service &&
      old[before].service->name == s.name &&
      old[before].status.size() == s.ports.size() * s.backends.size() &&
      old[before].drained.size() == s.backends.size() &&
      old[before].offset + s.ports.size() <= p.old_flat.size()) {
    // Same statuses, drains and ports: same counts (no recount).
    const std::size_t old_offset = old[before].offset;
    e = std::move(p.old_entries[before]);
    e.service = &s;
    e.offset = offset;
    std::copy_n(p.old_flat.begin() + static_cast<std::ptrdiff_t>(old_offset), s.ports.size(),
                flat_.begin() + static_cast<std::ptrdiff_t>(offset));
  } else if (p.state[i] == Pending::added && before == npos && !p.drained &&
             e.status.size() == s.ports.size() * s.backends.size() &&
             e.drained.size() == s.backends.size()) {
    // Added, made on the reload worker; with drains in place it is made here (a drain may
    // name a backend of a new service).
    e.service = &s;
    recount(e);
  } else {
    e = fresh(s, p.state[i] == Pending::added ? nullptr : &p.status_of, p.drained);
    e.offset = offset;
    recount(e);
  }
  p.state[i] = Pending::carried;
  --p.left;
}

void HealthyCounts::ensure(std::size_t i) const {
  if (pending_ && i < pending_->state.size() && pending_->state[i] != Pending::carried) carry(i);
}

std::optional<HealthyCounts::Leftovers> HealthyCounts::carry_over_step(std::size_t max_services) {
  if (!pending_) return std::nullopt;
  Pending& p = *pending_;
  for (std::size_t n = 0; n < max_services && p.cursor < p.state.size(); ++p.cursor)
    if (p.state[p.cursor] != Pending::carried) {
      carry(p.cursor);
      ++n;
    }
  while (p.cursor < p.state.size() && p.state[p.cursor] == Pending::carried) ++p.cursor;
  if (p.left > 0) return std::nullopt;
  return finish_carry_over_const();
}

HealthyCounts::Leftovers HealthyCounts::finish_carry_over() { return finish_carry_over_const(); }

HealthyCounts::Leftovers HealthyCounts::finish_carry_over_const() const {
  Leftovers left;
  if (!pending_) return left;
  Pending& p = *pending_;
  for (std::size_t i = p.cursor; i < p.state.size() && p.left > 0; ++i)
    if (p.state[i] != Pending::carried) carry(i);
  left.config = std::move(p.previous_config);
  left.entries = std::move(p.old_entries);
  left.by_name = std::move(p.old_by_name);
  left.counts = std::move(p.old_flat);
  left.previous = std::move(p.previous);
  left.state = std::move(p.state);
  pending_.reset();
  return left;
}

HealthyCounts::All HealthyCounts::all() const {
  (void)finish_carry_over_const();
  return {config_, flat_};
}

void HealthyCounts::recount(Entry& e) const {
  const config::Service& s = *e.service;
  const std::size_t nb = s.backends.size();
  for (std::size_t p = 0; p < s.ports.size(); ++p) {
    PortCounts c;
    for (std::size_t b = 0; b < nb; ++b) {
      const Status st = e.status[p * nb + b];
      const bool drained = e.drained[b] != 0;
      c.healthy += counts_for_quorum(s, s.backends[b], st, drained) ? 1 : 0;
      c.fine += st == Status::up && !drained ? 1 : 0;
      c.awaiting += st == Status::unknown && !drained ? 1 : 0;
    }
    flat_[e.offset + p] = c;
  }
}

void HealthyCounts::on_change(const BackendKey& key, Status status) {
  auto it = by_name_.find(key.service);
  if (it == by_name_.end()) return;
  ensure(it->second);
  Entry& e = entries_[it->second];
  const config::Service& s = *e.service;
  if (s.health->type == config::HealthType::none) return;  // counted as up whatever happens
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
      c.awaiting -= slot == Status::unknown && !drained ? 1 : 0;
      slot = status;
      c.healthy += counts_for_quorum(s, be, slot, drained) ? 1 : 0;
      c.fine += slot == Status::up && !drained ? 1 : 0;
      c.awaiting += slot == Status::unknown && !drained ? 1 : 0;
    }
}

void HealthyCounts::drains_changed(const std::string& service, const DrainedIn& drained) {
  auto it = by_name_.find(service);
  if (it == by_name_.end()) return;
  ensure(it->second);
  Entry& e = entries_[it->second];
  for (std::size_t b = 0; b < e.service->backends.size(); ++b)
    e.drained[b] = drained && drained(*e.service, e.service->backends[b]) ? 1 : 0;
  recount(e);
}

std::span<const HealthyCounts::PortCounts> HealthyCounts::ports(std::string_view service) const {
  auto it = by_name_.find(service);
  if (it == by_name_.end()) return {};
  ensure(it->second);
  const Entry& e = entries_[it->second];
  return {flat_.data() + e.offset, e.service->ports.size()};
}

int HealthyCounts::healthy_on_port(std::string_view service, std::uint16_t port) const {
  auto it = by_name_.find(service);
  if (it == by_name_.end()) return 0;
  ensure(it->second);
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
  if (service >= entries_.size()) return 0;
  ensure(service);
  return lowest(entries_[service]);
}

int HealthyCounts::healthy(std::string_view service) const {
  auto it = by_name_.find(service);
  if (it == by_name_.end()) return 0;
  ensure(it->second);
  return lowest(entries_[it->second]);
}

}  // namespace l4lb::health
