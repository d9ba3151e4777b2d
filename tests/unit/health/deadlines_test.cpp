// Probe deadlines on one timer: never early, in order across timeouts, skipped when the
// probe is gone.
#include "health/deadlines.hpp"

#include <catch2/catch.hpp>
#include <set>
#include <vector>

#include "servers.hpp"

using namespace l4lb;
using namespace l4lb::health::detail;
using std::chrono::milliseconds;

namespace {

struct Recorder : Deadlines::Target {
  Recorder(std::vector<int>& log, int id) : log(log), id(id), added(Clock::now()) {}
  void expire() override {
    log.push_back(id);
    waited = Clock::now() - added;
    done = true;
  }
  bool running() const override { return !done; }
  std::vector<int>& log;
  bool done = false;
  int id;
  TimePoint added;
  Clock::duration waited{};
};

}  // namespace

TEST_CASE("pacer: due work waits for the gap after a firing, never fires early") {
  const TimePoint t0(milliseconds(100000));
  Pacer p(7);
  CHECK(p.when(t0) == t0);  // nothing fired yet
  std::set<Duration::rep> gaps;
  TimePoint now = t0;
  for (int i = 0; i < 1000; ++i) {
    p.fired(now);
    const TimePoint next = p.when(now);  // work due at once waits for the gap
    const auto gap = std::chrono::duration_cast<milliseconds>(next - now);
    CHECK(gap >= Pacer::kMinGap);
    CHECK(gap <= Pacer::kMaxGap);
    gaps.insert(gap.count());
    CHECK(p.when(now + Pacer::kMaxGap + milliseconds(1)) == now + Pacer::kMaxGap + milliseconds(1));
    now = next;
  }
  // Not a fixed period: every gap in the range occurs.
  CHECK(gaps.size() == static_cast<std::size_t>((Pacer::kMaxGap - Pacer::kMinGap).count() + 1));
}

TEST_CASE("deadlines: not early, shorter timeouts first, dead and finished targets skipped") {
  boost::asio::io_context io;
  auto& d = Deadlines::of(io);
  std::vector<int> log;
  auto slow = std::make_shared<Recorder>(log, 1);
  auto fast = std::make_shared<Recorder>(log, 2);
  auto gone = std::make_shared<Recorder>(log, 3);
  d.add(Duration(80), slow);
  d.add(Duration(20), fast);  // re-arms the timer earlier
  d.add(Duration(20), gone);
  gone.reset();
  auto finished = std::make_shared<Recorder>(log, 4);
  finished->done = true;  // a probe that answered before its deadline
  d.add(Duration(20), finished);
  CHECK(d.queued() == 4);
  REQUIRE(health::testing::run_until(io, [&] { return log.size() == 2; }));
  CHECK(log == std::vector<int>{2, 1});
  CHECK(fast->waited >= milliseconds(20));
  CHECK(slow->waited >= milliseconds(80));
  CHECK(d.queued() == 0);
}
