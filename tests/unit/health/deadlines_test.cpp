// Probe deadlines on one timer: never early, in order across timeouts, skipped when the
// probe is gone.
#include "health/deadlines.hpp"

#include <catch2/catch.hpp>
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
  }
  std::vector<int>& log;
  int id;
  TimePoint added;
  Clock::duration waited{};
};

}  // namespace

TEST_CASE("round_up: to the next multiple of the tick, exact multiples unchanged") {
  const TimePoint t(milliseconds(1230));
  CHECK(round_up(t, milliseconds(10)) == t);
  CHECK(round_up(t + std::chrono::nanoseconds(1), milliseconds(10)) ==
        TimePoint(milliseconds(1240)));
  CHECK(round_up(TimePoint(milliseconds(1239)), milliseconds(10)) == TimePoint(milliseconds(1240)));
}

TEST_CASE("deadlines: not early, shorter timeouts first, dead targets skipped") {
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
  CHECK(d.queued() == 3);
  REQUIRE(health::testing::run_until(io, [&] { return log.size() == 2; }));
  CHECK(log == std::vector<int>{2, 1});
  CHECK(fast->waited >= milliseconds(20));
  CHECK(slow->waited >= milliseconds(80));
  CHECK(d.queued() == 0);
}
