// The rise/fall rule: turns a stream of check results into up/down transitions. Pure.
//
// Start (state unknown), by StartMode:
//   fast   (default, what the Monitor uses): the first result decides — one success moves
//          unknown -> up, one failure moves unknown -> down. A restarted daemon serves healthy
//          backends after one interval instead of rise x interval, and never keeps a dead
//          backend in rotation longer than one check (keepalived likewise starts checked
//          servers as up).
//   strict: unknown -> up only after `rise` consecutive successes; one failure moves
//          unknown -> down (an unproven backend never serves).
// After that: up -> down after `fall` consecutive failures, down -> up after `rise`
// consecutive successes. Any opposite result resets the streak.
#pragma once

#include <optional>

#include "health/status.hpp"

namespace l4lb::health {

enum class StartMode { fast, strict };

struct Streak {
  Status status = Status::unknown;
  int consecutive_ok = 0;
  int consecutive_fail = 0;
};

// Applies one result; returns the new status when it changed. rise/fall below 1 count as 1.
std::optional<Status> apply_result(Streak& s, bool ok, int rise, int fall,
                                   StartMode mode = StartMode::fast);

}  // namespace l4lb::health
