// Rejects text the YAML parser should never see: NUL bytes, invalid UTF-8 and control
// characters YAML does not allow. Internal to the config library.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "config/config.hpp"

namespace l4lb::config {

struct TextProblem {
  Location at;  // column counts characters, as editors do
  std::string message;
};

std::optional<TextProblem> check_text(std::string_view text);

}  // namespace l4lb::config

namespace l4lb::config {

// The first line holding anything but blanks, comments, directives and markers.
std::optional<Location> first_content(std::string_view text);

}  // namespace l4lb::config
