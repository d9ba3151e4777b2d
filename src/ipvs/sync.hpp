// Which IPVS connection-sync daemons should run, and the steps from what runs to that. Pure:
// the daemon (daemon/ipvs_sync.*) reads the kernel, calls these, and carries the steps out.
//
// Policy (docs/ARCHITECTURE.md, "Connection synchronisation"): the node that is VRRP MASTER
// of the configured instance runs the sync master, so that the connections it balances are
// multicast to its peers; every other state (BACKUP, FAULT, INIT) runs the sync backup, so
// that a takeover finds them in its own table. With `backup_on_master` (the default) the
// master keeps its backup daemon as well: during a handover both routers can be MASTER for an
// advert interval or two, and the connections the old master still creates then are not lost
// to the new one. The kernel never loops its own multicast back, so the two do not feed each
// other on one node.
#pragma once

#include <optional>
#include <span>
#include <vector>

#include "config/config.hpp"
#include "ipvs/kernel.hpp"

namespace l4lb::ipvs {

// The daemons to run for `config` when this node is (`master`) or is not the instance's
// master: master first. None when sync is not configured or the daemon is stopping.
std::vector<SyncDaemon> wanted_sync_daemons(const std::optional<config::SyncDaemon>& config,
                                            bool master, bool stopping);

// True when `have` (as the kernel reports it) is `want`: same role, interface and sync id,
// and the same value of every parameter `want` sets (0 / unset in `want` = the kernel's
// default, whatever it is).
bool sync_daemon_matches(const SyncDaemon& want, const SyncDaemon& have);

struct SyncStep {
  enum class Kind { stop, start };
  Kind kind;
  SyncDaemon daemon;  // for a stop only the role matters
  bool operator==(const SyncStep&) const = default;
};

// From `running` to `want`: every stop first (the kernel refuses a second daemon of one
// role, so a changed one is stopped and started again), then the starts in `want` order.
// Nothing when they already match.
std::vector<SyncStep> plan_sync(std::span<const SyncDaemon> want,
                                std::span<const SyncDaemon> running);

// "master eth1 id 1 224.0.0.81:8848 ttl 1 maxlen 1472" for logs and status.
std::string describe(const SyncDaemon& d);

}  // namespace l4lb::ipvs
