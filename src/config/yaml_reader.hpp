// Typed reading of YAML nodes with precise diagnostics. Every reader reports
// its own problem (position + message) and returns nothing on failure, so callers
// simply skip what could not be read and go on to find the next error.
// Internal to the config library.
#pragma once

#include <cstdint>
#include <functional>
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

// One value in the file, with the name it is reported under ("vrid", "vips[2]").
struct Value {
  yaml::Node node;
  Location at;      // the value; the key's position when the value is empty
  Location key_at;  // the key (== at for list items)
  std::string name;
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
  const std::vector<Value>& fields() const { return fields_; }

 private:
  Reporter& reporter_;
  Location at_;
  bool valid_ = false;
  std::vector<Value> fields_;
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

// Calls `each` for every item of a list (an empty value counts as an empty list).
// Returns false (and reports) when the value is not a list.
bool for_each_item(const Value& v, Reporter& r, const std::function<void(const Value&)>& each);

}  // namespace l4lb::config

namespace l4lb::config {
// A name used in logs, metrics labels and l4lbctl: 1..64 of [A-Za-z0-9_.-].
std::optional<std::string> read_name(const Value& v, Reporter& r);
}  // namespace l4lb::config
