// Parsers for the scalar notations the config uses (durations, port ranges,
// status ranges, host:port) and the "did you mean" helper. Pure text in, value or
// message out; no YAML here, so every rule is unit-testable on its own.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "common/address.hpp"
#include "common/time.hpp"

namespace l4lb::config {

// A user's text quoted for a message, shortened (40 characters) and with control
// characters escaped, so that one message stays one line.
std::string quote(std::string_view text);

// A parsed value or the reason it could not be parsed (a message fragment that
// reads well after "KEY: ").
template <typename T>
struct Parsed {
  std::optional<T> value;
  std::string error;

  static Parsed ok(T v) { return Parsed{std::move(v), {}}; }
  static Parsed fail(std::string e) { return Parsed{std::nullopt, std::move(e)}; }
  explicit operator bool() const { return value.has_value(); }
};

// One `ports` entry may expand to at most this many ports: a typo such as
// "1000-60000" would otherwise silently create tens of thousands of IPVS services.
inline constexpr int kMaxPortsPerRange = 1000;

// "100ms", "2s", "1.5s", "1m", "1h", "1m30s", "0". Whole milliseconds only.
Parsed<Duration> parse_duration(std::string_view text);
// "100ms", "1.5s", "2m", "1h" — the shortest exact spelling, for messages and docs.
std::string format_duration(Duration d);

// Decimal integer with optional sign; no spaces, no hex, no exponent.
Parsed<std::int64_t> parse_int(std::string_view text);
// true/false, yes/no, on/off in lower, Title or UPPER case.
std::optional<bool> parse_bool(std::string_view text);

// "389" or "58978-58979" (inclusive, at most `max_ports` ports: kMaxPortsPerRange, or 65535
// for a `fwmark` service, where a range is one IPVS service whatever its size).
Parsed<std::pair<std::uint16_t, std::uint16_t>> parse_port_range(std::string_view text,
                                                                 int max_ports = kMaxPortsPerRange);

// A service's automatic firewall mark (`fwmark: true`): derived from its name alone, so it
// stays the same across reloads, restarts and range changes (0x4c000000 | 24 bits of the name's
// FNV-1a hash; never 0). Two names that collide are a config error asking for an explicit mark.
std::uint32_t auto_fwmark(std::string_view service_name);
// "200" or "200-399": HTTP status codes 100..599.
Parsed<std::pair<int, int>> parse_status_range(std::string_view text);

struct HostPort {
  net::Address address;
  std::uint16_t port = 0;
};
// "127.0.0.1:9465" or "[::1]:9465"; the host must be a literal address.
Parsed<HostPort> parse_host_port(std::string_view text);

// A Linux interface name: 1..15 bytes, no '/', ':' or whitespace, not "." or "..".
bool valid_interface_name(std::string_view name);

// Damerau-Levenshtein distance (optimal string alignment), case-insensitive.
std::size_t edit_distance(std::string_view a, std::string_view b);
// The closest candidate if it is close enough to be a plausible typo, else nothing.
std::optional<std::string> suggest(std::string_view word,
                                   std::span<const std::string_view> candidates);
// "; did you mean 'X'?" or "" — ready to append to a message.
std::string did_you_mean(std::string_view word, std::span<const std::string_view> candidates);

}  // namespace l4lb::config
