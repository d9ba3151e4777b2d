// Prometheus text exposition (format 0.0.4), rendered from the same status document that
// `l4lbctl status --json` returns, so the two can never disagree. Pure.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace l4lb::daemon {

std::string render_metrics(const nlohmann::json& status);

}  // namespace l4lb::daemon
