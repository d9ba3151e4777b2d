// Quorum: how many backends of a service carry traffic right now. One rule, used by the
// daemon for VRRP priority (track.services), by `l4lbctl status` and by /metrics. Pure.
#pragma once

#include <functional>

#include "config/config.hpp"
#include "health/status.hpp"

namespace l4lb::health {

// The status of one check (unknown when it does not exist).
using StatusOf = std::function<Status(const BackendKey&)>;
// Whether an operator drained the backend from the service (l4lbctl drain).
using DrainedOf = std::function<bool(const config::Backend&)>;

// THE rule, for one backend on one port: whether it counts towards the service's quorum,
// given the status of its check for that port and whether it is drained. Every count below
// (and health::HealthyCounts, kept up to date change by change) is made of this.
inline bool counts_for_quorum(const config::Service& service, const config::Backend& backend,
                              Status check_status, bool drained) {
  if (backend.weight == 0 || drained) return false;
  return service.health->type == config::HealthType::none || check_status == Status::up;
}

// Backends serving `service_port` of `service`: weight > 0, not drained, and their check for
// that port (check_key) up, or the service's health type is `none` (never checked, always
// serving). A weight-0 backend receives no new connections, so it does not count.
int healthy_on_port(const config::Service& service, std::uint16_t service_port,
                    const StatusOf& status_of, const DrainedOf& drained);

// The service's healthy count for quorum: the smallest healthy_on_port over its ports. A
// service is below quorum when any one of its ports has fewer than `quorum` healthy backends
// (an LDAP service whose 636 has lost every backend is broken even if 389 is fine). A
// service without ports has 0.
int healthy_count(const config::Service& service, const StatusOf& status_of,
                  const DrainedOf& drained);

inline bool below_quorum(const config::Service& service, int healthy) {
  return healthy < service.quorum;
}

}  // namespace l4lb::health
