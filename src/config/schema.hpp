// The parts of the loader that turn one YAML section into typed structs, and the
// cross-checks that need the whole config. Internal to the config library.
#pragma once

#include <deque>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "config/reporter.hpp"
#include "config/yaml_reader.hpp"

namespace l4lb::config {

// Positions the typed structs do not carry but cross-checks point at.
struct InstanceMarks {
  std::string name;  // as written, even when the instance itself had errors
  Location name_at;
  Location vrid;
  std::vector<Location> vips;                // parallel to VrrpInstance::vips
  std::vector<TrackService> track_services;  // as far as readable, for reference checks
  std::vector<net::Address> vip_addresses;   // as far as readable
};

struct ServiceMarks {
  std::string_view name;  // in Marks::name_store once the service is listed
  Location name_at;
  Location vip;
  std::vector<Location> ports;  // parallel to Service::ports (the entry each port came from)
};

struct Marks {
  std::vector<InstanceMarks> vrrp;                  // parallel to Config::vrrp
  std::vector<ServiceMarks> services;               // parallel to Config::services
  std::vector<std::string_view> all_service_names;  // including services that had errors
  // The services' names, where the views above point: a streamed item's tree is gone once it
  // is read (yaml::StreamedList). A deque: its strings never move.
  std::deque<std::string> name_store;
  // VIPs of every instance, including instances that had errors: a broken
  // instance should not also make its services look like static VIPs.
  std::set<net::Address> all_vips;
};

// Each returns nothing when the item had an error (already reported); `marks` is
// filled as far as the item could be read.
std::optional<VrrpInstance> parse_vrrp_instance(const Value& v, InstanceMarks& marks, Reporter& r);
std::optional<Service> parse_service(const Value& v, ServiceMarks& marks, Reporter& r);
// The top-level `ipvs:` section (parse_ipvs.cpp); errors are reported, `out` keeps what was read.
void parse_ipvs(const Value& v, Ipvs& out, Reporter& r);
// Returns false when the health block had an error.
bool parse_health(const Value& v, Health& health, Reporter& r);

// Rules across items: VRID and VIP conflicts, duplicate virtual services, static VIPs.
void cross_check(const Config& config, const Marks& marks, Reporter& r);
// track.services entries that name no service (`all_service_names` includes
// services that had errors of their own).
void check_track_references(const InstanceMarks& instance, const Marks& marks, Reporter& r);

}  // namespace l4lb::config
