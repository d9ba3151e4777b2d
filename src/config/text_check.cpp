#include "config/text_check.hpp"

#include <fmt/format.h>

#include <cstdint>
#include <cstring>

namespace l4lb::config {

namespace {

Location position_of(std::string_view text, std::size_t offset) {
  Location at{1, 1};
  for (std::size_t i = 0; i < offset; ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c == '\n') {
      ++at.line;
      at.column = 1;
    } else if ((c & 0xC0) != 0x80) {  // count characters, not continuation bytes
      ++at.column;
    }
  }
  return at;
}

}  // namespace

std::optional<TextProblem> check_text(std::string_view text) {
  // A NUL anywhere means a binary file; say that rather than whatever odd byte
  // comes first (an ELF file starts with 0x7f).
  if (auto nul = text.find('\0'); nul != std::string_view::npos)
    return TextProblem{position_of(text, nul),
                       "the file contains a NUL byte; it is binary, not YAML text"};
  int line = 1;
  int column = 1;
  std::size_t i = 0;
  // A UTF-8 byte order mark is allowed by YAML; skip it.
  if (text.starts_with("\xEF\xBB\xBF")) i = 3;
  // Where the line/column count stands: it is brought up to a byte only when a multi-byte
  // character or a problem needs it, so the common printable ASCII costs one comparison.
  std::size_t counted = i;
  auto position = [&](std::size_t upto) {
    for (; counted < upto; ++counted) {
      auto b = static_cast<unsigned char>(text[counted]);
      if (b == '\n') {
        ++line;
        column = 1;
      } else if ((b & 0xC0) != 0x80) {
        ++column;
      }
    }
    return Location{line, column};
  };
  while (i < text.size()) {
    // Eight bytes at a time while they are all printable ASCII (0x20..0x7e): no byte has its
    // top bit set, none is below 0x20, none is 0x7f (the usual bit tricks, exact per byte).
    while (i + 8 <= text.size()) {
      std::uint64_t x;
      std::memcpy(&x, text.data() + i, 8);
      constexpr std::uint64_t k01 = 0x0101010101010101ULL, k80 = 0x8080808080808080ULL;
      const std::uint64_t below_20 = (x - 0x20 * k01) & ~x & k80;
      const std::uint64_t is_7f = ((x ^ (0x7f * k01)) - k01) & ~(x ^ (0x7f * k01)) & k80;
      if (((x & k80) | below_20 | is_7f) != 0) break;
      i += 8;
    }
    if (i >= text.size()) break;
    auto c = static_cast<unsigned char>(text[i]);
    if ((c >= 0x20 && c < 0x7f) || c == '\n' || c == '\t' || c == '\r') {
      ++i;
      continue;
    }
    const Location at = position(i);
    if (c == 0) return TextProblem{at, "the file contains a NUL byte; it is binary, not YAML text"};
    if (c < 0x80) {
      if (c == 0x7f) return TextProblem{at, "control character 0x7f is not allowed in YAML text"};
      return TextProblem{at, fmt::format("control character 0x{:02x} is not allowed in YAML "
                                         "text",
                                         c)};
    }
    // Multi-byte UTF-8: lead byte decides the length; reject overlong forms,
    // surrogates and code points above U+10FFFF (RFC 3629).
    std::size_t len = 0;
    std::uint32_t cp = 0;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2, cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3, cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4, cp = c & 0x07;
    }
    bool valid = len != 0 && i + len <= text.size();
    for (std::size_t k = 1; valid && k < len; ++k) {
      auto cc = static_cast<unsigned char>(text[i + k]);
      if ((cc & 0xC0) != 0x80) valid = false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if (valid) {
      if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
          (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        valid = false;
    }
    if (!valid)
      return TextProblem{at, fmt::format("invalid UTF-8 (byte 0x{:02x}); the config must be UTF-8 "
                                         "text",
                                         c)};
    // YAML's printable set also excludes the C1 controls, except NEL.
    if (len == 2 && cp >= 0x80 && cp <= 0x9F && cp != 0x85)
      return TextProblem{at,
                         fmt::format("control character U+{:04X} is not allowed in YAML text", cp)};
    i += len;
  }
  return std::nullopt;
}

}  // namespace l4lb::config

namespace l4lb::config {
namespace {

bool is_marker(std::string_view line, std::string_view marker) {
  return line.starts_with(marker) &&
         (line.size() == 3 || line[3] == ' ' || line[3] == '\t' || line[3] == '\r');
}

}  // namespace

namespace {

enum class LineKind { start_marker, end_marker, content, other };

// Calls `visit(kind, location)` for each line until it returns true; returns that location.
template <typename F>
std::optional<Location> scan_lines(std::string_view text, F visit) {
  bool open = false;  // inside a document: directives are only allowed outside
  int line_no = 0;
  std::size_t start = 0;
  while (start < text.size()) {
    ++line_no;
    auto end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    auto first = line.find_first_not_of(" \t\r");
    Location at{line_no, first == std::string_view::npos ? 1 : static_cast<int>(first) + 1};
    LineKind kind = LineKind::other;
    if (is_marker(line, "---")) {
      kind = LineKind::start_marker;
      open = true;
    } else if (is_marker(line, "...")) {
      kind = LineKind::end_marker;
      open = false;
    } else if (first != std::string_view::npos && line[first] != '#' && (open || line[0] != '%')) {
      kind = LineKind::content;
      open = true;
    }
    if (visit(kind, at)) return at;
  }
  return std::nullopt;
}

}  // namespace

std::optional<Location> first_content(std::string_view text) {
  return scan_lines(text, [](LineKind kind, Location) { return kind == LineKind::content; });
}

}  // namespace l4lb::config
