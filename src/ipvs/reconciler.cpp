#include "ipvs/reconciler.hpp"

#include <array>

namespace l4lb::ipvs {

std::string Conflict::to_string() const { return key.to_string() + ": " + reason; }

namespace {

// A planned operation before it is materialised: a first pass only points at the tables,
// so a 90,000-operation plan allocates its operations once, in their final order.
struct Ref {
  Operation::Kind kind;
  const ServiceSettings* service;
  const DestSettings* dest;
};

// Phase order: new capacity before old capacity leaves.
constexpr std::array<Operation::Kind, 6> kPhases{
    Operation::Kind::add_service, Operation::Kind::add_dest, Operation::Kind::edit_service,
    Operation::Kind::edit_dest,   Operation::Kind::del_dest, Operation::Kind::del_service};

}  // namespace

Plan reconcile(const Table& desired, const Table& current, const std::set<ServiceKey>& owned) {
  using K = Operation::Kind;
  std::vector<Ref> refs;
  Plan plan;

  for (const auto& [key, want] : desired.services) {
    auto cur = current.services.find(key);
    if (cur == current.services.end()) {
      refs.push_back({K::add_service, &want, nullptr});
      for (const auto& [dk, d] : want.destinations) refs.push_back({K::add_dest, &want, &d});
      continue;
    }
    if (!owned.count(key)) {
      plan.conflicts.push_back(
          {key,
           "a virtual service with this address exists in the kernel but was not created by "
           "l4lbd; left untouched"});
      continue;
    }
    const Service& have = cur->second;
    if (!want.same_settings(have)) refs.push_back({K::edit_service, &want, nullptr});
    for (const auto& [dk, d] : want.destinations) {
      auto hd = have.destinations.find(dk);
      if (hd == have.destinations.end()) {
        refs.push_back({K::add_dest, &want, &d});
      } else if (!d.same_settings(hd->second)) {
        refs.push_back({K::edit_dest, &want, &d});
      }
    }
    for (const auto& [dk, d] : have.destinations) {
      if (!want.destinations.count(dk)) refs.push_back({K::del_dest, &want, &d});
    }
  }
  for (const auto& [key, have] : current.services) {
    if (owned.count(key) && !desired.services.count(key))
      refs.push_back({K::del_service, &have, nullptr});
  }

  plan.ops.reserve(refs.size());
  for (K phase : kPhases) {
    for (const Ref& r : refs) {
      if (r.kind != phase) continue;
      plan.ops.push_back(r.dest ? Operation::on_dest(r.kind, *r.service, *r.dest)
                                : Operation::on_service(r.kind, *r.service));
    }
  }
  return plan;
}

}  // namespace l4lb::ipvs
