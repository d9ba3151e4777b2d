// The quorum counts of every service (quorum.hpp's rule), kept up to date one health change at
// a time on the loop. health::healthy_count asks for the status of every backend on every port
// (80,000 map lookups for a status at 10,000 services x 8 backends); these counts are O(1) to
// read per service and port, so the daemon's quorum check after a transition and the status
// summary need no pass over the checks. Pure: no I/O, no clock.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/config.hpp"
#include "health/quorum.hpp"
#include "health/status.hpp"

namespace l4lb::health {

class HealthyCounts {
 public:
  HealthyCounts();
  ~HealthyCounts();
  HealthyCounts(HealthyCounts&&) noexcept;
  HealthyCounts& operator=(HealthyCounts&&) noexcept;

  // Whether an operator drained `backend` from `service` (l4lbctl drain).
  using DrainedIn = std::function<bool(const config::Service&, const config::Backend&)>;

  // Per port of one service, in the order of config::Service::ports.
  struct PortCounts {
    int healthy = 0;  // counts_for_quorum: the quorum count of this port
    // Backends that need no look on this port: their check up (or type none) and not drained,
    // whatever their weight (a weight-0 backend that is up is fine, it just takes no traffic).
    int fine = 0;
    // Backends whose check has not answered yet (unknown) and not drained: new, not a fault
    // (the summary view names their services apart, docs/STATUS.md "Views").
    int awaiting = 0;
  };
  // Counts every service of `config` afresh: O(ports x backends) over all services, for a
  // config just applied. `status_of` gives each check's status now. The config is kept (shared,
  // never copied) until the next reset.
  void reset(std::shared_ptr<const config::Config> config, const StatusOf& status_of,
             const DrainedIn& drained);

  // After a reload: counts `config`, keeping the statuses and drains of every service that is
  // not in `touched` (indices into config->services) from the previous config's entry of the
  // same name. An untouched service has the same ports, backends and checks (the reload's
  // diff says so), so its statuses are what `status_of` would answer. O(services) plus
  // O(ports x backends) of the touched services only: counting 10,000 x 8 afresh is 80,000
  // status lookups on the loop (tens of ms) for every reload.
  // `added` (a subset of `touched`): the services new in `config`. Their checks do not exist
  // yet (the Monitor creates them after the apply, as unknown), so their statuses are
  // `unknown` (`up` without health checks) without asking `status_of`: 5,000 added services
  // were 40,000 lookups, 11-50 ms of the loop at 10,000 services.
  //
  // `index` (from `index_for`, built off the loop) maps each service of `config` to its entry
  // in the previous config and holds the name lookup for `config`: the loop does no hashing of
  // 10,000 names. The previous config, entries and name lookup are returned, not released
  // here: freeing them is megabytes and 10,000s of blocks, which the caller does off the loop.
  // The entries of the services new in `next` are made there too (every status unknown, or up
  // without checks; nothing drained): 5,000 added services are 10,000 allocations.
  //
  // In steps (a reload's apply on the loop, docs/ARCHITECTURE.md): `begin_carry_over` switches
  // to `config` in O(touched) — the name lookup, the positions and every entry's place are
  // the index's — and each entry is then carried or counted by `carry_over_step` (a bounded
  // number of services per step, in config order) or on first use, whichever comes first:
  // a health change, a drain or a read of a service not carried yet carries that one service
  // at once, so every answer is the same as after a whole carry-over. `all()` carries whatever
  // is left (the caller avoids that cost by waiting for `pending()` to clear). `carry_over`
  // is all of it at once.
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);
  struct Entry;
  struct Index {
    std::vector<std::size_t> previous;  // per service of the next config; npos: new
    std::unordered_map<std::string_view, std::size_t> by_name;  // views of the next config
    // One per service of the next config, in config order, each with its offset in the counts
    // (the next config's ports, flat); the new services' made (every status unknown, or up
    // without checks; nothing drained), the others empty (no `service`) until carried.
    std::vector<Entry> entries;
    std::size_t ports = 0;  // the next config's ports in all
  };
  static Index index_for(const config::Config& previous, const config::Config& next);
  // What a carry-over leaves behind, for the caller to free off the loop.
  struct Leftovers {
    std::shared_ptr<const config::Config> config;
    std::vector<Entry> entries;
    std::unordered_map<std::string_view, std::size_t> by_name;
    std::vector<PortCounts> counts;
    std::vector<std::size_t> previous;
    std::vector<std::uint8_t> state;
  };
  [[nodiscard]] Leftovers carry_over(std::shared_ptr<const config::Config> config, Index index,
                                     const std::vector<std::size_t>& touched,
                                     const std::vector<std::size_t>& added,
                                     const StatusOf& status_of, const DrainedIn& drained);
  // The same in steps. `status_of` and `drained` are kept until the last step and must stay
  // callable until then. A carry-over still pending is finished first: its leftovers are
  // returned (empty when none was pending).
  [[nodiscard]] Leftovers begin_carry_over(std::shared_ptr<const config::Config> config,
                                           Index index, const std::vector<std::size_t>& touched,
                                           const std::vector<std::size_t>& added,
                                           StatusOf status_of, DrainedIn drained);
  bool pending() const { return pending_ != nullptr; }
  // Carries up to `max_services` services not carried yet, in config order. When none is left
  // the carry-over ends and its leftovers are returned.
  std::optional<Leftovers> carry_over_step(std::size_t max_services);
  // Carries everything left; the leftovers (empty when nothing was pending).
  [[nodiscard]] Leftovers finish_carry_over();

  // One check's status changed: O(ports x backends) of its service only.
  void on_change(const BackendKey& key, Status status);

  // The drains of one service may have changed (l4lbctl drain / undrain): O(ports x backends)
  // of that service, from the statuses already known here.
  void drains_changed(const std::string& service, const DrainedIn& drained);

  // Empty for a service not in the config.
  std::span<const PortCounts> ports(std::string_view service) const;
  // Every service's ports, in config order (services x ports, flat), with the config they
  // count: what a status snapshot copies (one vector, no pass over the checks).
  struct All {
    std::shared_ptr<const config::Config> config;
    std::vector<PortCounts> ports;
  };
  // Every service carried (pending() or not): the caller waits for pending() to clear rather
  // than pay for the rest here.
  All all() const;
  // healthy_on_port / healthy_count, as quorum.hpp defines them; 0 for an unknown service or
  // port.
  int healthy_on_port(std::string_view service, std::uint16_t port) const;
  int healthy(std::string_view service) const;
  // The same by the service's position in the config (no name lookup); 0 out of range.
  int healthy_at(std::size_t service) const;

 private:
  struct Pending;
  // Each service's name (a view into `config`) to its position.
  static std::unordered_map<std::string_view, std::size_t> names_of(const config::Config& config);
  // An index for `config` that keeps nothing: every service counted afresh.
  static Index fresh_index(const config::Config& config);
  // `status_of` null: no check of `s` exists yet (every status unknown).
  static Entry fresh(const config::Service& s, const StatusOf* status_of, const DrainedIn& drained);
  // Carries the service at `i` if it is still pending (the readers below are const: carrying
  // a service does not change what any answer is, only where it is kept).
  void ensure(std::size_t i) const;
  void carry(std::size_t i) const;
  Leftovers finish_carry_over_const() const;
  void recount(Entry& e) const;
  int lowest(const Entry& e) const;

  std::shared_ptr<const config::Config> config_;
  mutable std::vector<Entry> entries_;    // in config order
  mutable std::vector<PortCounts> flat_;  // every entry's ports, in config order
  std::unordered_map<std::string_view, std::size_t> by_name_;  // views of config_'s names
  mutable std::unique_ptr<Pending> pending_;                   // a carry-over in steps
};

struct HealthyCounts::Entry {
  const config::Service* service = nullptr;  // in config_
  std::size_t offset = 0;                    // of its first port in flat_
  // Per port and backend (port-major): the status of that backend's check for that port.
  std::vector<Status> status;
  std::vector<std::uint8_t> drained;  // per backend
};

}  // namespace l4lb::health
