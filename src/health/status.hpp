// What the health area reports about one backend, for the daemon (IPVS policy, quorum),
// `l4lbctl status` and metrics. Plain data, no I/O.
#pragma once

#include <array>
#include <chrono>
#include <compare>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/address.hpp"
#include "common/time.hpp"

namespace l4lb::health {

enum class Status : std::uint8_t { unknown, up, down };
std::string_view to_string(Status s);

// One check per (service, port, backend address). `port` is the destination port the check
// stands for: the backend's mapped port or the VIP port, so each port of a multi-port service
// is checked on its own. 0 = one check shared by every port of the service (an explicit
// health.port, health.per_port: false, or a service with more than kMaxPerPortChecks ports;
// see health::shares_check in spec.hpp).
struct BackendKey {
  std::string service;
  std::uint16_t port = 0;
  net::Address address;
  auto operator<=>(const BackendKey&) const = default;
  bool operator==(const BackendKey&) const = default;
};

// The key's port for logs and metrics: the number, or "all" for a shared check.
std::string port_label(const BackendKey& key);

// Upper bounds (seconds) of the latency histogram buckets; a last, implicit bucket is +Inf.
inline constexpr std::array<double, 12> kLatencyBuckets{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                        0.05,   0.1,   0.25,   0.5,   1.0,  2.5};

struct LatencyHistogram {
  // counts[i] = checks with latency <= kLatencyBuckets[i] and > the previous bound (not
  // cumulative); counts.back() is the +Inf bucket. Every completed check is recorded, failed
  // ones too (a timeout shows as a check that took `timeout`).
  // 32 bits: one check a second fills a bucket in 136 years, and every check keeps one of
  // these (80,000 at 10,000 x 8: 4 MB less than 64-bit counters).
  std::array<std::uint32_t, kLatencyBuckets.size() + 1> counts{};
  double sum_seconds = 0;
  std::uint64_t total() const;
  void record(std::chrono::microseconds d);
  void record_seconds(double seconds);
  // Prometheus-style cumulative counts, same length as `counts` (last = total()).
  std::array<std::uint64_t, kLatencyBuckets.size() + 1> cumulative() const;
};

// Failure reasons a record counts, by index: the closed set of health::reason (result.hpp;
// every probe names one of these, from its constants or classify()). The names are the metrics
// label values and the keys of a check's `failures` in the status document.
inline constexpr std::array<std::string_view, 12> kFailureReasons{
    "refused",      "timeout",     "reset",     "closed", "unreachable", "icmp_unreachable",
    "bad_response", "http_status", "too_large", "bind",   "socket",      "local_resources"};
// The index of `reason` in kFailureReasons; a name outside the set counts as "socket" (any
// other local error), the catch-all of classify().
std::uint8_t failure_reason_index(std::string_view reason);

// One record per check, kept for the life of the check, so its size counts 80,000 times at
// 10,000 services x 8 backends: 104 B (was 184). What only failures need (the counts by reason,
// the error text) is allocated at a backend's first failure; a backend that never failed
// carries a null pointer. The number of checks is the histogram's total (both count every
// completed check).
struct BackendHealth {
  BackendHealth() = default;
  BackendHealth(const BackendHealth& o);  // copies the failure log too (copy on write)
  BackendHealth& operator=(const BackendHealth& o);
  BackendHealth(BackendHealth&&) noexcept = default;
  BackendHealth& operator=(BackendHealth&&) noexcept = default;
  ~BackendHealth();

  LatencyHistogram latency;  // every completed check, failed ones too
  std::chrono::system_clock::time_point last_transition{};  // epoch 0 = never changed
  std::uint64_t transitions = 0;
  int consecutive_ok = 0;
  int consecutive_fail = 0;
  Status status = Status::unknown;

  std::uint64_t checks() const { return latency.total(); }  // successes + failures
  std::uint64_t successes() const;
  // Of the last successful check; nullopt before the first one.
  std::optional<std::chrono::microseconds> last_latency() const;
  // "" after a success; "<reason>: <detail>" after a failure.
  std::string_view last_error() const;

  // A completed check (the histogram is recorded apart): a success keeps its latency and
  // clears the error; a failure is counted under its reason and keeps its text.
  void note_success(std::chrono::microseconds latency);
  void note_failure(std::string_view reason, std::string error_text);
  void count_failure(std::string_view reason);
  std::uint64_t failures(std::string_view reason) const;
  bool has_failures() const { return failures_ && !failures_->counts.empty(); }
  // f(std::string_view reason, std::uint64_t count) for each reason counted, in order of first
  // occurrence.
  template <typename F>
  void for_each_failure(F&& f) const {
    if (failures_)
      for (const auto& [index, count] : failures_->counts) f(kFailureReasons[index], count);
  }

 private:
  struct FailureLog {
    std::vector<std::pair<std::uint8_t, std::uint64_t>> counts;  // reason index, count
    std::string last_error;
  };
  FailureLog& failure_log();

  // Microseconds in 32 bits: a latency is bounded by the check's timeout (at most its
  // interval); 71 minutes saturate. kNoLatency = no success yet.
  // (Declared after `status` so that it fills the padding after it.)
  static constexpr std::uint32_t kNoLatency = UINT32_MAX;
  std::uint32_t last_latency_us_ = kNoLatency;
  std::unique_ptr<FailureLog> failures_;
};

// The counters of the half-open TCP checker (half_open.hpp), one set per io_context.
struct HalfOpenStats {
  std::uint64_t sent = 0;              // SYNs, retransmissions included
  std::uint64_t send_errors = 0;       // SYNs the kernel refused to send
  std::uint64_t answers = 0;           // SYN-ACKs and RSTs matched to a probe
  std::uint64_t stray = 0;             // segments to our ports that answer no probe in flight
  std::uint64_t malformed = 0;         // datagrams that are not a whole TCP segment
  std::uint64_t buffer_overflows = 0;  // answers the kernel dropped: our socket buffer was full
};

}  // namespace l4lb::health
