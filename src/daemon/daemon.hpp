// l4lbd's core: owns every component on one io_context and wires them together (VRRP runs
// on a thread of its own behind vrrp::Engine, whose answers arrive on the loop).
//   config ──► vrrp::Engine            (VIP ownership)
//         ──► health::Monitor ──► quorum ──► vrrp priority
//                             ──► ipvs::desired_table ──► ipvs::Programmer (netlink)
// Reload is a transaction: load + validate the whole file first; on any error nothing is touched.
#pragma once

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>

#include "common/loop_lag.hpp"
#include "common/pi_mutex.hpp"
#include "common/process_stats.hpp"
#include "common/rate_limit.hpp"
#include "common/worker.hpp"
#include "config/config.hpp"
#include "daemon/control_server.hpp"
#include "daemon/drains.hpp"
#include "daemon/ipvs_repair.hpp"
#include "daemon/metrics_server.hpp"
#include "daemon/notify_runner.hpp"
#include "daemon/snapshot.hpp"
#include "daemon/systemd.hpp"
#include "health/healthy_counts.hpp"
#include "health/monitor.hpp"
#include "ipvs/desired.hpp"
#include "ipvs/plan_worker.hpp"
#include "ipvs/programmer.hpp"
#include "ipvs/sync_controller.hpp"
#include "ipvs/table_reader.hpp"
#include "ipvs/tuning.hpp"
#include "nft/table_manager.hpp"
#include "vrrp/engine.hpp"
#include "vrrp/netlink.hpp"

namespace l4lb::daemon {

// What the reload worker works out for apply() so that the loop touches only what changed.
struct ReloadPlan {
  health::CheckChanges checks;  // from the running config's checks to the next one's
  std::vector<std::string> removed_services;
  // Indices into the next config's services whose quorum may have moved: added, changed,
  // with a changed backend or check.
  std::vector<std::size_t> touched_services;
  std::vector<std::size_t> added_services;  // the new ones among them (no check exists yet)
  std::unordered_map<std::string, std::size_t> service_index;  // of the next config
  // Each service's position in the running config (`previous`, also what the quorum
  // decisions follow) and the quorum counts' carry-over, built on the reload worker.
  health::HealthyCounts::Index counts_index;
};

// What the reload worker hands back to the loop. Shared pointers: a continuation is copyable.
struct Loaded {
  nlohmann::json result;                         // {ok, errors, warnings, changes}
  nlohmann::json changes;                        // a copy of result["changes"] for status
  std::shared_ptr<const config::Config> config;  // the new config, when valid
  std::shared_ptr<ReloadPlan> plan;              // what apply() changes (when changed)
  std::uint64_t descriptors = 0;                 // descriptors_needed of the new config
  // `result` as the reply line, rendered on the worker; dropped when the loop rejects the
  // reload after all (the result changes then).
  std::shared_ptr<const std::string> reply_line;
  bool changed = false;
};

class Daemon {
 public:
  Daemon(boost::asio::io_context& io, std::string config_path);
  ~Daemon();

  // Loads the config and starts everything. Returns false (after logging every error) if the
  // daemon cannot start; the caller then exits non-zero.
  bool start();
  // l4lbd --netlink-rcvbuf: the rtnetlink event socket's receive buffer; before start().
  void set_netlink_event_buffer(int bytes) { netlink_event_buffer_ = bytes; }
  // l4lbd --ipvs-rcvbuf (testing): the IPVS socket's receive buffer; before start().
  void set_ipvs_rcvbuf(int bytes) { ipvs_rcvbuf_ = bytes; }

  // The reload transaction: the file is loaded, validated and diffed on a worker thread, the
  // change applied on the loop. `done` gets {ok, errors[], warnings[], changes[]} on the loop.
  // A reload asked for while one runs is coalesced into one more reload after it.
  // `line`, when given, is the result as the control socket's reply line, rendered on the reload
  // worker (a reload of 5,000 services answers with 5,000 change lines: ~1.5 ms to serialise).
  using ReloadDone = std::function<void(const nlohmann::json& result,
                                        const std::shared_ptr<const std::string>& line)>;
  void reload(ReloadDone done);

  // The status document (docs/STATUS.md) as the control socket's reply line and/or the
  // /metrics text, rendered on a worker thread from a snapshot taken on the loop (after the
  // kernel's table is read off the loop) and streamed to `reader` in chunks on the loop
  // (daemon/text_stream.hpp). Requests made while one renders share the next.
  enum class Want { status, status_summary, metrics };
  void render(Want want, TextFanout::Reader reader);

 private:
  struct RenderLane;
  control::Handlers control_handlers();
  void set_admin_group(const std::optional<std::string>& group);
  void start_render(RenderLane& lane);
  // On a render worker: the daemon's footprint; a failure is logged once.
  std::optional<ProcessStats> process_stats();
  // Everything but the health checks, at once (small); the rendering reads the checks as it
  // writes them (check_source.hpp).
  StatusSnapshot snapshot(ipvs::Table kernel, std::optional<vrrp::Engine::Status> vrrp) const;
  // Check changes (check_changes.cpp): a reload's additions, removals and restarts of health
  // checks, queued in reload order and carried out in slices of at most kCheckSlice.
  static constexpr std::chrono::microseconds kCheckSlice{500};
  void queue_check_changes(health::CheckChanges changes);
  void apply_check_slice();
  std::deque<health::CheckChanges> pending_checks_;
  struct CheckSlices {
    std::size_t done = 0;  // of pending_checks_.front()
    std::size_t changes = 0;
    int slices = 0;
    std::chrono::microseconds longest{0}, longest_cpu{0};  // wall clock, the thread's CPU time
    TimePoint started;
  } check_slices_;
  // A reload's follow-up on the loop (reload_slices.cpp): the quorum counts' carry-over to the
  // next config's positions (HealthyCounts::carry_over_step) and then the quorum of the
  // services the reload touched, in slices of at most kCheckSlice. Status snapshots asked for
  // meanwhile wait for the end (after_reload_slices_); the next reload's commit finishes them
  // first.
  void start_reload_slices(std::vector<std::size_t> touched);
  void reload_slice();
  bool reload_slice_work(TimePoint deadline);  // true when everything is done
  void finish_reload_slices();                 // whatever is left, at once
  void end_reload_slices();
  struct ReloadSlices {
    bool active = false;
    std::vector<std::size_t> touched;  // positions in config_, quorum decided in this order
    std::size_t quorum_done = 0;
    int slices = 0;
    std::chrono::microseconds longest{0}, longest_cpu{0};  // wall clock, the thread's CPU time
    TimePoint started;
  } reload_slices_;
  std::vector<std::function<void()>> after_reload_slices_;
  // The config a reload replaced, kept until the reload's follow-up (its check changes and
  // slices) is done; then it is freed and the arenas trimmed, off the loop.
  void retire_config(std::shared_ptr<const config::Config> old);
  void release_reload_memory();  // when the follow-up is done; else nothing
  std::shared_ptr<const config::Config> retired_config_;
  bool release_after_reload_ = false;
  void note_shared_checks(const config::Service& s);  // the "one check per backend" notice
  void start_reload();
  void reject_reload(nlohmann::json& result);
  void set_last_reload(nlohmann::json record);
  void commit_reload(Loaded& loaded);
  void log_summaries();
  nlohmann::json drain(const net::Address& backend, const std::optional<std::string>& service,
                       bool add);
  // With a plan (reload): only its changes; without (start): everything from scratch.
  void apply(const config::Config& next, ReloadPlan* plan = nullptr);
  // realtime_priority (scheduling.hpp): the loop thread's policy, changed only when it differs.
  void apply_scheduling(int priority);  // the loop's and the VRRP thread's
  void reconcile_ipvs();
  void ipvs_applied(const ipvs::ApplyResult& result);
  // `ipvs:` timeouts and sysctls (ipvs_tuning.cpp): written when configured and different.
  void apply_ipvs_tuning(const config::Config& cfg);
  nlohmann::json ipvs_tuning_status() const;
  // `ipvs.sync_daemon` (ipvs_sync.cpp): the kernel's connection-sync daemons follow one VRRP
  // instance's state.
  bool sync_instance_is_master(const config::Config& cfg) const;
  nlohmann::json ipvs_sync_status() const;
  // l4lbd's nftables table (nft_table.cpp): SNAT and mark rules. Written directly at start
  // (apply_nft_now: nothing on success, else the error); once the loop runs, on the nft worker
  // (apply_nft: `done` gets the error, or nothing, on the loop).
  struct NftTable {
    PiMutex mutex;  // the loop (at start and exit) and the nft worker
    std::unique_ptr<nft::TableManager> manager;
  };
  bool open_nft(const nft::Ruleset& want, std::optional<std::string>& error);
  std::optional<std::string> apply_nft_now(
      const config::Config& next, nft::TableManager::Why why = nft::TableManager::Why::config);
  void apply_nft(std::shared_ptr<const config::Config> next, nft::TableManager::Why why,
                 std::function<void(std::optional<std::string>)> done);
  void schedule_nft_check();
  void remove_nft_table();  // at exit, with remove_services_on_exit
  nlohmann::json nft_status() const;
  void update_quorum();
  void on_health_change(const health::BackendKey& key, health::Status status);
  void on_vrrp_transition(const std::string& instance, net::Family family, vrrp::State from,
                          vrrp::State to);
  // After the checks are applied: every service counted afresh (start), or with a reload's
  // plan only the services it touched, carried over in the reload's slices
  // (HealthyCounts::begin_carry_over, reload_slices.cpp).
  void update_healthy_counts(ReloadPlan* plan);
  void update_quorum_of(std::size_t service);  // a position in config_->services
  bool below_quorum(std::string_view service) const;
  // Pushes policy::tracked_service_weights to the VRRP instances (after a quorum change or a
  // new set of instances).
  void update_tracked_weights(const std::vector<config::VrrpInstance>& instances);
  void wait_signals();
  void shutdown();

  boost::asio::io_context& io_;
  std::string config_path_;
  // The running config, the only copy: immutable, shared read-only with the workers (status
  // snapshots, reload diffs); a reload replaces the pointer.
  std::shared_ptr<const config::Config> config_;
  boost::asio::signal_set signals_;
  Systemd systemd_;
  NotifyRunner notify_;
  Drains drains_;
  std::unique_ptr<vrrp::Engine> vrrp_;  // VRRP on its own thread
  std::unique_ptr<health::Monitor> health_;
  std::unique_ptr<ipvs::Programmer> ipvs_;
  // Plans off the loop and sends in slices (declared after ipvs_: it goes first).
  std::unique_ptr<ipvs::PlanWorker> ipvs_plans_;
  ipvs::Services ipvs_services_;  // the config generation being programmed (immutable)
  std::unique_ptr<ipvs::TableReader> table_reader_;  // null: status reads on the loop
  std::unique_ptr<IpvsRepair> ipvs_repair_;          // drift checks and retries (after the reader)
  int ipvs_rcvbuf_ = 0;
  int realtime_priority_ = 0;              // the realtime_priority in effect (0: normal scheduling)
  std::optional<std::string> ipvs_error_;  // why IPVS could not be opened (reported once)
  std::uint64_t ipvs_operations_ = 0;
  std::uint64_t ipvs_operation_errors_ = 0;
  std::vector<std::string> ipvs_conflicts_;
  // Its own netlink socket for the namespace-wide IPVS settings (only when timeouts are set).
  std::unique_ptr<ipvs::Kernel> tuning_kernel_;
  std::string tuning_kernel_error_;
  std::unique_ptr<ipvs::SyncController> sync_;
  std::map<std::pair<std::string, net::Family>, vrrp::State> vrrp_states_;  // from transitions
  std::shared_ptr<NftTable> nft_;  // made at the first apply
  nft::TableStatus nft_status_;    // the loop's copy, as of the last apply
  boost::asio::steady_timer nft_timer_{io_};
  // Reloads' table writes posted to the nft worker whose continuation (and the commit that
  // follows it) has not run yet. Meanwhile config_ is not the table the kernel was last asked
  // for: the periodic check waits rather than "restore" the previous config's table.
  int nft_writes_in_flight_ = 0;
  // The last quorum decision (policy::quorum_step) of each service of config_, at the same
  // positions: -1 none yet, 0 quorum met, 1 below. Positions, not names: a reload carries
  // 10,000 decisions over by index (ReloadPlan::counts_index.previous) instead of hashing names,
  // and a health change finds its service's slot in O(1) (a sorted map of names was 7 % of the
  // loop's time in a reload profile).
  std::vector<std::int8_t> quorum_;
  std::set<std::string, std::less<>> tracked_;  // services some VRRP instance tracks
  std::unordered_map<std::string, std::size_t> service_index_;  // name -> config_->services
  // Quorum counts per service and port, updated on each health change and drain; copied into
  // status snapshots (O(services), no pass over the checks).
  health::HealthyCounts healthy_counts_;
  // At start every service is below quorum until its first checks: 10,000 lines at once.
  log::RateLimiter quorum_log_{"quorum", "changes", {"below", "restored"}, 20};
  ControlServer control_;
  MetricsServer metrics_;
  bool metrics_listening_ = false;

  double started_at_ = 0;
  // Start-up timing, for the log line of the first IPVS plan (where start-up time goes).
  std::chrono::steady_clock::time_point start_t0_;
  bool start_programmed_ = false;
  std::uint64_t generation_ = 0;
  std::uint64_t reloads_ok_ = 0;
  std::uint64_t reloads_failed_ = 0;
  std::shared_ptr<const nlohmann::json> last_reload_;  // null until the first reload
  bool stopping_ = false;
  int netlink_event_buffer_ = vrrp::Netlink::kDefaultEventBuffer;

  // The render lanes' (declared first: it outlives their workers); one lane at a time.
  PiMutex process_stats_mutex_;
  ProcessStatsReader process_stats_;
  bool process_stats_warned_ = false;
  // Off-loop work (docs/ARCHITECTURE.md): two render lanes, one thread loads reloads.
  struct RenderWaiter {
    Want want;
    TextFanout::Reader reader;
  };
  // A worker that renders status and metrics texts, one rendering at a time; requests that
  // come in meanwhile share the next one. Two lanes: the full document and /metrics stream
  // 100+ MB at their readers' pace, seconds long, so the summary (`l4lbctl status`) has a lane
  // of its own instead of waiting behind them (4.7-6.1 s median under the stress scenario).
  struct RenderLane {
    RenderLane(boost::asio::io_context& io, std::string name) : worker(io, std::move(name)) {}
    Worker worker;
    std::vector<RenderWaiter> waiting;  // for the next rendering
    bool running = false;
    // The running rendering's streams: aborted when the daemon ends, so that a worker waiting
    // for readers that will never write again stops at once.
    std::vector<std::function<void()>> abort;
    // The running rendering's fanouts (pressed when another request waits).
    std::shared_ptr<std::array<TextFanout, 3>> fans;
  };
  RenderLane full_lane_{io_, "l4lb-render"};      // the full status document and /metrics
  RenderLane summary_lane_{io_, "l4lb-summary"};  // the summary view
  Worker reload_worker_{io_, "l4lb-reload"};
  Worker nft_worker_{io_, "l4lb-nft"};
  std::uint64_t slow_readers_dropped_ = 0;  // readers dropped for falling too far behind
  std::vector<ReloadDone> reload_waiting_;  // for the next reload
  bool reload_running_ = false;
  LoopLagProbe loop_lag_{io_, std::chrono::milliseconds(10)};
  boost::asio::steady_timer summary_timer_{io_};
  // The arenas are trimmed once reloads have settled: kTrimAfterQuiet after the last reload's
  // follow-up, with no reload since (a reload cancels the wait). Why not after every reload:
  // the trim's cost is the system's, not ours to bound. On this project's 2-vCPU AMD test VM
  // one trim after a 5,000-service reload took 20-94 ms of CPU (madvise of each free page
  // run) and the loop's timer ran up to 157 ms late beside it, once per reload; without trims
  // during a reload every 5 s the loop was at most 52 ms late, for ~25 MiB more resident
  // memory until the reloads stop (docs/BENCHMARKS.md, stop 19).
  static constexpr std::chrono::seconds kTrimAfterQuiet{10};
  boost::asio::steady_timer trim_timer_{io_};
  bool trim_pending_ = false;  // a reload's memory waits for the trim (kept across a
                               // rejected or unchanged reload, which has no follow-up)
  void arm_trim();
};

}  // namespace l4lb::daemon
