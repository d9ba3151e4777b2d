#include "health/rise_fall.hpp"

#include <catch2/catch.hpp>
#include <vector>

using namespace l4lb::health;

namespace {

// Reference model written from the rule's text, from the raw sequence (no counters): the
// status after result i is decided by the run of equal results that ends at i.
Status reference(const std::vector<bool>& results, std::size_t upto, int rise, int fall,
                 StartMode mode) {
  Status s = Status::unknown;
  for (std::size_t i = 0; i <= upto; ++i) {
    std::size_t run = 0;
    for (std::size_t j = i + 1; j-- > 0 && results[j] == results[i];) ++run;
    if (results[i]) {
      const bool start = s == Status::unknown && mode == StartMode::fast;
      if (start || static_cast<int>(run) >= rise) s = Status::up;
    } else {
      if (s == Status::unknown || static_cast<int>(run) >= fall) s = Status::down;
    }
  }
  return s;
}

}  // namespace

TEST_CASE("rise/fall matches the reference model on every sequence up to length 12") {
  for (auto mode : {StartMode::fast, StartMode::strict}) {
    for (int rise = 1; rise <= 4; ++rise) {
      for (int fall = 1; fall <= 4; ++fall) {
        for (unsigned bits = 0; bits < (1u << 12); ++bits) {
          std::vector<bool> seq;
          for (int i = 0; i < 12; ++i) seq.push_back((bits >> i) & 1u);
          Streak st;
          Status prev = Status::unknown;
          for (std::size_t i = 0; i < seq.size(); ++i) {
            auto changed = apply_result(st, seq[i], rise, fall, mode);
            const Status want = reference(seq, i, rise, fall, mode);
            INFO("mode=" << int(mode) << " rise=" << rise << " fall=" << fall << " bits=" << bits
                         << " i=" << i);
            REQUIRE(st.status == want);
            // A transition is reported exactly when the status changes, with the new value.
            REQUIRE(changed.has_value() == (want != prev));
            if (changed) REQUIRE(*changed == want);
            prev = want;
          }
        }
      }
    }
  }
}

TEST_CASE("fast start: first result decides, then rise/fall") {
  Streak s;
  CHECK(apply_result(s, true, 3, 2) == Status::up);
  CHECK(!apply_result(s, false, 3, 2));
  CHECK(s.status == Status::up);
  CHECK(apply_result(s, false, 3, 2) == Status::down);
  CHECK(!apply_result(s, true, 3, 2));
  CHECK(!apply_result(s, true, 3, 2));
  CHECK(apply_result(s, true, 3, 2) == Status::up);

  Streak d;
  CHECK(apply_result(d, false, 3, 5) == Status::down);  // one failure suffices at start
}

TEST_CASE("strict start: unknown needs rise successes, one failure is down") {
  Streak s;
  CHECK(!apply_result(s, true, 3, 2, StartMode::strict));
  CHECK(!apply_result(s, true, 3, 2, StartMode::strict));
  CHECK(s.status == Status::unknown);
  CHECK(apply_result(s, true, 3, 2, StartMode::strict) == Status::up);
  Streak f;
  CHECK(apply_result(f, false, 3, 2, StartMode::strict) == Status::down);
}

TEST_CASE("flapping: alternating results never move an established status when rise, fall > 1") {
  Streak s;
  apply_result(s, true, 2, 2);
  for (int i = 0; i < 100; ++i) {
    CHECK(!apply_result(s, i % 2 == 0 ? false : true, 2, 2));
    CHECK(s.status == Status::up);
  }
}

TEST_CASE("rise/fall below 1 behave as 1; streak counters saturate instead of overflowing") {
  Streak s;
  apply_result(s, true, 0, 0);
  CHECK(apply_result(s, false, 0, -3) == Status::down);
  CHECK(apply_result(s, true, 0, 0) == Status::up);
  s.consecutive_ok = std::numeric_limits<int>::max();
  CHECK(!apply_result(s, true, 2, 2));
  CHECK(s.consecutive_ok == std::numeric_limits<int>::max());
}
