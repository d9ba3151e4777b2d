#include "daemon/daemon.hpp"

#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <string_view>
#include <utility>

#include "common/log.hpp"
#include "common/reaper.hpp"
#include "common/thread_cpu.hpp"
#include "config/diff.hpp"
#include "config/loader.hpp"
#include "daemon/allocator.hpp"
#include "daemon/fd_limit.hpp"
#include "daemon/metrics.hpp"
#include "daemon/policy.hpp"
#include "daemon/scheduling.hpp"
#include "health/quorum.hpp"
#include "health/spec.hpp"

namespace l4lb::daemon {
namespace {

double now_unix() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::optional<std::string> make_dir(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) return "cannot create " + path + ": " + ec.message();
  return std::nullopt;
}

}  // namespace

Daemon::Daemon(boost::asio::io_context& io, std::string config_path)
    : io_(io),
      config_path_(std::move(config_path)),
      signals_(io),
      systemd_(io),
      notify_(io),
      control_(io, control_handlers()),
      metrics_(io,
               [this](TextFanout::Reader reader) { render(Want::metrics, std::move(reader)); }) {}

Daemon::~Daemon() {
  for (auto* lane : {&full_lane_, &summary_lane_})
    for (auto& abort : lane->abort) abort();  // a render worker may wait on a stream
}

bool Daemon::start() {
  started_at_ = now_unix();
  const auto t0 = start_t0_ = std::chrono::steady_clock::now();
  const auto ms_since = [](std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
  };
  auto loaded = config::load_file(config_path_);
  log::info("start: config loaded in {:.0f} ms", ms_since(t0));
  for (const auto& d : loaded.diagnostics)
    (d.severity == config::Severity::error ? log::err("{}", d.to_string())
                                           : log::warning("{}", d.to_string()));
  if (!loaded.ok()) {
    log::err("config={} rejected with {} error(s); not starting", config_path_,
             loaded.error_count());
    return false;
  }
  // The one copy of the running config: immutable, shared with snapshots and workers.
  config_ = std::make_shared<const config::Config>(std::move(*loaded.config));
  const config::Config& cfg = *config_;
  const std::uint64_t descriptors = descriptors_needed(cfg);
  if (auto e = ensure_descriptor_limit(descriptors)) {
    log::err("not starting: {}", *e);
    return false;
  }
  reserve_descriptor_table(descriptors);
  if (auto e = make_dir(cfg.state_dir)) {
    log::err("{}", *e);
    return false;
  }
  if (auto e = make_dir(std::filesystem::path(cfg.control.socket).parent_path().string())) {
    log::err("{}", *e);
    return false;
  }
  if (auto e = drains_.load(cfg.state_dir)) log::warning("drains ignored: {}", *e);
  set_admin_group(cfg.control.admin_group);
  if (auto e = control_.listen(cfg.control.socket, cfg.control.group)) {
    log::err("{}", *e);
    return false;
  }
  if (cfg.metrics.listen) {
    if (auto e = metrics_.listen(*cfg.metrics.listen)) {
      log::err("{}", *e);
      return false;
    }
    metrics_listening_ = true;
  }

  vrrp_ = std::make_unique<vrrp::Engine>(
      io_,
      vrrp::Hooks{[this](const std::string& i, net::Family f, vrrp::State from, vrrp::State to) {
        on_vrrp_transition(i, f, from, to);
      }},
      cfg.state_dir, netlink_event_buffer_);
  vrrp_->on_thread([] {
    if (auto e = use_own_arena())
      log::info("VRRP thread allocator: {}", *e);
    else
      log::info("VRRP thread allocator: an arena of its own, pages kept");
  });
  health_ = std::make_unique<health::Monitor>(
      io_, [this](const health::BackendKey& k, health::Status s) { on_health_change(k, s); });
  sync_ = std::make_unique<ipvs::SyncController>(
      io_, [](std::string& e) { return ipvs::open_netlink_kernel(e); });

  generation_ = 1;
  // The SNAT rules before the services they translate: a new service's first connections
  // already leave with the balancer's address. (A reload writes them before it applies, see
  // start_reload.) Directly: the loop does not run yet.
  if (auto e = apply_nft_now(cfg)) log::err("nft: {}", *e);
  const auto t1 = std::chrono::steady_clock::now();
  apply(cfg);
  log::info("start: applied in {:.0f} ms (IPVS is planned and sent after this)", ms_since(t1));
  // The load's peak (the file's tree, the check list being built) is freed by now but left
  // holes in the heap; give those pages back once, while the loop does not run yet. Later it
  // would stall the loop (daemon/allocator.hpp).
  log::info("start: heap trimmed in {:.0f} ms", release_free_memory());
  wait_signals();
  loop_lag_.start();
  log_summaries();
  systemd_.start_watchdog();
  const std::string summary = config::summary(cfg);
  log::notice("l4lbd started node={} config={} {}", cfg.node_name, config_path_, summary);
  systemd_.ready(summary);
  return true;
}

void Daemon::apply_scheduling(int priority) {
  // Runs on the loop thread (start and reload both apply there); the VRRP thread sets its own.
  // The loop runs one step below the VRRP thread: under SCHED_RR a thread does not preempt a
  // running thread of its own priority but waits for its time slice (100 ms) to end, so a busy
  // loop on the only free CPU would otherwise delay an advert by up to that much.
  if (priority == realtime_priority_) return;
  const int loop = priority > 1 ? priority - 1 : 0;
  vrrp_->on_thread([priority] {
    // Not fatal: VRRP still runs, only with less protection from other processes' CPU use.
    if (auto e = set_thread_scheduling(priority))
      log::err("realtime_priority: {}; the VRRP thread keeps {}", *e, thread_scheduling());
    else
      log::notice("VRRP thread scheduling: {}", thread_scheduling());
  });
  if (auto e = set_thread_scheduling(loop)) {
    log::err("realtime_priority: {}; the event loop keeps {}", *e, thread_scheduling());
    return;
  }
  realtime_priority_ = priority;
  log::notice("event loop scheduling: {}", thread_scheduling());
}

namespace {

// The service indices and check changes of a reload, worked out on the reload worker from the
// running config and the next one.
ReloadPlan make_reload_plan(const config::Config& from, const config::Config& to,
                            const config::ConfigDiff& changes) {
  ReloadPlan plan;
  plan.checks = health::diff_checks(from.services, to.services);
  plan.service_index.reserve(to.services.size());
  for (std::size_t i = 0; i < to.services.size(); ++i)
    plan.service_index.emplace(to.services[i].name, i);
  std::set<std::size_t> touched;
  auto touch = [&](std::string_view name) {
    if (auto it = plan.service_index.find(std::string(name)); it != plan.service_index.end())
      touched.insert(it->second);
  };
  for (const auto& c : changes.services) {
    if (c.change == config::Change::removed)
      plan.removed_services.push_back(c.name);
    else
      touch(c.name);
    if (c.change == config::Change::added)
      if (auto it = plan.service_index.find(c.name); it != plan.service_index.end())
        plan.added_services.push_back(it->second);
  }
  // Backend items are named "service/backend"; service names never hold a '/'.
  for (const auto& c : changes.backends)
    touch(std::string_view(c.name).substr(0, c.name.find('/')));
  for (const auto& [key, spec] : plan.checks.added) touch(key.service);
  for (const auto& [key, spec] : plan.checks.changed) touch(key.service);
  plan.touched_services.assign(touched.begin(), touched.end());
  plan.counts_index = health::HealthyCounts::index_for(from, to);
  return plan;
}

}  // namespace

void Daemon::apply(const config::Config& next, ReloadPlan* plan) {
  // Order matters: VRRP first (instances and their tracked services), then health checks (new
  // backends start as unknown), then the kernel table computed from both, then quorum.
  apply_scheduling(next.realtime_priority);
  // Instances that start now start with what their tracked services already take off.
  update_tracked_weights(next.vrrp);
  vrrp_->apply(next.vrrp);
  sync_->configure(next.ipvs.sync_daemon, sync_instance_is_master(next));
  if (plan)
    queue_check_changes(std::move(plan->checks));  // in slices, after this handler
  else
    health_->apply(next.services);
  // The services' positions are this generation's from here on: the quorum decisions follow
  // them (removed services' are dropped), and so does the name index. Before the quorum
  // counts take the plan's index (update_healthy_counts moves it).
  if (plan) {
    // Each kept service keeps its decision; added ones have none yet.
    const auto& previous = plan->counts_index.previous;
    std::vector<std::int8_t> quorum(next.services.size(), -1);
    for (std::size_t i = 0; i < quorum.size() && i < previous.size(); ++i)
      if (previous[i] < quorum_.size()) quorum[i] = quorum_[previous[i]];
    quorum_ = std::move(quorum);
    reaper::dispose(std::exchange(service_index_, std::move(plan->service_index)));
  } else {
    quorum_.assign(next.services.size(), -1);
    service_index_.clear();
    for (std::size_t i = 0; i < next.services.size(); ++i)
      service_index_.emplace(next.services[i].name, i);
  }
  update_healthy_counts(plan);
  if (!plan)  // a reload says so of the services it touches, in its slices
    for (const auto& s : next.services) note_shared_checks(s);
  if (!next.services.empty() && !ipvs_ && !ipvs_error_) {
    std::string error;
    auto kernel = ipvs::open_netlink_kernel(error, ipvs_rcvbuf_);
    if (kernel) {
      ipvs_ = std::make_unique<ipvs::Programmer>(std::move(kernel), next.state_dir);
      // A stale model (a failed operation) is re-read off the loop by ipvs_repair_, which
      // then asks for a plan again: never a whole-table dump on the loop.
      ipvs::PlanWorker::Options options;
      options.resync_on_loop = false;
      ipvs_plans_ = std::make_unique<ipvs::PlanWorker>(
          io_, *ipvs_,
          [](const config::Service& s, std::uint16_t port, const config::Backend& b) {
            return health::check_key(s, port, b).port;
          },
          [this](const ipvs::ApplyResult& r) { ipvs_applied(r); }, options);
      // IPVS opened on a reload: the checks may already have results that the planner
      // has not seen (at start there are none yet).
      if (health_->stats().probes_finished > 0) {
        health_->for_each([this](const health::BackendKey& key, const health::BackendHealth& h) {
          if (h.status != health::Status::unknown)
            ipvs_plans_->note(ipvs::HealthChange{
                key.service, key.port, key.address,
                h.status == health::Status::up ? ipvs::Health::up : ipvs::Health::down});
        });
      }
      // A second socket for status dumps, read by a thread of their own.
      if (auto reader_kernel = ipvs::open_netlink_kernel(error))
        table_reader_ = std::make_unique<ipvs::TableReader>(io_, std::move(reader_kernel));
      else
        log::warning("ipvs: no second netlink socket for status ({}); status reads on the loop",
                     error);
      ipvs_repair_ = std::make_unique<IpvsRepair>(
          io_, *ipvs_, table_reader_.get(), [this] { reconcile_ipvs(); }, ipvs_plans_.get());
      // The first dump failed: the plans wait for a checked re-read.
      if (!ipvs_->synced()) ipvs_repair_->check(true);
    } else {
      ipvs_error_ = error;
      log::err("ipvs unavailable: {}; services are not programmed (VRRP continues)", error);
    }
  }
  if (ipvs_plans_) {
    // The planner reads this generation's services from the running config, shared and
    // immutable (`next` is *config_): no copy of its own.
    ipvs_services_ = ipvs::Services(config_, &config_->services);
    ipvs_plans_->note(ipvs::ConfigChange{ipvs_services_});
  }
  apply_ipvs_tuning(next);
  if (ipvs_repair_) ipvs_repair_->set_interval(next.ipvs.reconcile_interval);
  reconcile_ipvs();
  tracked_.clear();
  for (const auto& i : next.vrrp)
    for (const auto& t : i.track_services) tracked_.insert(t.service);
  if (plan) {
    // Unchanged services have the same checks, statuses and drains: same quorum as before.
    // The counts' carry-over and the touched services' quorum follow in slices
    // (reload_slices.cpp); the weights are pushed again when they end.
    start_reload_slices(std::move(plan->touched_services));
  } else {
    update_quorum();
  }
  // New instances, changed track lists, removed services: the weights once for all.
  update_tracked_weights(next.vrrp);
}

void Daemon::note_shared_checks(const config::Service& s) {
  if (s.health->type != config::HealthType::none && health::shares_check_by_size(s))
    log::notice(
        "health service={} ports={}: one check per backend for all ports (more than {} "
        "ports); set health.per_port: true to check each port",
        s.name, s.ports.size(), health::kMaxPerPortChecks);
}

namespace {

// Runs on the reload worker: everything that does not touch running state.
Loaded load_and_diff(const std::string& path, const std::shared_ptr<const config::Config>& old) {
  Loaded out;
  out.result = {{"ok", false},
                {"errors", nlohmann::json::array()},
                {"warnings", nlohmann::json::array()},
                {"changes", nlohmann::json::array()}};
  auto loaded = config::load_file(path);
  for (const auto& d : loaded.diagnostics) {
    const bool error = d.severity == config::Severity::error;
    out.result[error ? "errors" : "warnings"].push_back(d.to_string());
  }
  if (loaded.ok() && (loaded.config->state_dir != old->state_dir ||
                      loaded.config->control.socket != old->control.socket ||
                      loaded.config->metrics.listen != old->metrics.listen)) {
    // These are bound at start; changing them on the fly would orphan the ownership record or
    // the socket operators use. Refuse rather than half-apply.
    out.result["errors"].push_back(path +
                                   ": error: state_dir, control.socket and metrics.listen take "
                                   "effect only on restart (systemctl restart l4lbd)");
    loaded.config.reset();
  }
  if (!loaded.config) return out;
  // Here rather than on the loop: growing the descriptor table can wait for an RCU grace period.
  out.descriptors = descriptors_needed(*loaded.config);
  reserve_descriptor_table(out.descriptors);
  auto changes = config::diff(*old, *loaded.config);
  for (const auto& line : changes.describe()) out.result["changes"].push_back(line);
  out.changed = !changes.empty();
  if (out.changed)
    out.plan = std::make_shared<ReloadPlan>(make_reload_plan(*old, *loaded.config, changes));
  out.config = std::make_shared<const config::Config>(std::move(*loaded.config));
  out.result["ok"] = true;
  out.changes = out.result["changes"];  // status's copy, made here rather than on the loop
  // The reply to `l4lbctl reload`, as control_server.cpp's line_of writes it.
  out.reply_line = std::make_shared<const std::string>(
      out.result.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
  return out;
}

// A reload adding thousands of services describes thousands of changes: the reply lists them
// all, the journal the first ones and a count.
void log_lines(const nlohmann::json& lines, const char* prefix, log::Level level) {
  constexpr std::size_t kMaxLines = 50;
  if (!log::enabled(level)) return;
  std::size_t n = 0;
  for (const auto& l : lines) {
    if (n++ == kMaxLines) break;
    log::write(level, prefix + l.get<std::string>());
  }
  if (lines.size() > kMaxLines)
    log::write(level, fmt::format("{}... and {} more (l4lbctl reload lists them all)", prefix,
                                  lines.size() - kMaxLines));
}

}  // namespace

// A rejected reload changes nothing: the errors are logged, returned and kept in status.
void Daemon::reject_reload(nlohmann::json& result) {
  result["ok"] = false;
  log_lines(result["errors"], "reload ", log::Level::err);
  ++reloads_failed_;
  result["error"] = "invalid config";
  set_last_reload({{"ok", false}, {"time", now_unix()}, {"errors", result["errors"]}});
  log::err("reload rejected config={} errors={}: running configuration unchanged", config_path_,
           result["errors"].size());
  systemd_.ready("reload rejected; running previous configuration");
}

void Daemon::commit_reload(Loaded& loaded) {
  nlohmann::json& result = loaded.result;
  log_lines(result["changes"], "reload change: ", log::Level::notice);
  // IPVS that could not be opened before (module not loaded yet) is retried on every reload.
  const bool retry_ipvs = !ipvs_ && ipvs_error_.has_value();
  if (retry_ipvs) ipvs_error_.reset();
  const auto apply_start = Clock::now();
  const auto apply_cpu = thread_cpu_time();
  if (loaded.changed) {
    // The last reload's slices count positions of the running config: they end before it is
    // replaced (in practice long ago: this reload's parse took longer than they do).
    finish_reload_slices();
    std::shared_ptr<const config::Config> old = std::move(config_);
    config_ = loaded.config;
    ++generation_;
    apply(*config_, loaded.plan.get());
    // The old configuration (thousands of services' strings and vectors) is freed off the
    // loop once the reload's follow-up is done (release_reload_memory); apply() has let go of
    // its other references (the quorum counts, the planner's services), and a snapshot that
    // still holds it frees it on its own thread.
    retire_config(std::move(old));
  } else if (retry_ipvs) {
    apply(*config_);
  }
  // What the reload cost the loop (the rest ran on the reload and nft workers).
  log::info("reload apply took {:.1f} ms on the loop ({:.1f} ms of CPU)",
            std::chrono::duration<double, std::milli>(Clock::now() - apply_start).count(),
            std::chrono::duration<double, std::milli>(thread_cpu_time() - apply_cpu).count());
  set_admin_group(config_->control.admin_group);
  ++reloads_ok_;
  // The reply keeps its list of changes; status gets the copy the worker made.
  set_last_reload({{"ok", true}, {"time", now_unix()}, {"changes", std::move(loaded.changes)}});
  log::notice("reload applied config={} generation={} changes={}", config_path_, generation_,
              result["changes"].size());
  systemd_.ready(config::summary(*config_));
}

void Daemon::retire_config(std::shared_ptr<const config::Config> old) {
  // A reload committed while the previous one's check changes still run: that one's config
  // goes now, this one's when the follow-up of both is done.
  if (retired_config_) reaper::dispose(std::move(retired_config_));
  retired_config_ = std::move(old);
  release_after_reload_ = true;
}

void Daemon::release_reload_memory() {
  if (!release_after_reload_ || reload_slices_.active || !pending_checks_.empty()) return;
  release_after_reload_ = false;
  // The replaced config goes now, on the reaper; the trim waits until reloads have settled
  // (kTrimAfterQuiet says why). Both on the reaper, after the reload's leftovers handed to it
  // before (the plan's check changes, the previous quorum counts, the result): in its order,
  // so they are free when the arenas are trimmed (daemon/allocator.hpp says why not here).
  reaper::dispose(std::move(retired_config_));
  arm_trim();
}

void Daemon::arm_trim() {
  if (stopping_) return;  // the timer would keep the loop running after shutdown
  trim_pending_ = true;
  trim_timer_.expires_after(kTrimAfterQuiet);
  trim_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;  // a reload came first (it arms the wait again when done), or shutdown
    trim_pending_ = false;
    reaper::defer([] {
      const double ms = release_free_memory();
      log::info(
          "reload: free memory given back in {:.1f} ms (off the loop, {} s after the last "
          "reload)",
          ms, kTrimAfterQuiet.count());
    });
  });
}

void Daemon::set_last_reload(nlohmann::json record) {
  // The record it replaces (a reload's thousands of change lines) is freed on the reaper, and
  // status snapshots share it rather than copy it.
  last_reload_ = reaper::make_reaped<nlohmann::json>(std::move(record));
}

void Daemon::reload(ReloadDone done) {
  reload_waiting_.push_back(std::move(done));
  start_reload();
}

void Daemon::start_reload() {
  if (reload_running_ || reload_waiting_.empty() || stopping_) return;
  reload_running_ = true;
  trim_timer_.cancel();  // not settled yet: the trim waits for this reload's follow-up
  auto waiters = std::make_shared<std::vector<ReloadDone>>(std::move(reload_waiting_));
  reload_waiting_.clear();
  systemd_.reloading("reloading " + config_path_);
  // The worker reads the file and diffs it against the running config; reloads run one at a
  // time, so that config is still the running one when the result comes back.
  reload_worker_.post([this, path = config_path_, old = config_,
                       waiters]() -> Worker::Continuation {
    // Freed on the reaper wherever its last holder lets go: a reload of 5,000 services holds
    // 5,000 change lines twice and the plan's leftovers.
    auto loaded = reaper::make_reaped_mutable<Loaded>(load_and_diff(path, old));
    return [this, loaded, waiters] {
      log_lines(loaded->result["warnings"], "reload ", log::Level::warning);
      // Every path ends here: the answer to every waiter, and the next reload if one waits.
      auto finish = [this, loaded, waiters] {
        for (auto& done : *waiters)
          if (done) done(loaded->result, loaded->reply_line);
        reload_running_ = false;
        // The start cancelled a pending trim's wait. A committed reload with a follow-up
        // arms it when that is done (release_reload_memory); any other reload (rejected, or
        // nothing to follow up) arms it again here, or the earlier reload's memory would wait
        // for the next reload that commits.
        if (trim_pending_ && !release_after_reload_) arm_trim();
        start_reload();  // requests that came in meanwhile: one more reload for all of them
      };
      if (!loaded->result["ok"].get<bool>()) {
        loaded->reply_line.reset();
        reject_reload(loaded->result);
        return finish();
      }
      if (auto e = ensure_descriptor_limit(loaded->descriptors)) {
        // The new config needs more descriptors than the hard limit allows: refused whole.
        loaded->result["errors"].push_back(config_path_ + ": error: " + *e);
        loaded->reply_line.reset();
        reject_reload(loaded->result);
        return finish();
      }
      // The nftables table first (on the nft worker): a new service's first connections
      // already leave with the balancer's address.
      apply_nft(loaded->config, nft::TableManager::Why::config,
                [this, loaded, finish](std::optional<std::string> e) {
                  if (e) {
                    // The kernel refused the new table: one transaction, so the old one is
                    // still in place; refuse the whole reload so that rules and services stay
                    // consistent.
                    loaded->result["errors"].push_back(config_path_ + ": error: nftables: " + *e);
                    loaded->reply_line.reset();
                    reject_reload(loaded->result);
                  } else {
                    commit_reload(*loaded);
                  }
                  finish();
                });
    };
  });
}

void Daemon::update_healthy_counts(ReloadPlan* plan) {
  // Shared, not copied: the running config is immutable.
  auto status_of = [this](const health::BackendKey& k) { return health_->status(k); };
  // Without drains (the usual case) nothing to ask for each backend.
  health::HealthyCounts::DrainedIn drained;
  if (!drains_.empty())
    drained = [this](const config::Service& s, const config::Backend& b) {
      return drains_.is_drained(s.name, b.address);
    };
  if (plan) {
    // A reload: the counts switch to the next config's positions now; each service's entry is
    // carried over (or, if the reload touched it, counted afresh) in the reload's slices or
    // when it is first used (reload_slices.cpp). What the previous counts held (10,000s of
    // blocks) is freed off the loop.
    reaper::dispose(healthy_counts_.begin_carry_over(config_, std::move(plan->counts_index),
                                                     plan->touched_services, plan->added_services,
                                                     status_of, drained));
  } else
    healthy_counts_.reset(config_, status_of, drained);
}

void Daemon::reconcile_ipvs() {
  if (!ipvs_plans_) return;
  // The planner runs on its own thread: it gets its own copy of the drains (a small set).
  // While a plan is in flight this only replaces the waiting request: one plan at a time
  // however many checks change meanwhile.
  ipvs_plans_->request(ipvs_services_,
                       [drains = drains_](const std::string& s, const net::Address& a) {
                         return drains.is_drained(s, a);
                       });
}

void Daemon::ipvs_applied(const ipvs::ApplyResult& result) {
  if (!std::exchange(start_programmed_, true))
    log::info(
        "start: first IPVS plan done {:.0f} ms after start ({} operations; on the worker: plan "
        "{:.0f} ms, record {:.0f} ms; netlink {:.0f} ms)",
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_t0_)
            .count(),
        result.issued, result.plan_seconds * 1000, result.record_seconds * 1000,
        result.kernel_seconds * 1000);
  if (ipvs_repair_) ipvs_repair_->after_apply(result);
  ipvs_operations_ += result.issued;
  ipvs_operation_errors_ += result.failed.size();
  for (const auto& f : result.failed) log::err("ipvs operation failed: {}", f);
  for (const auto& s : result.skipped) log::err("ipvs operation skipped: {}", s);
  if (!result.error.empty()) log::err("ipvs: {}", result.error);
  if (result.issued > 0)
    log::info("ipvs applied={}/{} kernel_ms={:.1f}", result.applied, result.issued,
              result.kernel_seconds * 1000);
  ipvs_conflicts_ = result.conflicts;
  for (const auto& c : result.conflicts) log::warning("ipvs conflict: {}", c);
}

void Daemon::update_quorum() {
  for (std::size_t i = 0; i < config_->services.size(); ++i) update_quorum_of(i);
}

void Daemon::update_quorum_of(std::size_t service) {
  if (service >= config_->services.size() || service >= quorum_.size()) return;
  const config::Service& s = config_->services[service];
  const int healthy = healthy_counts_.healthy_at(service);  // same positions as config_
  std::int8_t& decision = quorum_[service];
  const auto step = policy::quorum_step(
      decision < 0 ? std::nullopt : std::optional<bool>(decision == 1), s, healthy);
  if (!step.changed) return;
  decision = step.below ? 1 : 0;
  if (step.announce && quorum_log_.allow(Clock::now(), step.below ? 0 : 1))
    log::notice("service={} quorum={} healthy={} {}", s.name, s.quorum, healthy,
                step.below ? "BELOW QUORUM" : "quorum restored");
  if (tracked_.count(s.name)) update_tracked_weights(config_->vrrp);
}

bool Daemon::below_quorum(std::string_view service) const {
  auto it = service_index_.find(std::string(service));
  return it != service_index_.end() && it->second < quorum_.size() && quorum_[it->second] == 1;
}

void Daemon::update_tracked_weights(const std::vector<config::VrrpInstance>& instances) {
  for (const auto& [instance, weight] : policy::tracked_service_weights(
           instances, [this](std::string_view s) { return below_quorum(s); }))
    vrrp_->set_tracked_service_weight(instance, weight);
}

void Daemon::on_health_change(const health::BackendKey& key, health::Status status) {
  // health::Monitor logs the transition (rate-limited under flaps).
  if (ipvs_plans_)  // from now on the check decides (an adopted backend stops being one)
    ipvs_plans_->note(ipvs::HealthChange{key.service, key.port, key.address,
                                         status == health::Status::up     ? ipvs::Health::up
                                         : status == health::Status::down ? ipvs::Health::down
                                                                          : ipvs::Health::unknown});
  healthy_counts_.on_change(key, status);
  reconcile_ipvs();
  // Only this backend's service can have crossed its quorum: checking every service on every
  // transition cost O(services × backends) per flap.
  if (auto it = service_index_.find(key.service); it != service_index_.end())
    update_quorum_of(it->second);
}

void Daemon::on_vrrp_transition(const std::string& instance, net::Family family, vrrp::State from,
                                vrrp::State to) {
  // The VRRP runtime logs the transition itself; here it drives the sync daemons and notify
  // scripts.
  vrrp_states_[{instance, family}] = to;
  if (config_->ipvs.sync_daemon && config_->ipvs.sync_daemon->instance == instance)
    sync_->set_master(sync_instance_is_master(*config_));
  for (const auto& i : config_->vrrp) {
    if (i.name != instance || !i.notify) continue;
    // keepalived's argument convention, so existing notify scripts keep working.
    notify_.run(instance,
                {*i.notify, "INSTANCE", instance, std::string(vrrp::to_string(to)),
                 std::to_string(i.priority)},
                {"L4LB_INSTANCE=" + instance, "L4LB_STATE=" + std::string(vrrp::to_string(to)),
                 "L4LB_FROM_STATE=" + std::string(vrrp::to_string(from)),
                 "L4LB_FAMILY=" + std::string(net::family_name(family))},
                i.notify_timeout);
  }
}

control::Handlers Daemon::control_handlers() {
  // The requests arrive parsed, validated and authorised (control_dispatch.cpp). Status is
  // rendered off the loop and streamed as the serialised line it is rendered to.
  return control::Handlers{
      [this](control::StatusView view, control::Reply reply) {
        render(view == control::StatusView::summary ? Want::status_summary : Want::status,
               reply.stream());
      },
      [this](control::Reply reply) {
        reload([reply = std::move(reply)](const nlohmann::json& result,
                                          const std::shared_ptr<const std::string>& line) {
          if (!line) return reply(result);
          // Rendered on the reload worker: the loop only hands the line over.
          auto reader = reply.stream();
          if (reader(TextFanout::Event::chunk, line)) reader(TextFanout::Event::end, nullptr);
        });
      },
      [this](const net::Address& backend, const std::optional<std::string>& service, bool add) {
        return drain(backend, service, add);
      }};
}

void Daemon::set_admin_group(const std::optional<std::string>& group) {
  control::AccessPolicy policy;
  if (group) {
    policy.admin_group = *group;
    if (struct group* g = ::getgrnam(group->c_str()))
      policy.admin_gid = g->gr_gid;
    else
      log::warning("control.admin_group {} does not exist: only root may reload, drain, undrain",
                   *group);
  }
  control_.set_policy(std::move(policy));
}

nlohmann::json Daemon::drain(const net::Address& backend,
                             const std::optional<std::string>& only_service, bool add) {
  const std::string text = backend.to_string();
  const std::string service = only_service.value_or("");
  bool known = false;
  for (const auto& s : config_->services) {
    if (!service.empty() && s.name != service) continue;
    for (const auto& b : s.backends) known |= b.address == backend;
  }
  if (!service.empty()) {
    bool service_known = false;
    for (const auto& s : config_->services) service_known |= s.name == service;
    if (!service_known)
      return {{"ok", false},
              {"error", "no service named '" + control::printable(service, 255) + "'"}};
  }
  if (add && !known)
    return {{"ok", false},
            {"error", "backend " + text + " is not in " +
                          (service.empty() ? std::string("any service") : "service " + service)}};
  const bool changed = add ? drains_.add(backend, service) : drains_.remove(backend, service);
  if (!changed)
    return {{"ok", false},
            {"error", "backend " + text + (add ? " is already drained" : " is not drained") +
                          (service.empty() ? std::string() : " in service " + service)}};
  if (auto e = drains_.save(config_->state_dir)) log::warning("drains not saved: {}", *e);
  log::notice("{} backend={} service={}", add ? "drain" : "undrain", text,
              service.empty() ? "*" : service);
  for (const auto& s : config_->services)
    if (service.empty() || s.name == service)
      healthy_counts_.drains_changed(s.name,
                                     [this](const config::Service& sv, const config::Backend& b) {
                                       return drains_.is_drained(sv.name, b.address);
                                     });
  if (ipvs_plans_) ipvs_plans_->note(ipvs::DrainChange{});  // the next plan is a whole one
  reconcile_ipvs();
  update_quorum();
  return {{"ok", true},
          {"message", std::string(add ? "drained " : "undrained ") + text +
                          (service.empty() ? " in every service" : " in service " + service)}};
}

void Daemon::wait_signals() {
  signals_.add(SIGHUP);
  signals_.add(SIGTERM);
  signals_.add(SIGINT);
  signals_.async_wait([this](const boost::system::error_code& ec, int signo) {
    if (ec) return;
    if (signo == SIGHUP) {
      log::notice("SIGHUP: reloading config={}", config_path_);
      reload(nullptr);  // the result is logged; SIGHUPs during a reload coalesce
      wait_signals();
    } else {
      log::notice("signal {}: shutting down", signo == SIGTERM ? "SIGTERM" : "SIGINT");
      shutdown();
    }
  });
}

void Daemon::shutdown() {
  if (stopping_) return;
  stopping_ = true;
  systemd_.stopping("stopping: handing VIPs over");
  loop_lag_.stop();
  summary_timer_.cancel();
  trim_timer_.cancel();
  control_.close();
  metrics_.close();
  health_->shutdown();
  sync_->stop();
  if (ipvs_repair_) ipvs_repair_->stop();
  // IPVS services are left in place (a restart adopts them) unless asked otherwise.
  if (ipvs_ && config_->remove_services_on_exit) {
    if (ipvs_plans_) ipvs_plans_->finish();  // the plan in flight holds the model
    ipvs_->apply(ipvs::Table{});
    log::notice("ipvs services removed on exit (remove_services_on_exit)");
    remove_nft_table();
  }
  nft_timer_.cancel();
  vrrp_->shutdown([this] {
    // The masters' stop-time notify scripts run to the end (each within its timeout).
    notify_.when_idle([this] {
      log::notice("l4lbd stopped");
      signals_.cancel();
      io_.stop();
    });
  });
}

}  // namespace l4lb::daemon
