// Measures how late an event loop (the main loop, the VRRP thread) runs its handlers: a timer
// asks to fire every `period` and records how much later than asked it actually fired. A
// handler that holds the loop for 200 ms shows as one sample of about 200 ms — the same delay a
// VRRP advert timer saw.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>

#include "common/histogram.hpp"
#include "common/time.hpp"

namespace l4lb {

class LoopLagProbe {
 public:
  LoopLagProbe(boost::asio::io_context& io, std::chrono::milliseconds period)
      : timer_(io), period_(period) {}
  void start() { arm(Clock::now() + period_); }
  void stop() { timer_.cancel(); }
  const DelayHistogram& histogram() const { return histogram_; }

 private:
  void arm(TimePoint at) {
    timer_.expires_at(at);
    timer_.async_wait([this, at](const boost::system::error_code& ec) {
      if (ec) return;
      const TimePoint now = Clock::now();
      histogram_.record(now - at);
      // The next deadline counts from now, so one long stall is one sample, not a burst.
      arm(now + period_);
    });
  }

  boost::asio::steady_timer timer_;
  std::chrono::milliseconds period_;
  DelayHistogram histogram_;
};

}  // namespace l4lb
