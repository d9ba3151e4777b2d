// One control session's work after the request line has arrived: parse and validate it
// (control_request), authorise it for the peer (control_access), and route the typed request to
// the daemon's handler. Every way this can fail ends in exactly one error reply; no exception
// leaves answer(). Free of sockets, so the fuzzer drives it with fake handlers.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "common/address.hpp"
#include "daemon/control_access.hpp"
#include "daemon/control_request.hpp"

namespace l4lb::daemon::control {

// Sends the response line; the session closes after it.
using Reply = std::function<void(nlohmann::json response)>;

struct Handlers {
  // Calls its reply exactly once, now or later on the loop.
  std::function<void(Reply)> status;
  std::function<nlohmann::json()> reload;
  // add: drain, otherwise undrain. No service: every service.
  std::function<nlohmann::json(const net::Address& backend,
                               const std::optional<std::string>& service, bool add)>
      drain;
};

nlohmann::json error_reply(const std::string& message);

// `line` without its newline. `reply` is called exactly once (for status possibly later).
void answer(std::string_view line, const Peer& peer, const AccessPolicy& policy,
            const Handlers& handlers, Reply reply);

}  // namespace l4lb::daemon::control
