// Log rate limiting for events that can come in floods (thousands of backends changing state
// at once): the first `per_second` events of each one-second window are logged one line each,
// the rest are counted, and once the window is over one summary line reports what was
// suppressed, by kind. Pure: time is passed in; the caller writes the lines.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/time.hpp"

namespace l4lb::log {

class RateLimiter {
 public:
  // Summary: "<category>: N more <noun> suppressed in the last 1s (<kind> n, ...)". `kinds`
  // name the sub-counts ("up", "down"); events pass a kind's index.
  RateLimiter(std::string category, std::string noun, std::vector<std::string> kinds,
              unsigned per_second);

  // True if this event may be logged; false if it is counted as suppressed.
  bool allow(TimePoint now, std::size_t kind = 0);
  // The summary line for a window that has ended before `now` and suppressed something, once;
  // nullopt otherwise. Call it about once a second (and it is also checked by allow()).
  std::optional<std::string> summary(TimePoint now);

  std::uint64_t suppressed_total() const { return suppressed_total_; }
  const std::string& category() const { return category_; }

 private:
  void roll(TimePoint now);

  std::string category_, noun_;
  std::vector<std::string> kinds_;
  unsigned per_second_;
  TimePoint window_start_{};
  bool started_ = false;
  unsigned logged_ = 0;                 // in the current window
  std::vector<std::uint64_t> counts_;   // suppressed in the current window, by kind
  std::optional<std::string> pending_;  // summary of an ended window, not yet taken
  std::uint64_t suppressed_total_ = 0;
};

}  // namespace l4lb::log
