// How many descriptors a config needs, and making RLIMIT_NOFILE allow it. A health checker
// that runs out of descriptors learns nothing about its backends, so the limit is raised at
// start (and on reload) instead of being discovered as EMFILE under load.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "config/config.hpp"

namespace l4lb::daemon {

// Pure: a fixed allowance (sockets for VRRP, netlink, control, metrics, state files, notify
// pidfds) plus one per check that holds a socket while it runs (every service port × backend
// with a connect(), UDP or HTTP check: the worst case, all in flight at once).
std::uint64_t descriptors_needed(const config::Config& cfg);

// Raises the soft limit to `needed` (never lowers it). An error names the hard limit and the
// systemd setting that lifts it, when the hard limit is below `needed`.
std::optional<std::string> ensure_descriptor_limit(std::uint64_t needed);

// Grows the process's descriptor table now to hold `count` descriptors (up to the soft
// limit). The kernel grows it on demand, and in a process with several threads every growth
// waits for an RCU grace period (synchronize_rcu in expand_files): 6 ms of the event loop,
// seen with perf sched under load, with an advert due every 10 ms. Called where waiting is
// harmless: at start and on the reload worker. Best effort: a failure only means the table
// grows later, on demand.
void reserve_descriptor_table(std::uint64_t count);

}  // namespace l4lb::daemon
