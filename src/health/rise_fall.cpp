#include "health/rise_fall.hpp"

#include <algorithm>
#include <limits>

namespace l4lb::health {

namespace {
int bump(int n) { return n == std::numeric_limits<int>::max() ? n : n + 1; }
}  // namespace

std::optional<Status> apply_result(Streak& s, bool ok, int rise, int fall, StartMode mode) {
  rise = std::max(rise, 1);
  fall = std::max(fall, 1);
  const Status before = s.status;
  if (ok) {
    s.consecutive_ok = bump(s.consecutive_ok);
    s.consecutive_fail = 0;
    const bool fast_start = before == Status::unknown && mode == StartMode::fast;
    if (before != Status::up && (fast_start || s.consecutive_ok >= rise)) s.status = Status::up;
  } else {
    s.consecutive_fail = bump(s.consecutive_fail);
    s.consecutive_ok = 0;
    if (before == Status::unknown || (before == Status::up && s.consecutive_fail >= fall))
      s.status = Status::down;
  }
  if (s.status != before) return s.status;
  return std::nullopt;
}

}  // namespace l4lb::health
