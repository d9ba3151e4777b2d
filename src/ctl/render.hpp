// Turns the daemon's status document (docs/STATUS.md) into the readable tables of
// `l4lbctl status`. Pure: `now_unix` is passed in so output is testable.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace l4lb::ctl {

std::string render_status(const nlohmann::json& status, double now_unix);

// "3s", "4m12s", "2h03m", "5d04h"
std::string format_age(double seconds);
// 1234567 -> "1.2M"
std::string format_si(double value);

// Left-aligned columns, two spaces apart; the first row is the header.
std::string format_table(const std::vector<std::vector<std::string>>& rows,
                         const std::string& indent = "  ");

}  // namespace l4lb::ctl
