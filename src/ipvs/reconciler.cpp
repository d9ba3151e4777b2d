#include "ipvs/reconciler.hpp"

#include <array>
#include <utility>

namespace l4lb::ipvs {

std::string Conflict::to_string() const { return key.to_string() + ": " + reason; }

namespace {

// Phase order: new capacity before old capacity leaves.
constexpr std::array<Operation::Kind, 6> kPhases{
    Operation::Kind::add_service, Operation::Kind::add_dest, Operation::Kind::edit_service,
    Operation::Kind::edit_dest,   Operation::Kind::del_dest, Operation::Kind::del_service};

// A kind's position in kPhases.
constexpr std::size_t phase_of(Operation::Kind k) {
  for (std::size_t i = 0; i < kPhases.size(); ++i)
    if (kPhases[i] == k) return i;
  return kPhases.size() - 1;
}

// Finds every operation and the conflicts, calling emit(OpRef) in table order.
template <typename Emit>
void find_changes(const Table& desired, const Table& current, const std::set<ServiceKey>& owned,
                  std::vector<Conflict>* conflicts, Emit&& emit) {
  using K = Operation::Kind;
  for (const auto& [key, want] : desired.services) {
    auto cur = current.services.find(key);
    if (cur == current.services.end()) {
      emit(OpRef{K::add_service, &want, nullptr});
      for (const auto& [dk, d] : want.destinations) emit(OpRef{K::add_dest, &want, &d});
      continue;
    }
    if (!owned.count(key)) {
      if (conflicts)
        conflicts->push_back(
            {key,
             "a virtual service with this address exists in the kernel but was not created by "
             "l4lbd; left untouched"});
      continue;
    }
    const Service& have = cur->second;
    if (!want.same_settings(have)) emit(OpRef{K::edit_service, &want, nullptr});
    for (const auto& [dk, d] : want.destinations) {
      auto hd = have.destinations.find(dk);
      if (hd == have.destinations.end()) {
        emit(OpRef{K::add_dest, &want, &d});
      } else if (!d.same_settings(hd->second)) {
        emit(OpRef{K::edit_dest, &want, &d});
      }
    }
    for (const auto& [dk, d] : have.destinations) {
      if (!want.destinations.count(dk)) emit(OpRef{K::del_dest, &want, &d});
    }
  }
  for (const auto& [key, have] : current.services) {
    if (owned.count(key) && !desired.services.count(key))
      emit(OpRef{K::del_service, &have, nullptr});
  }
}

}  // namespace

RefPlan reconcile_refs(const Table& desired, const Table& current,
                       const std::set<ServiceKey>& owned) {
  // Two passes, counting then placing each operation in its phase: the plan is one vector of
  // exactly its size, with no growth and no sorted copy (at 90,000 operations, every page
  // first touched is dear where memory is slow to fault in, the kernel lab among them).
  std::array<std::size_t, kPhases.size()> start{};
  find_changes(desired, current, owned, nullptr,
               [&](const OpRef& r) { ++start[phase_of(r.kind)]; });
  std::size_t total = 0;
  for (auto& n : start) total += std::exchange(n, total);
  RefPlan plan;
  plan.ops.resize(total);
  find_changes(desired, current, owned, &plan.conflicts,
               [&](const OpRef& r) { plan.ops[start[phase_of(r.kind)]++] = r; });
  return plan;
}

Plan reconcile(const Table& desired, const Table& current, const std::set<ServiceKey>& owned) {
  RefPlan refs = reconcile_refs(desired, current, owned);
  Plan plan;
  plan.conflicts = std::move(refs.conflicts);
  plan.ops.reserve(refs.ops.size());
  for (const OpRef& r : refs.ops) plan.ops.push_back(r.make());
  return plan;
}

}  // namespace l4lb::ipvs
