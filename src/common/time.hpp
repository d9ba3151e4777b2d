// One clock for the whole daemon. Pure cores never read it: they are handed `now`.
#pragma once

#include <chrono>

namespace l4lb {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using Duration = std::chrono::milliseconds;

}  // namespace l4lb
