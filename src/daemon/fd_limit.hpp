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

}  // namespace l4lb::daemon
