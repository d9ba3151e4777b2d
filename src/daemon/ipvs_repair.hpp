// Keeps the kernel's IPVS table true to what l4lbd wants when someone else changes it.
// The Programmer works from a model of the kernel; this checks that model against the
// kernel: every `ipvs.reconcile_interval`, and (with exponential backoff) after every apply
// that had a failed operation or lost answers (ENOBUFS). A check dumps the kernel on the
// TableReader's thread, compares on the loop (ipvs::detect_drift, pure), and when the kernel
// drifted or the model is known stale, adopts the dump as the model and reconciles: only
// services l4lbd owns are repaired; someone else's are never touched.
//
// With the daemon's ipvs::PlanWorker the model is lent to its plan worker while a plan
// is made and operations go out slice by slice: a check waits until no plan is in flight
// (it starts from after_apply() of the plan that ends), then hold()s the programmer from
// its dump to its repair, so the dump is consistent with the model it is compared with and
// no plan is starved out by checks nor checks by plans under flapping. The repair's
// reconcile is then one more plan; its operations are counted from that plan's result.
#pragma once

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "ipvs/drift.hpp"
#include "ipvs/plan_worker.hpp"
#include "ipvs/programmer.hpp"
#include "ipvs/table_reader.hpp"

namespace l4lb::daemon {

struct IpvsRepairCounters {
  std::array<std::uint64_t, ipvs::kDriftKinds> drift{};  // items found, by ipvs::DriftKind
  std::uint64_t runs = 0;     // checks that compared a dump with the model
  std::uint64_t repairs = 0;  // checks that found drift and reconciled
  std::uint64_t repair_operations = 0;
  std::uint64_t errors = 0;       // checks whose dump failed
  std::uint64_t resyncs = 0;      // checked resyncs after a failed operation or lost answers
  std::uint64_t retries = 0;      // of which were scheduled with backoff after a failure
  std::uint64_t stale_dumps = 0;  // dumps discarded: l4lbd changed the kernel meanwhile
};

class IpvsRepair {
 public:
  // `reconcile` computes the desired table and applies it (Daemon::reconcile_ipvs), which
  // in turn reports every ApplyResult to after_apply(), at once or (through `plans`) when
  // its plan is done. `reader` may be null: then the dump is made on the loop. `plans`
  // null: `reconcile` applies synchronously.
  IpvsRepair(boost::asio::io_context& io, ipvs::Programmer& programmer, ipvs::TableReader* reader,
             std::function<void()> reconcile, ipvs::PlanWorker* plans = nullptr);
  ~IpvsRepair();
  IpvsRepair(const IpvsRepair&) = delete;
  IpvsRepair& operator=(const IpvsRepair&) = delete;

  // 0 = no periodic check (checks after errors still run).
  void set_interval(std::chrono::milliseconds interval);
  // Every apply's outcome (once per plan, with all its slices): a failed operation or a lost
  // answer means the model may be wrong, so a checked resync follows, after
  // retry_backoff(consecutive failures). Also where a check waiting for a plan starts.
  void after_apply(const ipvs::ApplyResult& result);
  // Starts a check now (or after the one in flight).
  void check(bool resync);
  // At shutdown: no further check, retry or repair (remove_services_on_exit must stay done).
  void stop();

  const IpvsRepairCounters& counters() const { return counters_; }
  nlohmann::json status() const;  // status document `ipvs.repair`

  static constexpr std::chrono::milliseconds kRetryBase{500};
  static constexpr std::chrono::milliseconds kRetryCap{60000};
  // Services compared per loop handler: about 0.5 ms on a loaded 2-core machine
  // (bench/ipvs_drift_bench.cpp: 10,000 services in 10 ms).
  static constexpr std::size_t kSliceServices = 500;

 private:
  void arm_periodic();
  // The comparison runs in slices of kSliceServices, each its own handler on the loop.
  void compare_slice();
  void compared();
  void finish_check();
  void dispose(ipvs::Table table);
  void dumped(std::optional<ipvs::Table> table, const std::string& error, std::uint64_t gen,
              bool fresh, bool resync);
  void note_failure(const ipvs::ApplyResult& result);

  ipvs::Programmer& programmer_;
  boost::asio::io_context& io_;
  ipvs::TableReader* reader_;
  std::function<void()> reconcile_;
  ipvs::PlanWorker* plans_;
  std::chrono::milliseconds interval_{0};
  boost::asio::steady_timer periodic_;
  boost::asio::steady_timer retry_;
  bool retry_armed_ = false;
  unsigned failures_ = 0;  // consecutive applies with a failure: the backoff attempt
  bool in_flight_ = false;
  bool stopped_ = false;
  struct Pending {  // the check being compared, slice by slice
    ipvs::Table kernel;
    ipvs::Drift drift;
    std::optional<ipvs::ServiceKey> next;
    std::uint64_t generation = 0;
    bool resync = false;
    double loop_ms = 0;
    unsigned slices = 0;
  };
  std::optional<Pending> pending_;
  bool again_ = false;  // a check was asked for while one ran
  bool again_resync_ = false;
  bool waiting_ = false;  // a check waits for the plan in flight to end
  bool waiting_resync_ = false;
  std::size_t repairing_ = 0;  // drift items whose repair plan has not reported yet
  unsigned stale_in_row_ = 0;
  IpvsRepairCounters counters_;
  std::string last_error_;
  std::vector<std::string> last_drift_;  // the last check's drift, for status (capped)
  double last_check_ms_ = 0;             // loop time of the last comparison (all its slices)
  double last_slice_ms_ = 0;             // the longest slice of it
  unsigned last_slices_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // guards posted completions
};

}  // namespace l4lb::daemon
