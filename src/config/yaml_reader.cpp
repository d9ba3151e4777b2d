#include "config/yaml_reader.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "config/values.hpp"

namespace l4lb::config {
namespace {

std::string join(std::span<const std::string_view> words) {
  std::string out;
  for (auto w : words) {
    if (!out.empty()) out += ", ";
    out += w;
  }
  return out;
}

}  // namespace

std::string describe(const yaml::Node& node) {
  if (node.IsScalar()) return quote(node.Scalar());
  if (node.IsSequence()) return "a list";
  if (node.IsMap()) return "a mapping";
  return "nothing";
}

MapView::MapView(const Value& value, std::string_view what, std::span<const std::string_view> known,
                 Reporter& reporter)
    : reporter_(reporter), at_(value.at) {
  if (!value.node.IsMap()) {
    reporter_.error(value.at, fmt::format("{}: expected a mapping ({}), got {}", value.name, what,
                                          describe(value.node)));
    return;
  }
  valid_ = true;
  const std::size_t n = value.node.size();
  fields_.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    const yaml::Node k = value.node.key(i);
    const yaml::Node v = value.node.value(i);
    Location key_at = k.location();
    if (key_at.line == 0) key_at = at_;
    if (!k.IsScalar()) {
      reporter_.error(key_at,
                      fmt::format("{}: keys must be plain words, got {}", what, describe(k)));
      continue;
    }
    const std::string_view key = k.Scalar();
    if (key == "<<") {  // YAML 1.1 merge keys are not part of YAML 1.2
      reporter_.error(key_at, fmt::format("merge keys ('<<') are not supported in {}; write the "
                                          "keys out",
                                          what));
      continue;
    }
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      reporter_.error(key_at, fmt::format("unknown key {} in {}{}", quote(key), what,
                                          did_you_mean(key, known)));
      continue;
    }
    if (auto* first = find(key)) {
      reporter_.error(
          key_at, fmt::format("duplicate key '{}' (first at line {})", key, first->key_at.line));
      continue;
    }
    // An empty value ("vrid:") carries the position of whatever follows it, so
    // point at the key instead.
    Location at = v.IsNull() ? key_at : v.location();
    if (at.line == 0) at = key_at;
    fields_.push_back(Value{v, at, key_at, ValueName(key)});
  }
}

const Value* MapView::find(std::string_view key) const {
  for (const auto& f : fields_)
    if (f.name == key) return &f;
  return nullptr;
}

const Value* MapView::require(std::string_view key, std::string_view what) {
  if (!valid_) return nullptr;
  const Value* v = find(key);
  if (!v) reporter_.error(at_, fmt::format("{}: missing required key '{}'", what, key));
  return v;
}

std::optional<std::string> read_string(const Value& v, Reporter& r) {
  if (!v.node.IsScalar()) {
    r.error(v.at, fmt::format("{}: expected a string, got {}", v.name, describe(v.node)));
    return std::nullopt;
  }
  return std::string(v.node.Scalar());
}

std::optional<std::int64_t> read_int(const Value& v, std::int64_t min, std::int64_t max,
                                     Reporter& r) {
  if (!v.node.IsScalar()) {
    r.error(v.at, fmt::format("{}: expected an integer, got {}", v.name, describe(v.node)));
    return std::nullopt;
  }
  auto parsed = parse_int(v.node.Scalar());
  if (!parsed) {
    r.error(v.at, fmt::format("{}: {}", v.name, parsed.error));
    return std::nullopt;
  }
  if (*parsed.value < min || *parsed.value > max) {
    r.error(v.at, fmt::format("{}: {} is out of range {}..{}", v.name, *parsed.value, min, max));
    return std::nullopt;
  }
  return parsed.value;
}

std::optional<bool> read_bool(const Value& v, Reporter& r) {
  std::optional<bool> b;
  if (v.node.IsScalar()) b = parse_bool(v.node.Scalar());
  if (!b)
    r.error(v.at, fmt::format("{}: expected true or false, got {}", v.name, describe(v.node)));
  return b;
}

std::optional<Duration> read_duration(const Value& v, Duration min, Duration max, Reporter& r) {
  if (!v.node.IsScalar()) {
    r.error(v.at,
            fmt::format("{}: expected a duration such as 2s, got {}", v.name, describe(v.node)));
    return std::nullopt;
  }
  auto parsed = parse_duration(v.node.Scalar());
  if (!parsed) {
    r.error(v.at, fmt::format("{}: {}", v.name, parsed.error));
    return std::nullopt;
  }
  if (*parsed.value < min || *parsed.value > max) {
    r.error(v.at,
            fmt::format("{}: {} is out of range {}..{}", v.name, format_duration(*parsed.value),
                        format_duration(min), format_duration(max)));
    return std::nullopt;
  }
  return parsed.value;
}

std::optional<net::Address> read_address(const Value& v, Reporter& r) {
  if (!v.node.IsScalar()) {
    r.error(v.at, fmt::format("{}: expected an IP address, got {}", v.name, describe(v.node)));
    return std::nullopt;
  }
  const std::string_view text = v.node.Scalar();
  auto a = net::Address::parse(text);
  if (!a) {
    r.error(v.at,
            fmt::format("{}: {} is not an IP address{}", v.name, quote(text),
                        text.find('/') != std::string_view::npos ? " (no /prefix here)" : ""));
    return std::nullopt;
  }
  return a;
}

std::optional<net::Prefix> read_prefix(const Value& v, Reporter& r) {
  if (!v.node.IsScalar()) {
    r.error(v.at, fmt::format("{}: expected an address such as 10.0.0.1/24, got {}", v.name,
                              describe(v.node)));
    return std::nullopt;
  }
  auto p = net::Prefix::parse(v.node.Scalar());
  if (!p) {
    r.error(v.at, fmt::format("{}: {} is not an address or address/prefix-length", v.name,
                              quote(v.node.Scalar())));
    return std::nullopt;
  }
  return p;
}

std::optional<std::size_t> read_enum(const Value& v, std::span<const std::string_view> options,
                                     Reporter& r) {
  if (v.node.IsScalar()) {
    const std::string_view text = v.node.Scalar();
    auto it = std::find(options.begin(), options.end(), text);
    if (it != options.end()) return static_cast<std::size_t>(it - options.begin());
  }
  std::string hint = v.node.IsScalar() ? did_you_mean(v.node.Scalar(), options) : "";
  r.error(v.at, fmt::format("{}: expected one of {}, got {}{}", v.name, join(options),
                            describe(v.node), hint));
  return std::nullopt;
}

std::optional<std::string> read_path(const Value& v, std::size_t max_len, Reporter& r) {
  auto s = read_string(v, r);
  if (!s) return std::nullopt;
  if (s->empty() || (*s)[0] != '/') {
    r.error(v.at, fmt::format("{}: {} must be an absolute path", v.name, quote(*s)));
    return std::nullopt;
  }
  if (s->size() > max_len) {
    r.error(v.at, fmt::format("{}: path is {} bytes; at most {}", v.name, s->size(), max_len));
    return std::nullopt;
  }
  // Escapes in quoted strings can produce NUL and control bytes, which no path has.
  if (std::any_of(s->begin(), s->end(),
                  [](char c) { return static_cast<unsigned char>(c) < 0x20; })) {
    r.error(v.at, fmt::format("{}: {} contains control characters", v.name, quote(*s)));
    return std::nullopt;
  }
  return s;
}

void report_not_a_list(const Value& v, Reporter& r) {
  r.error(v.at, fmt::format("{}: expected a list, got {}", v.name, describe(v.node)));
}

Value item_of(const Value& v, std::size_t i) { return item_value(v, v.node.item(i), i); }

Value item_value(const Value& v, const yaml::Node& item, std::size_t i) {
  // An empty item ("- ") points at whatever follows it; use the list's position.
  Location at = item.IsNull() ? v.at : item.location();
  if (at.line == 0) at = v.at;
  const auto index = static_cast<std::uint32_t>(i);
  ValueName name = v.name.index == ValueName::kNone
                       ? ValueName(v.name.base, index, ValueName::kNone)
                       : ValueName(v.name.base, v.name.index, index);
  return Value{item, at, at, name};
}

std::string ValueName::str() const { return fmt::format("{}", *this); }

}  // namespace l4lb::config

namespace l4lb::config {
std::optional<std::string> read_name(const Value& v, Reporter& r) {
  auto s = read_string(v, r);
  if (!s) return std::nullopt;
  bool ok = !s->empty() && s->size() <= 64;
  for (char c : *s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.'))
      ok = false;
  if (!ok) {
    r.error(v.at, fmt::format("{}: {} is not a valid name (1..64 letters, digits, '-', '_', '.')",
                              v.name, quote(*s)));
    return std::nullopt;
  }
  return s;
}
}  // namespace l4lb::config
