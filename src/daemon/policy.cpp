#include "daemon/policy.hpp"

#include "health/quorum.hpp"

namespace l4lb::daemon::policy {

QuorumStep quorum_step(std::optional<bool> was_below, const config::Service& service, int healthy) {
  QuorumStep step;
  step.below = health::below_quorum(service, healthy);
  step.changed = !was_below || *was_below != step.below;
  // A service that starts healthy is not news; one that starts below quorum is (its instances
  // start with a lower priority), and so is every change after the first decision.
  step.announce = step.changed && (step.below || was_below.has_value());
  return step;
}

int tracked_service_weight(const config::VrrpInstance& instance, const IsBelowQuorum& below) {
  int weight = 0;
  for (const auto& t : instance.track_services)
    if (below(t.service)) weight += t.weight;
  return weight;
}

std::map<std::string, int> tracked_service_weights(
    const std::vector<config::VrrpInstance>& instances, const IsBelowQuorum& below) {
  std::map<std::string, int> out;
  for (const auto& i : instances) out[i.name] = tracked_service_weight(i, below);
  return out;
}

}  // namespace l4lb::daemon::policy
