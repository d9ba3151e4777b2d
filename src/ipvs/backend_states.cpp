#include "ipvs/backend_states.hpp"

namespace l4lb::ipvs {

void BackendStates::apply(std::span<const StateChange> changes) {
  for (const auto& change : changes) {
    if (const auto* h = std::get_if<HealthChange>(&change)) {
      // From its first result on, the check decides (an adopted backend stops being one).
      auto [it, fresh] = entries_[h->service].insert_or_assign(CheckId{h->port, h->backend},
                                                               Entry{h->health, false});
      size_ += fresh ? 1 : 0;
      (void)it;
    } else if (const auto* c = std::get_if<ConfigChange>(&change); c && c->services) {
      retain(*c->services);
    }
  }
}

// health::Monitor keeps a check's state while its key stays checked and starts a new one as
// unknown: forget exactly what it forgets. Adopted checks stay adopted until their first
// result, as before.
void BackendStates::retain(const std::vector<config::Service>& services) {
  std::map<std::string_view, std::set<CheckId>> checked;
  for (const auto& s : services) {
    if (s.health->type == config::HealthType::none) continue;
    auto& ids = checked[s.name];
    for (auto port : s.ports)
      for (const auto& b : s.backends) ids.insert(CheckId{check_port_(s, port, b), b.address});
  }
  size_ = 0;
  for (auto svc = entries_.begin(); svc != entries_.end();) {
    auto c = checked.find(svc->first);
    auto& ids = svc->second;
    for (auto it = ids.begin(); it != ids.end();) {
      const bool keep = it->second.adopted || (c != checked.end() && c->second.count(it->first));
      it = keep ? std::next(it) : ids.erase(it);
    }
    size_ += ids.size();
    svc = ids.empty() ? entries_.erase(svc) : std::next(svc);
  }
}

std::size_t BackendStates::adopt(const std::vector<config::Service>& services, const Table& kernel,
                                 const std::set<ServiceKey>& owned) {
  std::size_t adopted = 0;
  for (const auto& s : services) {
    for (auto port : s.ports) {
      auto it = kernel.services.find(service_key(s, port));
      if (it == kernel.services.end() || !owned.count(it->first)) continue;
      for (const auto& b : s.backends) {
        auto d = it->second.destinations.find(DestKey{b.address, dest_port(s, b, port)});
        if (d == it->second.destinations.end() || d->second.weight == 0) continue;
        auto [e, fresh] = entries_[s.name].try_emplace(CheckId{check_port_(s, port, b), b.address});
        size_ += fresh ? 1 : 0;
        if (e->second.health != Health::unknown || e->second.adopted) continue;
        e->second.adopted = true;
        ++adopted;
      }
    }
  }
  return adopted;
}

Health BackendStates::health(const config::Service& service, std::uint16_t service_port,
                             const config::Backend& backend) const {
  auto svc = entries_.find(std::string_view(service.name));
  if (svc == entries_.end()) return Health::unknown;
  auto it = svc->second.find(CheckId{check_port_(service, service_port, backend), backend.address});
  if (it == svc->second.end()) return Health::unknown;
  if (it->second.health == Health::unknown && it->second.adopted) return Health::up;
  return it->second.health;
}

}  // namespace l4lb::ipvs
