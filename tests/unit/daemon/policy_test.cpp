// daemon::policy: the quorum step and the tracked-service weights, from facts alone.
#include "daemon/policy.hpp"

#include <catch2/catch.hpp>
#include <set>

#include "health/quorum.hpp"

using namespace l4lb;
using namespace l4lb::daemon;

namespace {

config::Service service(const std::string& name, int quorum, std::vector<int> weights) {
  config::Service s;
  s.name = name;
  s.quorum = quorum;
  s.ports = {80};
  int i = 1;
  for (int w : weights) {
    config::Backend b;
    b.address = *net::Address::parse("10.0.0." + std::to_string(i++));
    b.weight = w;
    s.backends.push_back(b);
  }
  return s;
}

config::VrrpInstance instance(const std::string& name,
                              std::vector<std::pair<std::string, int>> tracks) {
  config::VrrpInstance i;
  i.name = name;
  for (auto& [service, weight] : tracks) i.track_services.push_back({service, weight, {}});
  return i;
}

}  // namespace

TEST_CASE("quorum_step: first decision, changes, and which are announced") {
  const auto s = service("web", 2, {1, 1, 1});
  // First decision: healthy is not news, below is (the instance starts lower).
  CHECK(policy::quorum_step(std::nullopt, s, 3).changed);
  CHECK_FALSE(policy::quorum_step(std::nullopt, s, 3).announce);
  CHECK_FALSE(policy::quorum_step(std::nullopt, s, 3).below);
  CHECK(policy::quorum_step(std::nullopt, s, 1).below);
  CHECK(policy::quorum_step(std::nullopt, s, 1).announce);
  // Exactly at quorum is enough.
  CHECK_FALSE(policy::quorum_step(std::nullopt, s, 2).below);
  // Later: every change is announced, no change is not.
  CHECK(policy::quorum_step(false, s, 1).announce);
  CHECK(policy::quorum_step(true, s, 2).announce);
  CHECK_FALSE(policy::quorum_step(true, s, 2).below);
  CHECK_FALSE(policy::quorum_step(true, s, 0).changed);
  CHECK_FALSE(policy::quorum_step(false, s, 5).changed);
}

TEST_CASE("quorum_step over health::healthy_count: weight-0 and drained backends do not count") {
  // The one counting rule: the step only compares it with the quorum.
  auto s = service("web", 2, {1, 0, 1});
  auto up = [](const health::BackendKey&) { return health::Status::up; };
  auto none_drained = [](const config::Backend&) { return false; };
  auto second_drained = [&](const config::Backend& b) {
    return b.address == s.backends[2].address;
  };
  CHECK(health::healthy_count(s, up, none_drained) == 2);
  CHECK_FALSE(
      policy::quorum_step(std::nullopt, s, health::healthy_count(s, up, none_drained)).below);
  CHECK(policy::quorum_step(std::nullopt, s, health::healthy_count(s, up, second_drained)).below);
}

TEST_CASE("tracked service weights: the weights of tracked services below quorum, summed") {
  const std::vector<config::VrrpInstance> instances{
      instance("a", {{"web", -50}, {"db", -20}}), instance("b", {{"web", -10}}), instance("c", {})};
  std::set<std::string, std::less<>> below;
  const policy::IsBelowQuorum is_below = [&](std::string_view s) { return below.count(s) > 0; };
  auto w = policy::tracked_service_weights(instances, is_below);
  CHECK(w == std::map<std::string, int>{{"a", 0}, {"b", 0}, {"c", 0}});
  below = {"web"};
  w = policy::tracked_service_weights(instances, is_below);
  CHECK(w == std::map<std::string, int>{{"a", -50}, {"b", -10}, {"c", 0}});
  below = {"web", "db", "other"};
  CHECK(policy::tracked_service_weight(instances[0], is_below) == -70);
  CHECK(policy::tracked_service_weight(instances[2], is_below) == 0);
}
