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

std::uint8_t failure_reason_index(std::string_view reason) {
  for (std::size_t i = 0; i < kFailureReasons.size(); ++i)
    if (kFailureReasons[i] == reason) return static_cast<std::uint8_t>(i);
  return failure_reason_index("socket");
}

BackendHealth::BackendHealth(const BackendHealth& o)
    : latency(o.latency),
      last_transition(o.last_transition),
      transitions(o.transitions),
      consecutive_ok(o.consecutive_ok),
      consecutive_fail(o.consecutive_fail),
      status(o.status),
      last_latency_us_(o.last_latency_us_),
      failures_(o.failures_ ? std::make_unique<FailureLog>(*o.failures_) : nullptr) {}

BackendHealth& BackendHealth::operator=(const BackendHealth& o) {
  if (this != &o) *this = BackendHealth(o);
  return *this;
}

BackendHealth::~BackendHealth() = default;

// The size the comment in status.hpp promises (LP64: 8-byte pointers and time points).
static_assert(sizeof(void*) != 8 || sizeof(BackendHealth) == 104);

BackendHealth::FailureLog& BackendHealth::failure_log() {
  if (!failures_) failures_ = std::make_unique<FailureLog>();
  return *failures_;
}

std::uint64_t BackendHealth::successes() const {
  std::uint64_t failed = 0;
  for_each_failure([&](std::string_view, std::uint64_t n) { failed += n; });
  const std::uint64_t all = checks();
  return all > failed ? all - failed : 0;
}

std::optional<std::chrono::microseconds> BackendHealth::last_latency() const {
  if (last_latency_us_ == kNoLatency) return std::nullopt;
  return std::chrono::microseconds(last_latency_us_);
}

std::string_view BackendHealth::last_error() const {
  return failures_ ? std::string_view(failures_->last_error) : std::string_view();
}

void BackendHealth::note_success(std::chrono::microseconds latency) {
  const auto us = std::clamp<std::chrono::microseconds::rep>(latency.count(), 0, kNoLatency - 1);
  last_latency_us_ = static_cast<std::uint32_t>(us);
  if (failures_) failures_->last_error.clear();
}

void BackendHealth::note_failure(std::string_view reason, std::string error_text) {
  count_failure(reason);
  failures_->last_error = std::move(error_text);
}

void BackendHealth::count_failure(std::string_view reason) {
  const std::uint8_t index = failure_reason_index(reason);
  auto& counts = failure_log().counts;
  for (auto& [i, n] : counts) {
    if (i == index) {
      ++n;
      return;
    }
  }
  counts.emplace_back(index, 1);
}

std::uint64_t BackendHealth::failures(std::string_view reason) const {
  std::uint64_t out = 0;
  for_each_failure([&](std::string_view r, std::uint64_t n) {
    if (r == reason) out = n;
  });
  return out;
}

}  // namespace l4lb::health
