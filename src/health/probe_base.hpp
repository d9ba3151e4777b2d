// Shared plumbing of the probes (internal to src/health): one deadline for the whole run (see
// deadlines.hpp), exactly-once completion, and cancellation that tolerates handlers still
// queued.
#pragma once

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/basic_endpoint.hpp>
#include <boost/asio/post.hpp>
#include <memory>

#include "common/time.hpp"
#include "health/deadlines.hpp"
#include "health/probe.hpp"

namespace l4lb::health::detail {

boost::asio::ip::address to_asio(const net::Address& a);

template <typename Derived>
class ProbeBase : public Probe,
                  public Deadlines::Target,
                  public std::enable_shared_from_this<Derived> {
 public:
  ProbeBase(boost::asio::io_context& io, const CheckSpec& spec, ProbeDone done)
      : io_(io), spec_(spec), done_(std::move(done)) {}

  void cancel() override {
    done_ = nullptr;
    finish(ProbeResult::failure("cancelled", {}, Micros{0}));
  }

 protected:
  // Arms the deadline and runs Derived::begin().
  void launch() {
    started_ = Clock::now();
    std::shared_ptr<Deadlines::Target> self = this->shared_from_this();
    Deadlines::of(io_).add(spec_.params->timeout, self);
    static_cast<Derived*>(this)->begin();
  }

  void expire() final {
    if (!finished_) on_deadline();
  }
  bool running() const final { return !finished_; }

  // What the deadline means; the UDP weak check overrides it into a success.
  virtual void on_deadline() {
    fail(std::string(reason::timeout),
         "no answer within " + std::to_string(spec_.params->timeout.count()) + "ms");
  }

  Micros elapsed() const { return std::chrono::duration_cast<Micros>(Clock::now() - started_); }
  void succeed() { finish(ProbeResult::success(elapsed())); }
  void succeed(Micros latency) { finish(ProbeResult::success(latency)); }
  void fail(std::string_view why, std::string detail) {
    finish(ProbeResult::failure(why, std::move(detail), elapsed()));
  }
  void fail(std::string_view why, std::string detail, Micros latency) {
    finish(ProbeResult::failure(why, std::move(detail), latency));
  }
  // A failure found while starting: reported on the next turn of the loop, never re-entrantly.
  void fail_later(std::string_view why, std::string detail) {
    boost::asio::post(
        io_, [self = this->shared_from_this(), why = std::string(why),
              detail = std::move(detail)]() mutable { self->fail(why, std::move(detail)); });
  }

  bool finished() const { return finished_; }

  boost::asio::io_context& io_;
  const CheckSpec spec_;  // a copy: the target, and the shared parameters

 private:
  void finish(ProbeResult r) {
    if (finished_) return;
    finished_ = true;
    static_cast<Derived*>(this)->close();
    if (auto done = std::move(done_)) {
      done_ = nullptr;
      done(r);
    }
  }

  ProbeDone done_;
  TimePoint started_{};
  bool finished_ = false;
};

}  // namespace l4lb::health::detail

namespace l4lb::health::detail {
std::shared_ptr<Probe> start_tcp(boost::asio::io_context& io, const CheckSpec& spec, ProbeDone done,
                                 std::shared_ptr<ProbeMemory> memory);
std::shared_ptr<Probe> start_udp(boost::asio::io_context& io, const CheckSpec& spec,
                                 ProbeDone done);
std::shared_ptr<Probe> start_http(boost::asio::io_context& io, const CheckSpec& spec,
                                  ProbeDone done);
}  // namespace l4lb::health::detail
