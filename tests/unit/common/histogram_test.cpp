#include "common/histogram.hpp"

#include <catch2/catch.hpp>

using namespace std::chrono_literals;

TEST_CASE("delay histogram buckets by upper bound, keeps sum, max and count") {
  l4lb::DelayHistogram h;
  h.record(300us);  // <= 0.5 ms
  h.record(500us);  // exactly on the bound: same bucket
  h.record(12ms);   // <= 15 ms
  h.record(20s);    // +Inf
  h.record(-5ms);   // a clock oddity counts as zero
  CHECK(h.counts[0] == 3);
  CHECK(h.counts[5] == 1);
  CHECK(h.counts.back() == 1);
  CHECK(h.total() == 5);
  CHECK(h.max_seconds == Approx(20.0));
  CHECK(h.sum_seconds == Approx(20.0128));
  auto c = h.cumulative();
  CHECK(c[0] == 3);
  CHECK(c[4] == 3);
  CHECK(c[5] == 4);
  CHECK(c.back() == 5);
}
