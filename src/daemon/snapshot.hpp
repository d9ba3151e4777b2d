// Everything the status document and /metrics need, copied on the loop in one short step and
// then read by a worker thread only: nothing in it points at loop-owned state. The config is
// shared (immutable once applied), the rest is copied, but for the health checks: the worker
// reads those as it writes them, through messages to the loop (check_source.hpp); see
// docs/ARCHITECTURE.md.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/histogram.hpp"
#include "common/process_stats.hpp"
#include "config/config.hpp"
#include "daemon/allocator.hpp"
#include "daemon/check_source.hpp"
#include "daemon/control_request.hpp"
#include "daemon/drains.hpp"
#include "daemon/text_stream.hpp"
#include "health/healthy_counts.hpp"
#include "health/monitor.hpp"
#include "health/status.hpp"
#include "ipvs/table.hpp"
#include "vrrp/runtime.hpp"

namespace l4lb::daemon {

struct ThreadLag {
  std::string thread;  // "loop", or a worker's name
  std::string kind;    // "timer_lateness" (loop) or "queue_delay" (worker)
  DelayHistogram histogram;
};

struct StatusSnapshot {
  std::shared_ptr<const config::Config> config;
  std::string config_file;
  pid_t pid = 0;
  double started_at = 0;
  std::uint64_t generation = 0, reloads_ok = 0, reloads_failed = 0;
  // Null until the first reload. Shared: a reload of 5,000 services lists 5,000 changes, and
  // every status snapshot would copy them on the loop.
  std::shared_ptr<const nlohmann::json> last_reload;

  std::vector<vrrp::InstanceStatus> vrrp;
  bool health_running = false;
  // Where the rendering reads the checks, run by run (check_source.hpp); null: no checks.
  std::shared_ptr<CheckSource> checks;
  // Quorum counts per service and port (kept on the loop; copied whole, O(services)). Used
  // when their config is `config`; otherwise status counts from the checks.
  health::HealthyCounts::All healthy_counts;
  health::HalfOpenStats half_open;
  std::uint64_t health_local_resource_errors = 0;
  Drains drains;
  ipvs::Table kernel;  // the kernel's table (dump) or the programmer's model

  bool ipvs_available = false;
  std::optional<std::string> ipvs_error;
  std::uint64_t ipvs_operations = 0, ipvs_operation_errors = 0;
  std::vector<std::string> ipvs_conflicts;
  nlohmann::json nft;  // l4lbd's nftables table (nft_table.cpp), as of the last apply or check
  nlohmann::json ipvs_repair;  // IpvsRepair::status(): drift checks, repairs, retries
  nlohmann::json ipvs_tuning;  // read on the loop (one netlink round trip, a few /proc files)
  nlohmann::json ipvs_sync;    // null unless ipvs.sync_daemon is configured (no I/O)
  std::optional<vrrp::Runtime::NetlinkStats> rtnetlink;  // when VRRP runs

  std::vector<ThreadLag> lag;
  std::vector<std::pair<std::string, std::uint64_t>> log_suppressed;  // by category
  std::uint64_t slow_readers_dropped = 0;  // status/metrics readers over their backlog cap
  // Read by the render worker just before it renders (O(open descriptors)); none when /proc
  // could not be read.
  std::optional<ProcessStats> process;
  std::optional<AllocatorStats> allocator;  // the same moment; none without jemalloc
};

using control::StatusView;

// Above this many services the summary view lists only the services that need a look (quorum
// not met, missing from the kernel, a backend not up or drained or missing) and names the
// rest in `services_fine`, or in `services_awaiting_checks` when backends await their first
// check (docs/STATUS.md, "Views").
inline constexpr std::size_t kSummaryListsEveryServiceUpTo = 100;
// Whether a summary of `cfg` folds (names, instead of listing, the services it leaves out).
inline bool summary_folds(const config::Config& cfg) {
  return cfg.services.size() > kSummaryListsEveryServiceUpTo;
}

// The status document (docs/STATUS.md) for a snapshot, in one of its views, appended to `out`
// as JSON text (no document tree). Pure; runs on a worker thread.
// `bulk` false: without services and health (the other sections, for /metrics).
// `between`, when set, is called after each service's entries and each check: where the text
// may be handed on (streamed) without changing a byte of it.
void write_status(std::string& out, const StatusSnapshot& s, StatusView view = StatusView::full,
                  bool bulk = true, const std::function<void()>& between = {});
// The control socket's reply line: {"ok":true,"status":DOCUMENT}\n.
std::string status_reply(const StatusSnapshot& s, StatusView view);
// The same line written into a stream, chunk by chunk (the stream is not finished here).
void status_reply_to(TextStream& out, const StatusSnapshot& s, StatusView view);
// Whether the summary view needs the checks of service `s` (whose ports start at
// `counts_offset` in healthy_counts.ports): not when the loop's counts say every backend is fine
// (or, in a summary that folds, fine or awaiting its first check) and, with IPVS, the kernel
// table holds every one of them. The loop copies only these
// services' checks for a summary: O(services) for a healthy table, not O(checks).
bool summary_needs_checks(const StatusSnapshot& snap, const config::Service& s,
                          std::size_t counts_offset);
// /metrics (metrics.hpp) for the snapshot: the full view, fed to the renderer in runs.
std::string metrics_text(const StatusSnapshot& s);
// The same text written into a stream, chunk by chunk (the stream is not finished here).
void metrics_to(TextStream& out, const StatusSnapshot& s);
// The same document parsed (for tests and small callers; costly at scale).
nlohmann::json status_document(const StatusSnapshot& s, StatusView view = StatusView::full);

}  // namespace l4lb::daemon
