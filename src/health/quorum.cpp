#include "health/quorum.hpp"

#include <algorithm>

#include "health/spec.hpp"

namespace l4lb::health {

int healthy_on_port(const config::Service& service, std::uint16_t service_port,
                    const StatusOf& status_of, const DrainedOf& drained) {
  const bool unchecked = service.health->type == config::HealthType::none;
  int n = 0;
  for (const auto& b : service.backends) {
    if (b.weight == 0 || (drained && drained(b))) continue;  // no need to look the check up
    const Status st = unchecked ? Status::up : status_of(check_key(service, service_port, b));
    n += counts_for_quorum(service, b, st, false) ? 1 : 0;
  }
  return n;
}

int healthy_count(const config::Service& service, const StatusOf& status_of,
                  const DrainedOf& drained) {
  if (service.ports.empty()) return 0;
  // With a shared check (or no checks at all) every port counts the same backends.
  if (shares_check(service) || service.health->type == config::HealthType::none)
    return healthy_on_port(service, service.ports.front(), status_of, drained);
  int lowest = healthy_on_port(service, service.ports.front(), status_of, drained);
  for (std::size_t i = 1; i < service.ports.size() && lowest > 0; ++i)
    lowest = std::min(lowest, healthy_on_port(service, service.ports[i], status_of, drained));
  return lowest;
}

}  // namespace l4lb::health
