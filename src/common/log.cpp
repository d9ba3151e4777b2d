#include "common/log.hpp"

#include <unistd.h>

#include <string>

namespace l4lb::log {
namespace {
Level g_max = Level::info;
}

void set_max_level(Level level) { g_max = level; }
bool enabled(Level level) { return static_cast<int>(level) <= static_cast<int>(g_max); }

void write(Level level, std::string_view line) {
  // A single write(2) per line keeps lines whole when several processes share a pipe.
  std::string out;
  out.reserve(line.size() + 5);
  out += '<';
  out += static_cast<char>('0' + static_cast<int>(level));
  out += '>';
  out += line;
  out += '\n';
  [[maybe_unused]] auto n = ::write(STDERR_FILENO, out.data(), out.size());
}

}  // namespace l4lb::log
