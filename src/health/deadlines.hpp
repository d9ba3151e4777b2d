// The deadlines of every probe on one io_context, on one Asio timer. A deadline is its probe's
// start plus its timeout, so the deadlines of probes sharing a timeout arrive in order: one
// FIFO per timeout value holds them, adding is O(1), and a probe that finishes first is not
// removed but dropped when the timer next fires (it is held weakly). The timer is armed for
// the oldest probe still running, so while probes answer within their timeout it fires
// about once per timeout, not once per probe. One Asio timer per probe
// instead cost a heap insertion, a heap removal on cancel and a completion handler each, the
// largest user-space cost of a check at 10,000 checks a second.
//
// The timer is paced (pacer.hpp): a deadline is noticed never early and at most
// Pacer::kMaxGap late.
#pragma once

#include <boost/asio/execution_context.hpp>
#include <boost/asio/io_context.hpp>
#include <deque>
#include <map>
#include <memory>
#include <optional>

#include "common/time.hpp"
#include "health/pacer.hpp"

namespace l4lb::health::detail {

class Deadlines : public boost::asio::execution_context::service {
 public:
  using key_type = Deadlines;
  static inline boost::asio::execution_context::id id;

  struct Target {
    virtual ~Target() = default;
    virtual void expire() = 0;         // the deadline passed while still running
    virtual bool running() const = 0;  // false once finished: the deadline no longer matters
  };

  explicit Deadlines(boost::asio::execution_context& ctx);

  static Deadlines& of(boost::asio::io_context& io) {
    return boost::asio::use_service<Deadlines>(io);
  }

  // `target` expires at now + timeout (give or take the tick) unless it is gone by then.
  void add(Duration timeout, std::weak_ptr<Target> target);

  std::size_t queued() const;

 private:
  struct Entry {
    TimePoint due;
    std::weak_ptr<Target> target;
  };
  void shutdown() override;
  void fire(TimePoint now);

  std::map<Duration, std::deque<Entry>> queues_;
  PacedTimer timer_;
};

}  // namespace l4lb::health::detail
