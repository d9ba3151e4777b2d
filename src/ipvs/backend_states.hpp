// The plan worker's own copy of every backend's health, kept current by the changes the loop
// records (health transitions, config generations) instead of being copied on each plan: a
// copy of 80,000 health entries would itself hold the loop for tens of milliseconds. Pure.
#pragma once

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

// One thing the loop saw happen, in the order it happened.
struct HealthChange {  // a backend's check decided (health::Monitor's on_change)
  std::string service;
  net::Address backend;
  Health health = Health::unknown;
};
struct ConfigChange {  // a config generation was applied: checks that went are forgotten
  Services services;
};
using StateChange = std::variant<HealthChange, ConfigChange>;

class BackendStates {
 public:
  void apply(std::span<const StateChange> changes);
  // After a restart: the live destinations (weight > 0) of owned services whose backends
  // have no check result yet are treated as up until their first result, so the restart
  // does not remove and re-add them. Returns how many backends were adopted.
  std::size_t adopt(const std::vector<config::Service>& services, const Table& kernel,
                    const std::set<ServiceKey>& owned);
  // Health as the checks last said (unknown when never checked; up when adopted).
  Health health(const std::string& service, const net::Address& backend) const;
  std::size_t size() const { return size_; }  // backends with a result or adopted

 private:
  void retain(const std::vector<config::Service>& services);
  struct Entry {
    Health health = Health::unknown;
    bool adopted = false;
  };
  // By service name, then backend: a lookup copies no string.
  std::map<std::string, std::map<net::Address, Entry>, std::less<>> entries_;
  std::size_t size_ = 0;
};

}  // namespace l4lb::ipvs
