// Everything the status document and /metrics need, copied on the loop in one short step and
// then read by a worker thread only: nothing in it points at loop-owned state. The config is
// shared (immutable once applied), the rest is copied; see docs/ARCHITECTURE.md.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/histogram.hpp"
#include "config/config.hpp"
#include "daemon/control_request.hpp"
#include "daemon/drains.hpp"
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
  nlohmann::json last_reload;  // null until the first reload

  std::vector<vrrp::InstanceStatus> vrrp;
  bool health_running = false;
  std::vector<std::pair<health::BackendKey, health::BackendHealth>> health;  // ordered by key
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
};

using control::StatusView;

// The status document (docs/STATUS.md) for a snapshot, in one of its views. Pure; runs on a
// worker thread.
nlohmann::json status_document(const StatusSnapshot& s, StatusView view = StatusView::full);

}  // namespace l4lb::daemon
