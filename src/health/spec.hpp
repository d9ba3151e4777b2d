// From configuration to what one check does and when. Pure: no sockets, no clock.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/address.hpp"
#include "common/time.hpp"
#include "config/config.hpp"
#include "health/status.hpp"

namespace l4lb::health {

// What a check does, apart from where: the same for every backend and port of a service, so
// held once per service (and once for services with equal health settings: make_specs shares
// them) and pointed to by each check. At 10,000 services x 8 backends a copy per check was
// 21 MB of the daemon's heap. Everything resolved: no defaults left to look up.
struct CheckParams {
  config::HealthType type = config::HealthType::tcp;
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
  std::string host;  // health.host; "" = the target address (CheckSpec::http_host)
  std::vector<std::pair<int, int>> expect_status{{200, 399}};
  std::size_t max_response_bytes = 64 * 1024;

  bool operator==(const CheckParams&) const = default;
};

// The default parameters, one instance for the process.
const std::shared_ptr<const CheckParams>& default_params();

// Everything a probe needs: the target of one check, and its parameters (shared, never null
// in a spec make_spec returns). Compares by value (the parameters too, not the pointer).
struct CheckSpec {
  net::Address address;
  std::uint16_t port = 0;
  // Every default spec shares one instance of the default parameters: a default-constructed
  // spec (make_spec starts from one for each of a reload's 120,000 checks) allocates nothing.
  std::shared_ptr<const CheckParams> params = default_params();

  bool operator==(const CheckSpec& o) const {
    return address == o.address && port == o.port &&
           (params == o.params || (params && o.params && *params == *o.params));
  }
  std::string target() const;  // "10.0.0.1:80" / "[2001:db8::1]:80"
  // The HTTP Host header: health.host, else the target address (v6 in brackets).
  std::string http_host() const;
};

// A service with more ports than this is checked once per backend (a shared check on its first
// port, or on health.port) unless the config says `health.per_port: true`: a 1,000-port range
// with 8 backends would otherwise run 8,000 checks.
inline constexpr std::size_t kMaxPerPortChecks = 32;

// Whether one check per backend stands for all ports of `service`: health.port is set,
// health.per_port is false, or per_port is unset and the service has more than
// kMaxPerPortChecks ports.
bool shares_check(const config::Service& service);

// True when `service` shares its checks only because of its size (no per_port / port in the
// config): the daemon logs it so that operators know.
bool shares_check_by_size(const config::Service& service);

// The check that decides whether `backend` serves `service_port` of `service`:
// {service, port, address} with port = the backend's mapped port or service_port, or 0 when
// the service shares one check per backend (shares_check).
BackendKey check_key(const config::Service& service, std::uint16_t service_port,
                     const config::Backend& backend);

// The parameters of every check of `service` (nullopt for `type: none`).
std::optional<CheckParams> make_params(const config::Service& service);

// The check of `backend` for `service_port`: address = health.address or the backend's;
// port = health.port, else the backend's mapped port, else service_port. A shared check
// (shares_check) is made for the service's first port. nullopt for `type: none` (the daemon
// treats those backends as up). `params`, when given, is make_params(service), shared.
std::optional<CheckSpec> make_spec(const config::Service& service, std::uint16_t service_port,
                                   const config::Backend& backend,
                                   std::shared_ptr<const CheckParams> params = nullptr);

// All checks a configuration asks for, one entry per check_key, in key order.
//
// A sorted array, not a map: the reload worker builds two of these at every reload (the running
// config's and the next one's: 80,000 and 120,000 checks for a reload from 10,000 to 15,000
// services x 8) and diffs them. As map nodes they were 200,000 small blocks in that thread's
// malloc arena, and once freed they stayed resident as holes under the blocks still alive (the
// arena grew to 35-51 MB during a reload storm); as one array each they are one mapping, given
// back to the system whole when freed (daemon/allocator.hpp), and built in one sort.
class CheckSpecs {
 public:
  using Entry = std::pair<BackendKey, CheckSpec>;

  CheckSpecs() = default;
  // `entries` must be in strictly increasing key order (checked in debug builds).
  static CheckSpecs from_sorted(std::vector<Entry> entries);

  const CheckSpec* find(const BackendKey& key) const;  // nullptr when absent
  bool contains(const BackendKey& key) const { return find(key) != nullptr; }
  const CheckSpec& at(const BackendKey& key) const;  // std::out_of_range when absent

  auto begin() const { return entries_.begin(); }
  auto end() const { return entries_.end(); }
  std::size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  bool operator==(const CheckSpecs&) const = default;

  // The entries, moved out (diff_specs reuses the array for the added checks).
  std::vector<Entry> release() && { return std::move(entries_); }

 private:
  std::vector<Entry> entries_;
};

// The checks of `services`: one per service x port x backend, or one per service x backend for
// services that share checks. A key met twice (the same backend listed twice, or listed with
// two mapped ports under a shared check) is checked once, with its first entry. The checks of a
// service share one CheckParams, and services with equal parameters in a row share theirs.
CheckSpecs make_specs(const std::vector<config::Service>& services);

// What makes one set of checks into another: computed off the loop from two configs (on the
// reload worker), carried out on it by Monitor::apply_changes, so that a reload costs the loop
// the checks it changes, not a walk over every check. Each list is in key order.
struct CheckChanges {
  std::vector<BackendKey> removed;
  std::vector<std::pair<BackendKey, CheckSpec>> added;
  std::vector<std::pair<BackendKey, CheckSpec>> changed;  // same key, other parameters
  bool empty() const { return removed.empty() && added.empty() && changed.empty(); }
  std::size_t size() const { return removed.size() + added.size() + changed.size(); }
};

// diff_specs(make_specs(from), make_specs(to)) without making either: the services of both
// configs are walked side by side in name order, one service's checks made at a time. The
// reload worker's way: the two arrays were 19 MB at once for a reload from 10,000 to 15,000
// services x 8, all of it in the daemon's peak.
CheckChanges diff_checks(const std::vector<config::Service>& from,
                         const std::vector<config::Service>& to);

// One pass over both. Pure. The added checks are moved out of `to`, in place: its array
// becomes the `added` list.
CheckChanges diff_specs(const CheckSpecs& from, CheckSpecs to);

// Stable across runs and platforms (FNV-1a of service name, port and address bytes), so the
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

}  // namespace l4lb::health
