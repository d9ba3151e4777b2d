// Runs every configured health check on the daemon's io_context and keeps the per-backend
// state that the daemon turns into IPVS changes (on_failure remove/drain, wait_first_check)
// and VRRP priority changes (quorum). It does not talk to IPVS or VRRP itself.
#pragma once

#include <boost/asio/io_context.hpp>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "common/block_pool.hpp"
#include "common/rate_limit.hpp"
#include "config/config.hpp"
#include "health/pacer.hpp"
#include "health/rise_fall.hpp"
#include "health/spec.hpp"
#include "health/status.hpp"

namespace l4lb::health {

class Monitor {
 public:
  // Called on every status change of a checked backend, including the first decision
  // (unknown -> up, unknown -> down: with fast start, see rise_fall.hpp, that is the first
  // check's result). Not called for checks that apply() removes, nor by shutdown(). Runs
  // on the io_context thread; it may call any Monitor method, apply() included.
  using OnChange = std::function<void(const BackendKey&, Status)>;

  Monitor(boost::asio::io_context& io, OnChange on_change);
  ~Monitor();
  Monitor(const Monitor&) = delete;
  Monitor& operator=(const Monitor&) = delete;

  // Makes the running checks match `services`: one check per make_specs() key (service x
  // port x backend, or service x backend for services that share checks) whose service has a
  // health type other than `none`. A check whose resolved parameters
  // (CheckSpec) are unchanged keeps its state, counters and schedule. A changed one keeps
  // status and counters but restarts: its running probe is dropped and its first run under
  // the new parameters is spread over the new interval like a new check's. New checks start
  // unknown at now + start_offset(key, interval).
  void apply(const std::vector<config::Service>& services);
  // The same, from a precomputed difference (diff_specs of the running configuration's
  // make_specs and the next one's): costs the loop only the checks that change. A removed key
  // that is not running is ignored; an added key that is already running is treated as
  // changed, and a changed one that is not running as added, so that a plan made from a stale
  // view still ends with what it asked for.
  void apply_changes(CheckChanges changes);
  // One bounded slice of apply_changes: carries out the changes from index `done` on (removed,
  // then added, then changed) until `budget` has passed, and moves `done` on. Returns true
  // when all are done. Creating or stopping a check costs a few microseconds: a reload that
  // adds 1,000 services of 8 backends held the loop for ~20 ms in one piece.
  bool apply_changes_slice(CheckChanges& changes, std::size_t& done,
                           std::chrono::microseconds budget);

  std::optional<BackendHealth> get(const BackendKey& key) const;
  Status status(const BackendKey& key) const;  // unknown when not checked

  // Copies of the checks' records, for status and metrics. A rendering reads them a few
  // hundred at a time (daemon/check_source.hpp) while it writes, so only what is being written
  // is copied: records shared with a whole-table snapshot were copied on write by the checks
  // that ran while a rendering was paced by its readers (seconds at 10,000 x 8), up to 10 MB of
  // copies scattered through the heap.
  using Copy = std::pair<BackendKey, BackendHealth>;
  using Copies = std::vector<Copy>;
  // Appends up to `max` checks after `cursor` (from the first when empty) in key order, and
  // moves `cursor` to the last one appended. Returns true when no check is left after it.
  bool copy_slice(std::optional<BackendKey>& cursor, std::size_t max, Copies& out) const;
  // Appends the checks of one service, in key order.
  void copy_service(const std::string& service, Copies& out) const;
  // Calls f(key, record) for every check in key order; f may not change the checks.
  void for_each(const std::function<void(const BackendKey&, const BackendHealth&)>& f) const;
  std::optional<CheckSpec> spec(const BackendKey& key) const;
  std::size_t size() const { return checks_.size(); }

  // How unknown backends get their first status; applies to results from now on.
  void set_start_mode(StartMode mode) { start_mode_ = mode; }

  // Stops every check and drops all state; apply() starts afresh afterwards.
  void shutdown();

  struct Stats {
    std::uint64_t probes_started = 0;
    std::uint64_t probes_finished = 0;
    std::size_t in_flight = 0;
    // Probes that failed for want of our own resources (descriptors, buffers, memory):
    // counted here, never held against the backend.
    std::uint64_t local_resource_errors = 0;
    HalfOpenStats half_open;        // zero until a half-open TCP check has run
    BlockPool::Stats check_memory;  // the checks' own memory (checks_ below)
  };
  Stats stats() const;

  // State changes are logged one line each up to 20 a second; the rest are counted, and this
  // returns the summary line of a second that suppressed some (call it about once a second).
  std::optional<std::string> log_summary(TimePoint now) { return log_limit_.summary(now); }
  std::uint64_t log_suppressed() const { return log_limit_.suppressed_total(); }

 private:
  struct Check;
  // The next run of a check, in a binary min-heap by time (runs_), with one Asio timer for all
  // checks: 16 B a planned run. (A bucket per millisecond in a std::map was ~75 B a run at
  // 80,000 checks every 60 s: nearly every run had its own millisecond, so its own map node
  // and vector; 5.8 MB against 1.3 MB.) A run names its check by slot (slots_); rescheduling
  // or stopping a check bumps the slot's generation, which voids the entry instead of removing
  // it.
  struct Run {
    TimePoint at;
    std::uint32_t slot;
    std::uint32_t generation;
    bool operator>(const Run& o) const { return at > o.at; }  // for the min-heap
  };
  // Where a run finds its check: slots of removed checks are reused, their generation runs on,
  // so a stale run never matches the slot's next check.
  struct Slot {
    Check* check = nullptr;
    std::uint32_t generation = 0;
  };
  TimePoint earliest_run() const;
  void plan(TimePoint at, std::uint32_t slot, std::uint32_t generation);
  std::uint32_t take_slot(Check& check);
  using CheckMap = std::map<BackendKey, Check, std::less<BackendKey>,
                            PoolAllocator<std::pair<const BackendKey, Check>>>;
  void remove(CheckMap::iterator it);
  void start_due(TimePoint now);
  void transition(Check& check, Status to, const std::string& why);
  void note_local_error(const std::string& what);

  boost::asio::io_context& io_;
  OnChange on_change_;
  // A min-heap by `at` (std::push_heap with std::greater). A deque, like slots_: 40,000 checks
  // added by a reload grow it block by block, where a vector reserved or doubled in one slice
  // (a copy of the 80,000 entries there are, 1.3 MB in a fresh mapping: 0.7 ms of one loop
  // handler on this host).
  std::deque<Run> runs_;
  std::vector<Check*> due_;  // start_due()'s buffer
  // Runs due close together start together (the TCP SYNs of one batch in one system call),
  // at most Pacer::kMaxGap after their slot.
  detail::PacedTimer timer_;
  StartMode start_mode_ = StartMode::fast;
  // The checks, in the map's nodes (one allocation per check: at 80,000 checks every byte
  // counts ×80,000). A node does not move while it exists; a check's probe is cancelled (its
  // callback never runs) before its node goes. The nodes come from a pool of their own
  // (declared first: it outlives the map): the checks a reload adds fill chunks of their own,
  // which go back to the system when a later reload removes those checks (block_pool.hpp).
  BlockPool check_nodes_;
  CheckMap checks_;
  std::deque<Slot> slots_;  // by slot id; see runs_ for why not a vector
  std::vector<std::uint32_t> free_slots_;
  Stats stats_;
  TimePoint last_local_error_log_{};
  log::RateLimiter log_limit_{"health", "transitions", {"up", "down", "unknown"}, 20};
};

}  // namespace l4lb::health
