#include "common/rate_limit.hpp"

#include <catch2/catch.hpp>

using l4lb::TimePoint;
using l4lb::log::RateLimiter;
using namespace std::chrono_literals;

TEST_CASE("rate limiter logs up to the rate, then summarises the rest once per window") {
  RateLimiter r("health", "transitions", {"up", "down"}, 3);
  const TimePoint t0{};
  CHECK(r.allow(t0, 0));
  CHECK(r.allow(t0 + 1ms, 1));
  CHECK(r.allow(t0 + 2ms, 1));
  CHECK_FALSE(r.allow(t0 + 3ms, 0));
  CHECK_FALSE(r.allow(t0 + 4ms, 1));
  CHECK_FALSE(r.allow(t0 + 5ms, 1));
  CHECK(r.suppressed_total() == 3);
  // The window has not ended: no summary yet.
  CHECK_FALSE(r.summary(t0 + 999ms));
  auto s = r.summary(t0 + 1000ms);
  REQUIRE(s);
  CHECK(*s == "health: 3 more transitions suppressed in the last 1s (up 1, down 2)");
  CHECK_FALSE(r.summary(t0 + 1001ms));  // once
  // A new window logs again.
  CHECK(r.allow(t0 + 1002ms, 0));
  CHECK(r.suppressed_total() == 3);
}

TEST_CASE("rate limiter: a quiet window produces no summary") {
  RateLimiter r("health", "transitions", {"up", "down"}, 2);
  const TimePoint t0{};
  CHECK(r.allow(t0));
  CHECK(r.allow(t0 + 10ms));
  CHECK_FALSE(r.summary(t0 + 2s));
  CHECK(r.suppressed_total() == 0);
}

TEST_CASE("rate limiter: a summary not taken is reported with the next one, not lost") {
  RateLimiter r("health", "transitions", {"up", "down"}, 1);
  const TimePoint t0{};
  CHECK(r.allow(t0, 0));
  CHECK_FALSE(r.allow(t0 + 1ms, 0));  // window 1: 1 suppressed
  CHECK(r.allow(t0 + 1500ms, 1));     // rolls: window 1's summary pending
  CHECK_FALSE(r.allow(t0 + 1600ms, 1));
  CHECK_FALSE(r.allow(t0 + 1700ms, 5));  // out-of-range kind counts as the first kind
  auto s = r.summary(t0 + 3s);
  REQUIRE(s);
  CHECK(*s ==
        "health: 1 more transitions suppressed in the last 2s (up 1, down 0); "
        "health: 2 more transitions suppressed in the last 2s (up 1, down 1)");
  CHECK(r.suppressed_total() == 3);
}
