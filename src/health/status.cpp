#include "health/status.hpp"

#include <algorithm>

namespace l4lb::health {

std::string_view to_string(Status s) {
  switch (s) {
    case Status::up:
      return "up";
    case Status::down:
      return "down";
    case Status::unknown:
      break;
  }
  return "unknown";
}

std::string port_label(const BackendKey& key) {
  return key.port == 0 ? std::string("all") : std::to_string(key.port);
}

std::uint64_t LatencyHistogram::total() const {
  std::uint64_t n = 0;
  for (auto c : counts) n += c;
  return n;
}

void LatencyHistogram::record(std::chrono::microseconds d) {
  record_seconds(std::chrono::duration<double>(d).count());
}

void LatencyHistogram::record_seconds(double seconds) {
  auto it = std::lower_bound(kLatencyBuckets.begin(), kLatencyBuckets.end(), seconds);
  counts[static_cast<std::size_t>(it - kLatencyBuckets.begin())]++;
  sum_seconds += seconds;
}

std::array<std::uint64_t, kLatencyBuckets.size() + 1> LatencyHistogram::cumulative() const {
  std::array<std::uint64_t, kLatencyBuckets.size() + 1> out{};
  std::uint64_t sum = 0;
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = sum += counts[i];
  return out;
}

void BackendHealth::count_failure(std::string_view reason) {
  for (auto& [name, n] : failures_by_reason) {
    if (name == reason) {
      ++n;
      return;
    }
  }
  failures_by_reason.emplace_back(std::string(reason), 1);
}

std::uint64_t BackendHealth::failures(std::string_view reason) const {
  for (const auto& [name, n] : failures_by_reason)
    if (name == reason) return n;
  return 0;
}

}  // namespace l4lb::health
