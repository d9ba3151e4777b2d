// Rejects text yaml-cpp should never see: NUL bytes, invalid UTF-8 and control
// characters YAML does not allow. Internal to the config library.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "config/config.hpp"

namespace l4lb::config {

struct TextProblem {
  Location at;  // column counts characters, as yaml-cpp does
  std::string message;
};

std::optional<TextProblem> check_text(std::string_view text);

}  // namespace l4lb::config

namespace l4lb::config {

// Where a second YAML document starts, if the text holds more than one. A line
// beginning with "---" or "..." is always a document marker (YAML 1.2, 9.1), so
// this needs no parser. It exists because yaml-cpp 0.7's LoadAll can loop
// forever on some malformed input (jbeder/yaml-cpp#1040, fixed in 0.8 by #1319):
// the loader parses the first document with YAML::Load and rejects the rest here.
std::optional<Location> second_document(std::string_view text);
// The first line holding anything but blanks, comments, directives and markers.
std::optional<Location> first_content(std::string_view text);

}  // namespace l4lb::config
