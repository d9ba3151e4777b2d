// Functions sent from any thread to run, in order, on the thread of one io_context.
//
// Not boost::asio::post: posting takes the receiving io_context's own mutex, which its thread
// takes on every handler, and which does not inherit priority; a sender preempted while holding
// it stalls the receiver (daemon/worker.hpp says what perf sched showed). Here the two sides
// meet in a queue under a priority-inheritance mutex, and an eventfd that the receiver's
// io_context waits on says "look at the queue".
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
  explicit Mailbox(boost::asio::io_context& receiver);
  ~Mailbox();  // what is still queued is dropped, unrun
  Mailbox(const Mailbox&) = delete;
  Mailbox& operator=(const Mailbox&) = delete;

  // Any thread. Runs `fn` on the receiver's thread, after everything sent before it.
  void send(std::function<void()> fn);

 private:
  void arm();      // receiver: wait for the eventfd
  void deliver();  // receiver: run what is queued

  boost::asio::posix::stream_descriptor wake_;  // eventfd
  PiMutex mutex_;                               // guards queue_
  std::deque<std::function<void()>> queue_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // receiver thread only
};

}  // namespace l4lb
