#include "daemon/control_access.hpp"

#include <algorithm>

namespace l4lb::daemon::control {

std::optional<std::string> authorise(const Request& request, const Peer& peer,
                                     const AccessPolicy& policy) {
  if (!is_mutating(request) || peer.uid == 0) return std::nullopt;
  if (policy.admin_gid) {
    const gid_t admin = *policy.admin_gid;
    if (peer.gid == admin ||
        std::find(peer.groups.begin(), peer.groups.end(), admin) != peer.groups.end())
      return std::nullopt;
  }
  std::string who = "root";
  if (!policy.admin_group.empty()) {
    who += " or group " + policy.admin_group;
    if (!policy.admin_gid) who += " (which does not exist on this host)";
  } else {
    who += " (no control.admin_group is configured)";
  }
  return std::string("permission denied: '") + command_name(request) + "' needs " + who;
}

}  // namespace l4lb::daemon::control
