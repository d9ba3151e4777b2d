// Who may do what on the control socket. Connecting at all is gated by the socket's mode
// (0660, group `control.group`), so anyone who got a session may read the status; commands
// that change the daemon's state need uid 0 or membership in `control.admin_group`.
// Pure: the peer's credentials (SO_PEERCRED, SO_PEERGROUPS) and the resolved group are inputs.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "daemon/control_request.hpp"

namespace l4lb::daemon::control {

struct Peer {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary groups
};

struct AccessPolicy {
  std::string admin_group;         // empty: none configured, root only
  std::optional<gid_t> admin_gid;  // unset when none is configured or the group does not exist
};

// nullopt: allowed. Otherwise the reply's error, e.g.
// "permission denied: 'reload' needs root or group l4lb-admin".
std::optional<std::string> authorise(const Request& request, const Peer& peer,
                                     const AccessPolicy& policy);

}  // namespace l4lb::daemon::control
