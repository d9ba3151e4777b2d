// Runs every configured health check on the daemon's io_context and keeps the per-backend
// state that the daemon turns into IPVS changes (on_failure remove/drain, wait_first_check)
// and VRRP priority changes (quorum). It does not talk to IPVS or VRRP itself.
#pragma once

#include <atomic>
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

  // A check's record as of now, shared and immutable: a result never changes a record a
  // snapshot holds, it replaces it (copy on write), so taking a snapshot copies pointers, not
  // records, and a worker thread may read it while the loop runs on.
  using Shared = std::shared_ptr<const BackendHealth>;
  // An entry names its check by a pointer to the check's own key (24 B an entry; a copy of the
  // key made each entry 72 B, 6.5 MB for a snapshot of 80,000 checks). The key stays valid while
  // the check runs, and after it is removed for as long as a Pin taken before is alive.
  using Entry = std::pair<const BackendKey*, Shared>;
  using Snapshot = std::vector<Entry>;  // ordered by key
  // While a pin is alive, the checks removed after it was taken keep their nodes (their keys);
  // once no pin older than a node's removal is alive, the node is freed, in slices: at the next
  // change, pin(), batch of due checks, or release_unpinned(). A pin may be released on any
  // thread (a snapshot ends on the render worker).
  using Pin = std::shared_ptr<const void>;
  Pin pin();
  // Frees the parked nodes no pin can hold, for up to `budget`; true when none is left.
  bool release_unpinned(std::chrono::microseconds budget = kReleaseSlice);
  static constexpr std::chrono::microseconds kReleaseSlice{500};
  // Valid until the checks next change, unless pinned (see Entry).
  Snapshot snapshot() const;
  // One bounded slice of snapshot(): appends the checks after `cursor` (from the first when
  // empty) in key order until `budget` has passed, and moves `cursor` on. Returns true when
  // the last check was copied. Copying the records of 80,000 checks at once held the loop for
  // 60-200 ms; with shared records a slice copies a few thousand pointers, and VRRP and the
  // checks run between slices (checks added or removed meanwhile are simply seen or not, by
  // key order).
  bool snapshot_slice(std::optional<BackendKey>& cursor, Snapshot& out,
                      std::chrono::microseconds budget) const;
  // Appends the checks of one service (in key order): for a snapshot of a few services.
  void snapshot_service(const std::string& service, Snapshot& out) const;
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
  // Removed checks whose keys a pinned snapshot may still read (see Pin); before the pool's end.
  // A pin can hold only checks removed after it was taken: each pin has a number (pins_made_ at
  // its making), each parked node the number of pins made before its removal, and a node goes
  // once every pin that could hold it (number <= the node's) is released. Renderings follow
  // one another without a gap, so "no pin alive" may never come.
  struct PinState {
    std::uint64_t number;
    std::atomic<bool> released{false};
  };
  // In order of removal, so of pins_before; freed from parked_head_ on (a queue in vectors:
  // the node type cannot be a member of a struct here, where Check is incomplete).
  std::vector<CheckMap::node_type> parked_;
  std::vector<std::uint64_t> parked_pins_before_;
  std::size_t parked_head_ = 0;
  std::vector<std::shared_ptr<PinState>> pins_;  // not yet seen released, oldest first
  std::uint64_t pins_made_ = 0;
  std::deque<Slot> slots_;  // by slot id; see runs_ for why not a vector
  std::vector<std::uint32_t> free_slots_;
  Stats stats_;
  TimePoint last_local_error_log_{};
  log::RateLimiter log_limit_{"health", "transitions", {"up", "down", "unknown"}, 20};
};

}  // namespace l4lb::health
