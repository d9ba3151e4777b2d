// `l4lbctl status NAME...` and shell completion work on the daemon's status document
// (docs/STATUS.md). Pure functions: no I/O.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace l4lb::ctl {

struct FilteredStatus {
  nlohmann::json status;             // the document narrowed to the names
  std::vector<std::string> unknown;  // names that are neither an instance nor a service
};

// Keeps the VRRP instances and services named (every address family of an instance), the
// services on a named instance's VIPs, and the health entries of the services kept; the
// daemon, ipvs and health_checker sections stay whole. No names: the document unchanged.
FilteredStatus filter_status(const nlohmann::json& status, const std::vector<std::string>& names);

// The names a shell may complete, sorted and unique: `what` is "instances", "services" or
// "backends" (addresses). Anything else, or a document of another shape: none.
std::vector<std::string> completion_names(const nlohmann::json& status, std::string_view what);

// `status --watch [SECONDS]`: the option takes an optional word, so `--watch ldap` hands it the
// first NAME. A number is the period (0.1..86400 s); another word is a name, with the default.
inline constexpr double kDefaultWatchSeconds = 2.0;
struct WatchArg {
  double seconds = kDefaultWatchSeconds;
  std::string name;   // the word, when it was a name
  std::string error;  // a number out of range
};
WatchArg parse_watch_arg(const std::string& word);

}  // namespace l4lb::ctl
