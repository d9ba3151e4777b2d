// Spacing for the batch timers of the health checker (Monitor's check starts, Deadlines, the
// half-open answer reads):
// a timer fires when its earliest work is due, but no sooner than a gap after its previous
// firing, so that work falling due close together goes out in one batch (at 10,000 checks a
// second, about a hundred SYNs per system call instead of one).
//
// The gap is drawn at random from [kMinGap, kMaxGap] rather than fixed, to keep the firings
// out of step with the kernel's scheduler tick. In step (a fixed 10 ms against HZ=100), a
// kernel that accounts CPU time by sampling at the tick (UML, the kernel lab, does) would
// always find the process at the same phase of its work and report it as idle, or as busy,
// whatever it really used.
#pragma once

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <random>

#include "common/time.hpp"

namespace l4lb::health::detail {

class Pacer {
 public:
  static constexpr Duration kMinGap{5};
  static constexpr Duration kMaxGap{15};

  explicit Pacer(std::uint32_t seed = std::random_device{}()) : random_(seed) {}

  // When a timer with work due at `due` should fire.
  TimePoint when(TimePoint due) const { return std::max(due, not_before_); }

  // Records a firing at `now`: the next comes no sooner than a random gap later.
  void fired(TimePoint now) {
    std::uniform_int_distribution<Duration::rep> gap(kMinGap.count(), kMaxGap.count());
    not_before_ = now + Duration(gap(random_));
  }

 private:
  TimePoint not_before_{};
  std::minstd_rand random_;
};

// One Asio timer that runs `fire` when the earliest of some work is due, paced: the owner
// says when work falls due (due()), and `fire` finds what is due itself and says when the
// next is.
class PacedTimer {
 public:
  PacedTimer(boost::asio::io_context& io, std::function<void(TimePoint now)> fire)
      : timer_(io), fire_(std::move(fire)) {}
  ~PacedTimer() { *alive_ = false; }
  PacedTimer(const PacedTimer&) = delete;
  PacedTimer& operator=(const PacedTimer&) = delete;

  // Makes the timer fire no later than pacing allows after `at`.
  void due(TimePoint at) {
    const TimePoint when = pacer_.when(at);
    if (armed_for_ && *armed_for_ <= when) return;
    armed_for_ = when;
    timer_.expires_at(when);
    timer_.async_wait([this, alive = alive_](const boost::system::error_code& ec) {
      // A completion already queued when the owner went away must not touch it.
      if (ec || !*alive) return;
      armed_for_.reset();
      const TimePoint now = Clock::now();
      pacer_.fired(now);
      fire_(now);
    });
  }

  void cancel() {
    timer_.cancel();
    armed_for_.reset();
  }

 private:
  boost::asio::steady_timer timer_;
  std::function<void(TimePoint)> fire_;
  std::optional<TimePoint> armed_for_;
  Pacer pacer_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace l4lb::health::detail
