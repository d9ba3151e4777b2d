// The daemon's way of programming IPVS without holding the event loop (which also runs VRRP):
//   1. on the loop: lend the Programmer's model and ownership state (moved, O(1)) to
//   2. the plan worker: desired_table + reconcile + claim new services in the ownership record
//      (pure work and one file write; ~0.1 s at 10,000 x 8 on the host, more in the lab);
//   3. on the loop: the operations are sent in slices of about `Options::slice` of loop time
//      (a few kernel batches each), each slice a handler of its own, so adverts and health
//      checks run in between;
//   4. the ownership record is rewritten on the worker after the last slice.
// Requests made while a plan is in flight are coalesced into one plan that starts when this
// one is done (it sees every health change noted meanwhile): however fast checks flap, at
// most one plan runs at a time and the loop's share per request is O(1). A health
// transition is one operation, as with Programmer::apply. When nothing but health changed
// since the last plan (same services, no drain, a model nobody else replaced, no failure), the
// plan covers only the services of the changed checks: at 10,000 x 8 a flap costs the worker
// microseconds instead of a whole desired table and diff (about 0.1 s).
//
// The drift repair (daemon::IpvsRepair) compares a dump with the Programmer's model and may
// replace that model: it hold()s the programmer for the time of its check, so no plan lends
// the model away or sends operations meanwhile, and release()s it after.
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/worker.hpp"
#include "ipvs/backend_states.hpp"
#include "ipvs/programmer.hpp"
#include "ipvs/slicer.hpp"

namespace l4lb::ipvs {

class SlicedProgrammer {
 public:
  struct Options {
    std::size_t batch_ops = 32;            // operations per kernel batch
    std::chrono::microseconds slice{500};  // loop time a slice may take
    // When the model is stale (a failed operation): re-read the kernel on the loop before
    // the next plan (true), or wait until someone else re-reads it off the loop and adopts
    // the dump (false: the daemon's IpvsRepair does, with backoff) and request()s again.
    bool resync_on_loop = true;
  };
  // Whether the operator drained `backend` in `service`; called on the worker thread, so it
  // must own what it reads (a copy of the drains).
  using DrainedFn = std::function<bool(const std::string& service, const net::Address& backend)>;
  using Done = std::function<void(const ApplyResult&)>;  // after each plan, on the loop

  struct Stats {
    std::uint64_t plans = 0;        // plans completed
    std::uint64_t coalesced = 0;    // requests folded into a later plan
    std::uint64_t incremental = 0;  // plans of the changed services only
    std::uint64_t slices = 0;
    double max_slice_seconds = 0;      // the longest single slice (wall clock, loop time)
    double max_slice_cpu_seconds = 0;  // the same in CPU time of the loop thread
    double last_plan_seconds = 0;      // worker time of the last plan (desired + reconcile)
    std::size_t adopted = 0;           // live backends adopted by the first plan
  };

  // `programmer` must outlive this object and is used only through it from now on.
  SlicedProgrammer(boost::asio::io_context& io, Programmer& programmer, CheckPortFn check_port,
                   Done done, Options options);
  SlicedProgrammer(boost::asio::io_context& io, Programmer& programmer, CheckPortFn check_port,
                   Done done)
      : SlicedProgrammer(io, programmer, std::move(check_port), std::move(done), Options{}) {}
  ~SlicedProgrammer();

  // Something the next plan must know, in the order it happened (loop thread). Anything but a
  // HealthChange makes the next plan a whole one.
  void note(StateChange change);
  // Makes the kernel match `services` under the noted health and `drained`: now if idle,
  // else once the plan in flight is done.
  void request(Services services, DrainedFn drained);
  // Shutdown: finishes the plan in flight here and now (blocking), drops queued requests.
  void finish();
  // While held, no plan starts (requests wait, coalesced); the plan in flight, if any, goes
  // on. release() starts the waiting request.
  void hold();
  void release();

  // No plan in flight (a request may be waiting: held, or for a stale model's re-read).
  bool idle() const { return phase_ == Phase::idle; }
  bool waiting() const { return pending_.has_value(); }
  const Stats& stats() const { return stats_; }
  const Worker& worker() const { return worker_; }  // its queue delay, for status

 private:
  enum class Phase { idle, planning, sending, recording };
  struct Request {
    Services services;
    DrainedFn drained;
  };
  struct Planned;
  void maybe_start();
  void start(Request req);
  void planned(Planned& p);
  void schedule_slice();
  void slice();
  void record();
  void complete();
  Plan plan_services(const Services& services, const std::vector<StateChange>& changes,
                     const BackendStateFn& state, const Lent& lent);

  boost::asio::io_context& io_;
  Programmer& programmer_;
  Done done_;
  Options options_;
  Phase phase_ = Phase::idle;
  std::vector<StateChange> changes_;  // since the last plan started
  std::optional<Request> pending_;    // the request to run after the one in flight
  bool adopt_ = true;                 // the first plan adopts live destinations
  bool held_ = false;
  bool full_next_ = true;       // the next plan covers every service
  Services planned_services_;   // of the last plan
  std::uint64_t gen_done_ = 0;  // the Programmer's generation when the last plan ended
  ApplyResult result_;          // of the plan in flight
  std::optional<Slicer> slicer_;
  std::uint64_t epoch_ = 0;  // voids a posted slice that finish() already did
  Stats stats_;
  // Of the plan in flight, for its log line (stats_ holds the totals).
  std::uint64_t plan_slices_ = 0;
  double plan_max_slice_ = 0, plan_max_slice_cpu_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  // The worker thread's, touched only by jobs (after construction):
  BackendStates states_;
  std::vector<std::string> conflicts_;                       // of the last whole plan
  Services indexed_;                                         // the services index_ is of
  std::unordered_map<std::string_view, std::size_t> index_;  // service name -> position
  Worker worker_;                                            // last: stops (joins) first
};

}  // namespace l4lb::ipvs
