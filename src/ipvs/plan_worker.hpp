// The daemon's way of programming IPVS without holding the event loop (which runs the health
// checks, the control socket and reloads; VRRP has a thread of its own):
//   1. on the loop: lend the Programmer's model, ownership state and kernel socket (moved,
//      O(1)) to
//   2. the plan worker, which plans (desired_table + reconcile), claims the new services in
//      the ownership record, sends the operations in the kernel's large batches (Slicer keeps
//      Programmer::apply's order and skip rules), updates the model from the answers and
//      writes the record again;
//   3. back on the loop: the state is given back and the result reported, both O(1) but for
//      the failures' list.
// Why the worker sends, not the loop: in slices of 0.5 ms of loop time the lab's emulated CPU
// sent 32 operations a slice, 2,813 slices for 10,000 x 8, and the per-batch costs (a
// sendmsg, its skb, the ACKs, a loop turn) doubled the netlink time of start-up against the
// same operations in 23 batches (docs/BENCHMARKS.md, "Start-up"). From the worker no handler
// of the loop waits for netlink at all. (Called SlicedProgrammer while it still sent from the
// loop in slices; docs/BENCHMARKS.md's older sections use that name.)
//
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

class PlanWorker {
 public:
  struct Options {
    // Operations made and sent per Kernel::apply call: NetlinkKernel's largest batch, so the
    // pieces cost no extra round trips; tests set a few to see the pieces.
    std::size_t batch_ops = 4096;
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
    double last_plan_seconds = 0;   // worker time of the last plan (desired + reconcile)
    double last_send_seconds = 0;   // worker time of the last plan's netlink batches
    // The longest loop handler of this object (a plan's start or its result), wall clock.
    double max_handler_seconds = 0;
    std::size_t adopted = 0;  // live backends adopted by the first plan
  };

  // `programmer` must outlive this object and is used only through it from now on.
  PlanWorker(boost::asio::io_context& io, Programmer& programmer, CheckPortFn check_port, Done done,
             Options options);
  PlanWorker(boost::asio::io_context& io, Programmer& programmer, CheckPortFn check_port, Done done)
      : PlanWorker(io, programmer, std::move(check_port), std::move(done), Options{}) {}
  ~PlanWorker();

  // Something the next plan must know, in the order it happened (loop thread). Anything but a
  // HealthChange makes the next plan a whole one.
  void note(StateChange change);
  // Makes the kernel match `services` under the noted health and `drained`: now if idle,
  // else once the plan in flight is done.
  void request(Services services, DrainedFn drained);
  // Shutdown: waits for the plan in flight (blocking), drops queued requests.
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
  enum class Phase { idle, running };
  struct Request {
    Services services;
    DrainedFn drained;
  };
  struct Planned;
  void maybe_start();
  void start(Request req);
  void finished(Planned& p);
  void complete();
  void note_handler(std::chrono::steady_clock::time_point t0);
  void plan_and_send(Planned& p, const std::vector<StateChange>& changes, bool adopt, bool full,
                     const Request& req);
  void plan_services(const Services& services, const std::vector<StateChange>& changes,
                     const BackendStateFn& state, const Lent& lent, Table& desired, Table& part);

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
  Stats stats_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  // The worker thread's, touched only by jobs (after construction):
  BackendStates states_;
  std::vector<std::string> conflicts_;                       // of the last whole plan
  Services indexed_;                                         // the services index_ is of
  std::unordered_map<std::string_view, std::size_t> index_;  // service name -> position
  Worker worker_;                                            // last: stops (joins) first
};

}  // namespace l4lb::ipvs
