// Typed reading of YAML nodes with precise diagnostics. Every reader reports
// its own problem (position + message) and returns nothing on failure, so callers
// simply skip what could not be read and go on to find the next error.
// Internal to the config library.
#pragma once

#include <fmt/format.h>

#include <boost/container/small_vector.hpp>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/address.hpp"
#include "common/time.hpp"
#include "config/config.hpp"
#include "config/reporter.hpp"
#include "config/yaml_dom.hpp"

namespace l4lb::config {

// What a value is reported as: "vrid", "vips[2]". Held as its parts and written out only
// when a message needs it (formatting "backends[3]" for each of 80,000 backends was a
// measurable part of a large load). `base` points into the document or at a literal.
struct ValueName {
  static constexpr std::uint32_t kNone = 0xffffffff;
  std::string_view base;
  std::uint32_t index = kNone;  // an item of the list `base`
  std::uint32_t inner = kNone;  // an item of that item (a list of lists)
  ValueName() = default;
  ValueName(std::string_view b) : base(b) {}  // NOLINT: a plain name reads as one
  ValueName(std::string_view b, std::uint32_t i, std::uint32_t j) : base(b), index(i), inner(j) {}
  bool operator==(std::string_view key) const { return index == kNone && base == key; }
  std::string str() const;
};

// One value in the file, with the name it is reported under.
struct Value {
  yaml::Node node;
  Location at;      // the value; the key's position when the value is empty
  Location key_at;  // the key (== at for list items)
  ValueName name;
};

// "a list", "a mapping", "nothing", "'text'" — what the user wrote, for "expected X, got Y".
std::string describe(const yaml::Node& node);

// A mapping whose keys are checked against a fixed set: not-a-mapping, non-string,
// duplicate and unknown keys (with a suggestion) are reported on construction.
class MapView {
 public:
  MapView(const Value& value, std::string_view what, std::span<const std::string_view> known,
          Reporter& reporter);
  bool valid() const { return valid_; }
  const Value* find(std::string_view key) const;
  bool has(std::string_view key) const { return find(key) != nullptr; }
  Location at() const { return at_; }
  // Reports "missing required key" at the mapping and returns nullptr when absent.
  const Value* require(std::string_view key, std::string_view what);
  std::span<const Value> fields() const { return {fields_.data(), fields_.size()}; }

 private:
  Reporter& reporter_;
  Location at_;
  bool valid_ = false;
  // Inline for the usual handful of keys: one heap allocation per mapping was 100,000 of them
  // at 10,000 services x 8 backends.
  boost::container::small_vector<Value, 8> fields_;
};

std::optional<std::string> read_string(const Value& v, Reporter& r);
std::optional<std::int64_t> read_int(const Value& v, std::int64_t min, std::int64_t max,
                                     Reporter& r);
std::optional<bool> read_bool(const Value& v, Reporter& r);
std::optional<Duration> read_duration(const Value& v, Duration min, Duration max, Reporter& r);
std::optional<net::Address> read_address(const Value& v, Reporter& r);
std::optional<net::Prefix> read_prefix(const Value& v, Reporter& r);
// Index into `options`; an unknown word is reported with the valid choices.
std::optional<std::size_t> read_enum(const Value& v, std::span<const std::string_view> options,
                                     Reporter& r);
// An absolute path (no NUL, starts with '/'), at most `max_len` bytes.
std::optional<std::string> read_path(const Value& v, std::size_t max_len, Reporter& r);

// Reports "NAME: expected a list, got ..." for a value that is not a list.
void report_not_a_list(const Value& v, Reporter& r);
// The value of item `i` of the list `v`.
Value item_of(const Value& v, std::size_t i);
// The same for an item handed over on its own (yaml::StreamedList), not held by `v`'s node.
Value item_value(const Value& v, const yaml::Node& item, std::size_t i);

// Calls `each` for every item of a list (an empty value counts as an empty list).
// Returns false (and reports) when the value is not a list. A template rather than a
// std::function: the callers' lambdas capture too much for its small buffer, so each call
// allocated.
template <typename Each>
bool for_each_item(const Value& v, Reporter& r, Each&& each) {
  if (v.node.IsNull()) return true;
  if (!v.node.IsSequence()) {
    report_not_a_list(v, r);
    return false;
  }
  const std::size_t n = v.node.size();
  for (std::size_t i = 0; i < n; ++i) each(static_cast<const Value&>(item_of(v, i)));
  return true;
}

}  // namespace l4lb::config

template <>
struct fmt::formatter<l4lb::config::ValueName> : fmt::formatter<std::string_view> {
  template <typename Context>
  auto format(const l4lb::config::ValueName& n, Context& ctx) const {
    auto out = fmt::format_to(ctx.out(), "{}", n.base);
    if (n.index != l4lb::config::ValueName::kNone) out = fmt::format_to(out, "[{}]", n.index);
    if (n.inner != l4lb::config::ValueName::kNone) out = fmt::format_to(out, "[{}]", n.inner);
    return out;
  }
};

namespace l4lb::config {
// A name used in logs, metrics labels and l4lbctl: 1..64 of [A-Za-z0-9_.-].
std::optional<std::string> read_name(const Value& v, Reporter& r);
}  // namespace l4lb::config
