// l4lbctl's side of the control socket: one JSON request, one JSON response.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <variant>

namespace l4lb::ctl {

struct ClientError {
  std::string message;  // already phrased for the operator
};

std::variant<nlohmann::json, ClientError> call(const std::string& socket_path,
                                               const nlohmann::json& request,
                                               int timeout_seconds = 30);

// The same exchange, the answer as the daemon sent it (one line, newline included, not parsed):
// for `status --json`, whose full document at 10,000 services is 143 MB.
std::variant<std::string, ClientError> call_raw(const std::string& socket_path,
                                                const nlohmann::json& request,
                                                int timeout_seconds = 30);

}  // namespace l4lb::ctl
