// The plan worker's own copy of every backend's health, kept current by the changes the loop
// records (health transitions, config generations) instead of being copied on each plan: a
// copy of 80,000 health entries would itself hold the loop for tens of milliseconds. Pure.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "config/config.hpp"
#include "ipvs/desired.hpp"
#include "ipvs/table.hpp"

namespace l4lb::ipvs {

using Services = std::shared_ptr<const std::vector<config::Service>>;

// Which check decides `backend` on `service_port` of `service`: the port of its health key
// (health::check_key; 0 for a check shared by every port). Given by the daemon, so that this
// copy forgets and finds exactly what health::Monitor does. Pure; called on the plan worker.
using CheckPortFn = std::function<std::uint16_t(
    const config::Service& service, std::uint16_t service_port, const config::Backend& backend)>;

// One thing the loop saw happen, in the order it happened.
struct HealthChange {  // a check decided (health::Monitor's on_change), keyed as the check is
  std::string service;
  std::uint16_t port = 0;  // the check's port (health::BackendKey::port; 0 = shared)
  net::Address backend;
  Health health = Health::unknown;
};
struct ConfigChange {  // a config generation was applied: checks that went are forgotten
  Services services;
};
struct DrainChange {};  // the operator drained or undrained a backend (the drains come with
                        // the request; this only says the whole table must be planned again)
using StateChange = std::variant<HealthChange, ConfigChange, DrainChange>;

class BackendStates {
 public:
  explicit BackendStates(CheckPortFn check_port) : check_port_(std::move(check_port)) {}

  void apply(std::span<const StateChange> changes);
  // After a restart: the live destinations (weight > 0) of owned services whose checks have
  // no result yet are treated as up until their first result, so the restart does not remove
  // and re-add them. Returns how many checks were adopted.
  std::size_t adopt(const std::vector<config::Service>& services, const Table& kernel,
                    const std::set<ServiceKey>& owned);
  // Health of the check deciding `backend` on `service_port`, as it last said (unknown when
  // never checked; up when adopted).
  Health health(const config::Service& service, std::uint16_t service_port,
                const config::Backend& backend) const;
  std::size_t size() const { return size_; }  // checks with a result or adopted

 private:
  void retain(const std::vector<config::Service>& services);
  struct Entry {
    Health health = Health::unknown;
    bool adopted = false;
  };
  using CheckId = std::pair<std::uint16_t, net::Address>;  // (check port, backend)
  CheckPortFn check_port_;
  // By service name, then check: a lookup copies no string.
  std::map<std::string, std::map<CheckId, Entry>, std::less<>> entries_;
  std::size_t size_ = 0;
};

}  // namespace l4lb::ipvs
