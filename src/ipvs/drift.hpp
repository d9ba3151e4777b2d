// Kernel drift, as data: what changed in the kernel's IPVS table, behind l4lbd's back, on the
// services l4lbd owns (`ipvsadm -C`, `ipvsadm -d`, `ipvsadm -e -w`, `ipvsadm -E -s`). Pure: the
// caller dumps the kernel (off the loop), this compares, the Programmer repairs. Also the
// retry delay after a failed operation. No I/O, no clock.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "ipvs/table.hpp"

namespace l4lb::ipvs {

enum class DriftKind : std::uint8_t {
  missing_service,       // an owned service the model holds is gone from the kernel
  missing_destination,   // a destination of an owned service is gone
  service_settings,      // scheduler, flags, persistence of an owned service changed
  destination_settings,  // weight, forwarding method or thresholds of a destination changed
  extra_destination,     // a destination in an owned service that l4lbd did not put there
};
inline constexpr std::size_t kDriftKinds = 5;
std::string_view to_string(DriftKind k);  // "missing_service", ...

struct DriftItem {
  DriftKind kind;
  ServiceKey service;
  std::string detail;  // "10.1.0.11:8080 weight 1 -> 5", "scheduler rr -> wlc"
  std::string to_string() const;
};

struct Drift {
  std::vector<DriftItem> items;
  bool empty() const { return items.empty(); }
  std::size_t count(DriftKind k) const;
};

// Compares what l4lbd believes the kernel holds (`model`: every operation it applied) with
// what the kernel holds (`kernel`: a fresh dump), on the services in `owned` only: anything
// else in the kernel is someone else's and never l4lbd's business. A destination missing
// from a missing service is not reported again (one item per service for `ipvsadm -C`).
Drift detect_drift(const Table& model, const Table& kernel, const std::set<ServiceKey>& owned);

// The same comparison in slices, so that a large table never holds the event loop for long:
// compares at most `max_services` owned services from `from` on (all of them from the first
// when `from` is empty), appends to `out`, and returns where the next slice starts (nullopt:
// done). The slices of one pass together find exactly what detect_drift finds.
std::optional<ServiceKey> detect_drift_slice(const Table& model, const Table& kernel,
                                             const std::set<ServiceKey>& owned,
                                             const std::optional<ServiceKey>& from,
                                             std::size_t max_services, Drift& out);

// The delay before retry number `attempt` (1, 2, ...) of a failed IPVS repair: `base`
// doubling with every attempt, capped at `cap`; attempt 0 is no delay.
std::chrono::milliseconds retry_backoff(unsigned attempt, std::chrono::milliseconds base,
                                        std::chrono::milliseconds cap);

}  // namespace l4lb::ipvs
