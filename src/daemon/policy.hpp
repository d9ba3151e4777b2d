// The daemon's own decisions, as pure functions of what it knows (after vrrp::Machine and
// ipvs::reconcile: facts in, decisions out, no I/O, unit-tested in tests/unit/daemon/):
//   - whether a service is below its quorum, and when that is worth a log line;
//   - how much the services an instance tracks take off its priority.
// The rest of the policy lives beside the data it reads: health::healthy_count (the one
// counting rule, shared with status and metrics), ipvs::desired_table (the kernel table from
// each backend's state), and how health, drains and adoption make a backend's state.
// Daemon only carries these decisions out.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"

namespace l4lb::daemon::policy {

struct QuorumStep {
  bool below = false;     // the service is below quorum now
  bool changed = false;   // ... which differs from before (or is the first decision)
  bool announce = false;  // worth a log line: going below, or back after being below
};

// `was_below`: the previous decision for this service (none: first time). `healthy` is
// health::healthy_count of the service.
QuorumStep quorum_step(std::optional<bool> was_below, const config::Service& service, int healthy);

// Whether a service is below its quorum now (the last quorum_step's decision).
using IsBelowQuorum = std::function<bool(std::string_view service)>;

// What the services `instance` tracks add to its priority (their weights are negative)
// while they are below quorum.
int tracked_service_weight(const config::VrrpInstance& instance, const IsBelowQuorum& below);

// The same for every instance, by name.
std::map<std::string, int> tracked_service_weights(
    const std::vector<config::VrrpInstance>& instances, const IsBelowQuorum& below);

}  // namespace l4lb::daemon::policy
