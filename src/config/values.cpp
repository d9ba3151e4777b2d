#include "config/values.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <vector>

namespace l4lb::config {
namespace {

constexpr std::int64_t kMaxDurationMs = std::int64_t{1000} * 60 * 60 * 24 * 366;  // a year

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Parses an unsigned decimal of at most `max_digits` digits; the whole text must be digits.
std::optional<std::int64_t> parse_digits(std::string_view text, std::size_t max_digits = 18) {
  if (text.empty() || text.size() > max_digits) return std::nullopt;
  std::int64_t v = 0;
  for (char c : text) {
    if (!is_digit(c)) return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

}  // namespace

// A user's text quoted for a message; long or odd text is shortened so that one
// line stays one line.
std::string quote(std::string_view text) {
  std::string out = "'";
  std::size_t n = 0;
  for (char c : text) {
    if (++n > 40) {
      out += "...";
      break;
    }
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f)
      out += fmt::format("\\x{:02x}", u);
    else
      out += c;
  }
  return out + "'";
}

Parsed<Duration> parse_duration(std::string_view text) {
  const auto bad = [&] {
    return Parsed<Duration>::fail(
        fmt::format("{} is not a duration (use e.g. 100ms, 2s, 1.5s, 1m)", quote(text)));
  };
  if (text == "0") return Parsed<Duration>::ok(Duration{0});
  if (!text.empty() && text[0] == '-')
    return Parsed<Duration>::fail(fmt::format("{} is negative; durations cannot be", quote(text)));
  if (auto plain = parse_digits(text))
    return Parsed<Duration>::fail(fmt::format("{} needs a unit: ms, s, m or h (e.g. {}s or {}ms)",
                                              quote(text), *plain, *plain));
  std::int64_t total = 0;
  std::string_view rest = text;
  if (rest.empty()) return bad();
  while (!rest.empty()) {
    std::size_t i = 0;
    while (i < rest.size() && is_digit(rest[i])) ++i;
    std::string_view whole = rest.substr(0, i);
    std::string_view frac;
    if (i < rest.size() && rest[i] == '.') {
      std::size_t j = i + 1;
      while (j < rest.size() && is_digit(rest[j])) ++j;
      frac = rest.substr(i + 1, j - i - 1);
      if (frac.empty()) return bad();
      i = j;
    }
    if (whole.empty() && frac.empty()) return bad();
    std::int64_t unit = 0;
    std::string_view after = rest.substr(i);
    std::size_t unit_len = 1;
    if (after.starts_with("ms")) {
      unit = 1, unit_len = 2;
    } else if (after.starts_with("s")) {
      unit = 1000;
    } else if (after.starts_with("m")) {
      unit = 60 * 1000;
    } else if (after.starts_with("h")) {
      unit = 60 * 60 * 1000;
    } else {
      return bad();
    }
    auto w = whole.empty() ? std::optional<std::int64_t>{0} : parse_digits(whole, 12);
    auto f = frac.empty() ? std::optional<std::int64_t>{0} : parse_digits(frac, 9);
    if (!w || !f) return bad();
    std::int64_t scale = 1;
    for (std::size_t k = 0; k < frac.size(); ++k) scale *= 10;
    // w*unit + f*unit/scale must be whole milliseconds.
    if ((*f * unit) % scale != 0)
      return Parsed<Duration>::fail(
          fmt::format("{} is not a whole number of milliseconds", quote(text)));
    if (*w > kMaxDurationMs / unit)
      return Parsed<Duration>::fail(fmt::format("{} is too long", quote(text)));
    total += *w * unit + (*f * unit) / scale;
    if (total > kMaxDurationMs)
      return Parsed<Duration>::fail(fmt::format("{} is too long", quote(text)));
    rest = after.substr(unit_len);
  }
  return Parsed<Duration>::ok(Duration{total});
}

std::string format_duration(Duration d) {
  const auto ms = d.count();
  if (ms == 0) return "0s";
  if (ms % 3'600'000 == 0) return fmt::format("{}h", ms / 3'600'000);
  if (ms % 60'000 == 0) return fmt::format("{}m", ms / 60'000);
  if (ms % 1000 == 0) return fmt::format("{}s", ms / 1000);
  if (ms < 1000) return fmt::format("{}ms", ms);
  std::string frac = fmt::format("{:03}", ms % 1000);
  while (!frac.empty() && frac.back() == '0') frac.pop_back();
  return fmt::format("{}.{}s", ms / 1000, frac);
}

Parsed<std::int64_t> parse_int(std::string_view text) {
  bool negative = false;
  std::string_view digits = text;
  if (!digits.empty() && (digits[0] == '-' || digits[0] == '+')) {
    negative = digits[0] == '-';
    digits.remove_prefix(1);
  }
  auto v = parse_digits(digits);
  if (!v) return Parsed<std::int64_t>::fail(fmt::format("{} is not an integer", quote(text)));
  return Parsed<std::int64_t>::ok(negative ? -*v : *v);
}

std::optional<bool> parse_bool(std::string_view text) {
  static constexpr std::array<std::string_view, 9> kTrue{"true", "True", "TRUE", "yes", "Yes",
                                                         "YES",  "on",   "On",   "ON"};
  static constexpr std::array<std::string_view, 9> kFalse{"false", "False", "FALSE", "no", "No",
                                                          "NO",    "off",   "Off",   "OFF"};
  if (std::find(kTrue.begin(), kTrue.end(), text) != kTrue.end()) return true;
  if (std::find(kFalse.begin(), kFalse.end(), text) != kFalse.end()) return false;
  return std::nullopt;
}

std::uint32_t auto_fwmark(std::string_view name) {
  std::uint32_t h = 2166136261u;
  for (unsigned char c : name) {
    h ^= c;
    h *= 16777619u;
  }
  return 0x4c000000u | (h & 0x00ffffffu);
}

Parsed<std::pair<std::uint16_t, std::uint16_t>> parse_port_range(std::string_view text,
                                                                 int max_ports) {
  using R = Parsed<std::pair<std::uint16_t, std::uint16_t>>;
  auto dash = text.find('-');
  auto first_text = text.substr(0, dash);
  auto last_text = dash == std::string_view::npos ? first_text : text.substr(dash + 1);
  auto first = parse_digits(first_text, 9);
  auto last = parse_digits(last_text, 9);
  if (!first || !last)
    return R::fail(
        fmt::format("{} is not a port or port range (e.g. 389 or 58978-58979)", quote(text)));
  for (auto p : {*first, *last})
    if (p < 1 || p > 65535) return R::fail(fmt::format("port {} is out of range 1..65535", p));
  if (*first > *last)
    return R::fail(
        fmt::format("port range {} is reversed (write {}-{})", quote(text), *last, *first));
  auto count = *last - *first + 1;
  if (count > max_ports)
    return R::fail(fmt::format("port range {} has {} ports; the limit is {} per range", quote(text),
                               count, max_ports));
  return R::ok({static_cast<std::uint16_t>(*first), static_cast<std::uint16_t>(*last)});
}

Parsed<std::pair<int, int>> parse_status_range(std::string_view text) {
  using R = Parsed<std::pair<int, int>>;
  auto dash = text.find('-');
  auto first = parse_digits(text.substr(0, dash), 3);
  auto last = dash == std::string_view::npos ? first : parse_digits(text.substr(dash + 1), 3);
  if (!first || !last)
    return R::fail(
        fmt::format("{} is not an HTTP status or range (e.g. 200 or 200-399)", quote(text)));
  for (auto s : {*first, *last})
    if (s < 100 || s > 599)
      return R::fail(fmt::format("HTTP status {} is out of range 100..599", s));
  if (*first > *last)
    return R::fail(
        fmt::format("status range {} is reversed (write {}-{})", quote(text), *last, *first));
  return R::ok({static_cast<int>(*first), static_cast<int>(*last)});
}

Parsed<HostPort> parse_host_port(std::string_view text) {
  using R = Parsed<HostPort>;
  std::string_view host;
  std::string_view port;
  if (text.starts_with("[")) {
    auto close = text.find("]:");
    if (close == std::string_view::npos)
      return R::fail(fmt::format("{} is not [ADDRESS]:PORT (e.g. [::1]:9465)", quote(text)));
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos)
      return R::fail(fmt::format("{} is not ADDRESS:PORT (e.g. 127.0.0.1:9465)", quote(text)));
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos)
      return R::fail(
          fmt::format("{}: an IPv6 address needs brackets, e.g. [::1]:9465", quote(text)));
  }
  auto addr = net::Address::parse(host);
  if (!addr)
    return R::fail(fmt::format(
        "{} is not an IP address (names are not resolved; use e.g. 127.0.0.1)", quote(host)));
  if (text.starts_with("[") && !addr->is_v6())
    return R::fail(fmt::format("{}: brackets are only for IPv6 addresses", quote(text)));
  auto p = parse_digits(port, 9);
  if (!p || *p < 1 || *p > 65535)
    return R::fail(fmt::format("{} is not a port 1..65535", quote(port)));
  return R::ok({*addr, static_cast<std::uint16_t>(*p)});
}

bool valid_interface_name(std::string_view name) {
  if (name.empty() || name.size() > 15 || name == "." || name == "..") return false;
  for (char c : name) {
    auto u = static_cast<unsigned char>(c);
    if (c == '/' || c == ':' || u <= 0x20 || u >= 0x7f) return false;
  }
  return true;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  const std::size_t n = a.size();
  const std::size_t m = b.size();
  auto lower = [](char c) {
    return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  };
  std::vector<std::size_t> d((n + 1) * (m + 1));
  auto at = [&](std::size_t i, std::size_t j) -> std::size_t& { return d[i * (m + 1) + j]; };
  for (std::size_t i = 0; i <= n; ++i) at(i, 0) = i;
  for (std::size_t j = 0; j <= m; ++j) at(0, j) = j;
  for (std::size_t i = 1; i <= n; ++i) {
    for (std::size_t j = 1; j <= m; ++j) {
      std::size_t cost = lower(a[i - 1]) == lower(b[j - 1]) ? 0 : 1;
      at(i, j) = std::min({at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost});
      if (i > 1 && j > 1 && lower(a[i - 1]) == lower(b[j - 2]) &&
          lower(a[i - 2]) == lower(b[j - 1]))
        at(i, j) = std::min(at(i, j), at(i - 2, j - 2) + 1);
    }
  }
  return at(n, m);
}

std::optional<std::string> suggest(std::string_view word,
                                   std::span<const std::string_view> candidates) {
  // Names people bring from keepalived.conf, mapped to ours; offered only where
  // that key exists in the current context.
  static constexpr std::pair<std::string_view, std::string_view> kAliases[] = {
      {"virtual_router_id", "vrid"},
      {"virtual_ipaddress", "vips"},
      {"advert_int", "advert_interval"},
      {"nopreempt", "preempt"},
      {"unicast_peer", "unicast"},
      {"unicast_src_ip", "unicast"},
      {"track_interface", "track"},
      {"track_script", "track"},
      {"notify_master", "notify"},
      {"lb_algo", "scheduler"},
      {"lb_kind", "forward"},
      {"real_server", "backends"},
      {"delay_loop", "interval"},
      {"persistence_timeout", "persistence"},
      {"connect_timeout", "timeout"},
      {"connect_port", "port"},
      {"virtual_server", "services"},
      {"vrrp_instance", "vrrp"},
      {"state", "priority"},
      {"virtual_ip", "vips"},
  };
  for (auto [alias, ours] : kAliases)
    if (word == alias && std::find(candidates.begin(), candidates.end(), ours) != candidates.end())
      return std::string(ours);
  // Long words cannot be typos of our short keys, and the distance is quadratic.
  if (word.empty() || word.size() > 64) return std::nullopt;
  std::optional<std::string> best;
  std::size_t best_distance = 0;
  for (auto c : candidates) {
    std::size_t limit = c.size() <= 4 ? 1 : c.size() <= 8 ? 2 : 3;
    std::size_t dist = edit_distance(word, c);
    if (dist <= limit && (!best || dist < best_distance)) {
      best = std::string(c);
      best_distance = dist;
    }
  }
  return best;
}

std::string did_you_mean(std::string_view word, std::span<const std::string_view> candidates) {
  auto s = suggest(word, candidates);
  return s ? fmt::format("; did you mean '{}'?", *s) : std::string{};
}

}  // namespace l4lb::config
