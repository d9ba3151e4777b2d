#include "common/rate_limit.hpp"

#include <fmt/format.h>

namespace l4lb::log {
namespace {
constexpr auto kWindow = std::chrono::seconds(1);
}

RateLimiter::RateLimiter(std::string category, std::string noun, std::vector<std::string> kinds,
                         unsigned per_second)
    : category_(std::move(category)),
      noun_(std::move(noun)),
      kinds_(kinds.empty() ? std::vector<std::string>{"events"} : std::move(kinds)),
      per_second_(per_second),
      counts_(kinds_.size(), 0) {}

void RateLimiter::roll(TimePoint now) {
  if (!started_) {
    started_ = true;
    window_start_ = now;
    return;
  }
  if (now - window_start_ < kWindow) return;
  std::uint64_t total = 0;
  for (auto c : counts_) total += c;
  if (total > 0) {
    std::string by;
    for (std::size_t i = 0; i < kinds_.size(); ++i)
      by += fmt::format("{}{} {}", i ? ", " : "", kinds_[i], counts_[i]);
    const auto seconds = std::chrono::duration<double>(now - window_start_).count();
    std::string line = fmt::format("{}: {} more {} suppressed in the last {:.0f}s ({})", category_,
                                   total, noun_, seconds < 1 ? 1.0 : seconds, by);
    // A summary not yet taken is merged into the next rather than lost.
    pending_ = pending_ ? *pending_ + "; " + line : line;
  }
  window_start_ = now;
  logged_ = 0;
  std::fill(counts_.begin(), counts_.end(), 0);
}

bool RateLimiter::allow(TimePoint now, std::size_t kind) {
  roll(now);
  if (logged_ < per_second_) {
    ++logged_;
    return true;
  }
  ++counts_[kind < counts_.size() ? kind : 0];
  ++suppressed_total_;
  return false;
}

std::optional<std::string> RateLimiter::summary(TimePoint now) {
  roll(now);
  std::optional<std::string> out;
  out.swap(pending_);
  return out;
}

}  // namespace l4lb::log
