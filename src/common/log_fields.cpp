#include "common/log_fields.hpp"

#include <charconv>

namespace l4lb::log {
namespace {

std::string_view value_of(std::string_view line, std::string_view key) {
  for (std::size_t pos = line.find(key); pos != std::string_view::npos;
       pos = line.find(key, pos + 1)) {
    if (pos != 0 && line[pos - 1] != ' ') continue;
    const std::size_t start = pos + key.size();
    const std::size_t end = line.find(' ', start);
    return line.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
  }
  return {};
}

bool parse_decimal(std::string_view text, unsigned long long& out) {
  if (text.empty()) return false;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && p == text.data() + text.size();
}

}  // namespace

Fields extract_fields(std::string_view line) {
  return {value_of(line, "instance="), value_of(line, "service="), value_of(line, "backend=")};
}

bool journal_stream_matches(std::string_view env, unsigned long long dev, unsigned long long ino) {
  const std::size_t colon = env.find(':');
  if (colon == std::string_view::npos) return false;
  unsigned long long d = 0, i = 0;
  return parse_decimal(env.substr(0, colon), d) && parse_decimal(env.substr(colon + 1), i) &&
         d == dev && i == ino;
}

}  // namespace l4lb::log
