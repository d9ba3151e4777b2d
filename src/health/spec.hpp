// From configuration to what one check does and when. Pure: no sockets, no clock.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/address.hpp"
#include "common/time.hpp"
#include "config/config.hpp"
#include "health/status.hpp"

namespace l4lb::health {

// Everything a probe needs, resolved: no defaults left to look up.
struct CheckSpec {
  config::HealthType type = config::HealthType::tcp;
  net::Address address;
  std::uint16_t port = 0;
  std::optional<net::Address> source;
  Duration interval{2000};
  Duration timeout{1000};
  int rise = 2;
  int fall = 3;
  std::string send;
  std::optional<std::string> expect;
  bool expect_prefix = false;
  config::Handshake handshake = config::Handshake::automatic;
  std::string path = "/";
  std::string host;  // resolved: health.host, else the target address (v6 in brackets)
  std::vector<std::pair<int, int>> expect_status{{200, 399}};
  std::size_t max_response_bytes = 64 * 1024;

  bool operator==(const CheckSpec&) const = default;
  std::string target() const;  // "10.0.0.1:80" / "[2001:db8::1]:80"
};

// The check of one backend: address = health.address or the backend's; port = health.port,
// else the backend's port, else the service's first port. nullopt for `type: none` (the
// daemon treats those backends as up) or when no port can be found (a service without ports
// does not pass validation).
std::optional<CheckSpec> make_spec(const config::Service& service, const config::Backend& backend);

// All checks a configuration asks for, by key. A backend listed twice in one service
// (rejected by validation) is checked once, with its first entry.
std::map<BackendKey, CheckSpec> make_specs(const std::vector<config::Service>& services);

// Stable across runs and platforms (FNV-1a of service name and address bytes), so the
// spread of start times is reproducible.
std::uint64_t key_hash(const BackendKey& key);

// Delay of a check's first run after it is created: deterministic in [0, interval), spread
// uniformly by the key's hash, so that N checks with one interval start evenly instead of
// in a burst.
Duration start_offset(const BackendKey& key, Duration interval);

// When the next run starts. Runs keep a fixed rate (previous start + interval) so that
// latency does not make checks drift into each other; a run that overran its slot (timeout
// >= interval) is followed by the next slot after it finished, never by a burst of
// catch-up runs.
TimePoint next_start(TimePoint previous_start, TimePoint finished, Duration interval);

// Number of backends of `service` counted as healthy for quorum: status up, or any backend
// whose health type is `none` (never checked, always serving). Backends with weight 0 do
// not serve and are not counted. `status_of` returns the status for a backend address.
template <typename StatusOf>
int healthy_count(const config::Service& service, StatusOf&& status_of) {
  int n = 0;
  for (const auto& b : service.backends) {
    if (b.weight == 0) continue;
    if (service.health.type == config::HealthType::none || status_of(b.address) == Status::up) ++n;
  }
  return n;
}

}  // namespace l4lb::health
