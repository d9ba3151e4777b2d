#include "ipvs/reconciler.hpp"

namespace l4lb::ipvs {

std::string Conflict::to_string() const { return key.to_string() + ": " + reason; }

Plan reconcile(const Table& desired, const Table& current, const std::set<ServiceKey>& owned) {
  using K = Operation::Kind;
  std::vector<Operation> add_svc, add_dst, edit_svc, edit_dst, del_dst, del_svc;
  Plan plan;

  for (const auto& [key, want] : desired.services) {
    auto cur = current.services.find(key);
    if (cur == current.services.end()) {
      add_svc.push_back(Operation::on_service(K::add_service, want));
      for (const auto& [dk, d] : want.destinations)
        add_dst.push_back(Operation::on_dest(K::add_dest, want, d));
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
    if (!want.same_settings(have)) edit_svc.push_back(Operation::on_service(K::edit_service, want));
    for (const auto& [dk, d] : want.destinations) {
      auto hd = have.destinations.find(dk);
      if (hd == have.destinations.end()) {
        add_dst.push_back(Operation::on_dest(K::add_dest, want, d));
      } else if (!d.same_settings(hd->second)) {
        edit_dst.push_back(Operation::on_dest(K::edit_dest, want, d));
      }
    }
    for (const auto& [dk, d] : have.destinations) {
      if (!want.destinations.count(dk)) del_dst.push_back(Operation::on_dest(K::del_dest, want, d));
    }
  }
  for (const auto& [key, have] : current.services) {
    if (owned.count(key) && !desired.services.count(key))
      del_svc.push_back(Operation::on_service(K::del_service, have));
  }

  auto& ops = plan.ops;
  ops.reserve(add_svc.size() + add_dst.size() + edit_svc.size() + edit_dst.size() + del_dst.size() +
              del_svc.size());
  for (auto* v : {&add_svc, &add_dst, &edit_svc, &edit_dst, &del_dst, &del_svc})
    for (auto& op : *v) ops.push_back(std::move(op));
  return plan;
}

}  // namespace l4lb::ipvs
