// A fixed-bucket histogram of durations (Prometheus style: per-bucket counts, a sum and a
// count), for the loop lag, worker queue delay and VRRP advert interval figures. Pure value
// type: the owner records into it on its own thread and copies it into snapshots.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>

namespace l4lb {

// Upper bounds in seconds; a last, implicit bucket is +Inf. From 0.5 ms (a timer firing on
// time) to 10 s (a loop stalled long enough for any VRRP backup to take over).
inline constexpr std::array<double, 16> kDelayBuckets{0.0005, 0.001, 0.002, 0.005, 0.01, 0.015,
                                                      0.02,   0.03,  0.05,  0.1,   0.25, 0.5,
                                                      1.0,    2.5,   5.0,   10.0};

struct DelayHistogram {
  std::array<std::uint64_t, kDelayBuckets.size() + 1> counts{};  // not cumulative
  double sum_seconds = 0;
  double max_seconds = 0;

  void record(std::chrono::nanoseconds d) {
    const double s = d.count() < 0 ? 0.0 : static_cast<double>(d.count()) / 1e9;
    std::size_t i = 0;
    while (i < kDelayBuckets.size() && s > kDelayBuckets[i]) ++i;
    ++counts[i];
    sum_seconds += s;
    if (s > max_seconds) max_seconds = s;
  }
  std::uint64_t total() const {
    std::uint64_t n = 0;
    for (auto c : counts) n += c;
    return n;
  }
  // Cumulative counts, same length as `counts` (last = total()).
  std::array<std::uint64_t, kDelayBuckets.size() + 1> cumulative() const {
    auto out = counts;
    for (std::size_t i = 1; i < out.size(); ++i) out[i] += out[i - 1];
    return out;
  }
};

}  // namespace l4lb
