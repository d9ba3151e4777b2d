// Desired IPVS state = f(config, backend health, drains). Pure.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "ipvs/table.hpp"

namespace l4lb::ipvs {

enum class Health { unknown, up, down };
struct BackendState {
  Health health = Health::unknown;
  bool drained = false;
};
// The state of `backend` for one port of `service` (health is checked per port; drains are
// per service x backend and hold for every port).
using BackendStateFn = std::function<BackendState(
    const config::Service& service, std::uint16_t service_port, const config::Backend& backend)>;

// Policy: up -> configured weight; drained -> weight 0; down -> absent (on_failure: remove)
// or weight 0 (on_failure: drain); unknown -> absent if wait_first_check, else configured
// weight; health type none -> always up. Each config port is one virtual service, and each
// of its destinations follows the backend's state for that port; the backend port is
// backend.port or the VIP port. A `fwmark` service is ONE fwmark virtual service (the first
// port's backend states stand for all; its checks are shared across ports), destinations port 0.
Table desired_table(const std::vector<config::Service>& services, const BackendStateFn& state);

// The kernel's key for one port of a config service (the same mark key for every port of a
// fwmark service).
ServiceKey service_key(const config::Service& s, std::uint16_t port);
// The destination port of `b` for `port` of `s` (0 for a fwmark service).
std::uint16_t dest_port(const config::Service& s, const config::Backend& b, std::uint16_t port);

// Convert one config service into its virtual service settings (no destinations).
Service service_settings(const config::Service& s, std::uint16_t port);

}  // namespace l4lb::ipvs
