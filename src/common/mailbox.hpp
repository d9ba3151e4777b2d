// Functions sent from any thread to run, in order, on the thread of one io_context.
//
// Not boost::asio::post: posting takes the receiving io_context's own mutex, which its thread
// takes on every handler, and which does not inherit priority; a sender preempted while holding
// it stalls the receiver (daemon/worker.hpp says what perf sched showed). Here the two sides
// meet in a queue under a priority-inheritance mutex, and an eventfd that the receiver's
// io_context waits on says "look at the queue".
//
// By default the receiver always waits for mail (the VRRP engine's transitions come unasked).
// Given `wanted`, it waits only while wanted() is true: a worker's return path expects mail
// only while jobs are out, and an io_context with nothing else to do may then return from
// run() (shutdown, unit tests).
//
// Construct and destroy on the receiver's thread (or before it runs / after it stopped).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <deque>
#include <functional>
#include <memory>

#include "common/pi_mutex.hpp"

namespace l4lb {

class Mailbox {
 public:
  explicit Mailbox(boost::asio::io_context& receiver, std::function<bool()> wanted = {});
  ~Mailbox();  // what is still queued is dropped, unrun
  Mailbox(const Mailbox&) = delete;
  Mailbox& operator=(const Mailbox&) = delete;

  // Any thread. Runs `fn` on the receiver's thread, after everything sent before it.
  void send(std::function<void()> fn);

  // Receiver thread. wanted() may have become true: wait for mail again.
  void expect() { arm(); }
  // Receiver thread. Runs what is queued now, without waiting for the eventfd (shutdown);
  // false when nothing was queued.
  bool deliver_now();

 private:
  void arm();      // receiver: wait for the eventfd (if mail is wanted and not yet waited for)
  void deliver();  // receiver: the eventfd fired
  // Receiver: runs what is queued; false when a function destroyed the mailbox.
  bool run_queued(bool* ran = nullptr);

  boost::asio::posix::stream_descriptor wake_;  // eventfd
  std::function<bool()> wanted_;                // empty: always
  bool armed_ = false;                          // receiver thread only
  PiMutex mutex_;                               // guards queue_
  std::deque<std::function<void()>> queue_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // receiver thread only
};

}  // namespace l4lb
