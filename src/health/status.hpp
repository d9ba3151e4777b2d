// What the health area reports about one backend, for the daemon (IPVS policy, quorum),
// `l4lbctl status` and metrics. Plain data, no I/O.
#pragma once

#include <array>
#include <chrono>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/address.hpp"
#include "common/time.hpp"

namespace l4lb::health {

enum class Status { unknown, up, down };
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

struct BackendHealth {
  Status status = Status::unknown;
  int consecutive_ok = 0;
  int consecutive_fail = 0;
  std::string last_error;  // "" after a success; "<reason>: <detail>" after a failure
  std::optional<std::chrono::microseconds> last_latency_us;  // of the last successful check
  std::chrono::system_clock::time_point last_transition{};   // epoch 0 = never changed
  std::uint64_t checks = 0;  // completed checks (successes + failures)
  std::uint64_t successes = 0;
  // Failure counts by reason ("refused", "timeout", "reset", "bad_response", "http_status",
  // "icmp_unreachable", ...), in order of first occurrence.
  std::vector<std::pair<std::string, std::uint64_t>> failures_by_reason;
  std::uint64_t transitions = 0;
  LatencyHistogram latency;

  void count_failure(std::string_view reason);
  std::uint64_t failures(std::string_view reason) const;
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
