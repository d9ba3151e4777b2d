// A service's `health:` block. Which keys apply depends on `type`.
#include <fmt/format.h>

#include <algorithm>
#include <array>

#include "config/keys.hpp"
#include "config/schema.hpp"
#include "config/values.hpp"

namespace l4lb::config {
namespace {

// A UDP datagram's largest payload over IPv4.
constexpr std::size_t kMaxPayload = 65507;

bool contains(std::span<const std::string_view> keys, std::string_view key) {
  return std::find(keys.begin(), keys.end(), key) != keys.end();
}

bool printable_no_space(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u > 0x20 && u != 0x7f;
  });
}

// Reads a string into `out` when `valid` accepts it; otherwise reports `problem`.
// (Filling `out` directly, rather than resetting an optional<string>, also keeps
// g++ 12's -Wmaybe-uninitialized quiet at -O2.)
template <typename Valid>
bool read_string_into(const Value& f, Reporter& r, std::string& out, Valid valid,
                      std::string_view problem) {
  auto s = read_string(f, r);
  if (!s) return false;
  if (!valid(*s)) {
    r.error(f.at, fmt::format("{}: {}", f.name, problem));
    return false;
  }
  out = std::move(*s);
  return true;
}

bool read_status(const Value& item, std::vector<std::pair<int, int>>& out, Reporter& r) {
  if (!item.node.IsScalar()) {
    r.error(item.at, fmt::format("{}: expected a status such as 200 or \"200-399\", got {}",
                                 item.name, describe(item.node)));
    return false;
  }
  auto s = parse_status_range(item.node.Scalar());
  if (!s) {
    r.error(item.at, fmt::format("{}: {}", item.name, s.error));
    return false;
  }
  out.push_back(*s.value);
  return true;
}

}  // namespace

bool parse_health(const Value& v, Health& h, Reporter& r) {
  MapView m(v, "health", kHealthKeys, r);
  if (!m.valid()) return false;
  bool ok = true;
  if (auto* f = m.find("type")) {
    auto t = read_enum(*f, kHealthTypes, r);
    if (!t) return false;  // without a type the other keys cannot be judged
    h.type = static_cast<HealthType>(*t);
  }
  for (const auto& f : m.fields()) {
    std::string_view key = f.name.base;  // a key: never an item
    bool applies =
        h.type == HealthType::none   ? key == "type"
        : contains(kCommonKeys, key) ? true
        : h.type == HealthType::http
            ? contains(kHttpKeys, key)
            : contains(kPayloadKeys, key) || (h.type == HealthType::tcp && contains(kTcpKeys, key));
    if (applies) continue;
    if (h.type == HealthType::none)
      r.error(f.key_at, fmt::format("health: '{}' does not apply to type none", key));
    else
      r.error(f.key_at, fmt::format("health: '{}' applies only to {} checks (this one is {})", key,
                                    contains(kHttpKeys, key)  ? "http"
                                    : contains(kTcpKeys, key) ? "tcp"
                                                              : "tcp and udp",
                                    to_string(h.type)));
    ok = false;
  }
  if (auto* f = m.find("port")) {
    auto x = read_int(*f, 1, 65535, r);
    if (x)
      h.port = static_cast<std::uint16_t>(*x);
    else
      ok = false;
  }
  if (auto* f = m.find("per_port")) {
    auto b = read_bool(*f, r);
    if (b && *b && h.port) {
      r.error(f->at, fmt::format("per_port: true contradicts 'port: {}', which checks one port for "
                                 "all the service's ports; drop one of the two",
                                 *h.port));
      b.reset();
    }
    if (b)
      h.per_port = *b;
    else
      ok = false;
  }
  if (auto* f = m.find("address")) {
    auto a = read_address(*f, r);
    if (a)
      h.address = *a;
    else
      ok = false;
  }
  if (auto* f = m.find("source")) {
    auto a = read_address(*f, r);
    if (a && h.address && a->family() != h.address->family()) {
      r.error(f->at, fmt::format("source: {} is {} but the check address {} is {}", a->to_string(),
                                 net::family_name(a->family()), h.address->to_string(),
                                 net::family_name(h.address->family())));
      a.reset();
    }
    if (a)
      h.source = *a;
    else
      ok = false;
  }
  if (auto* f = m.find("interval")) {
    auto x = read_duration(*f, Duration{100}, Duration{3600 * 1000}, r);
    if (x)
      h.interval = *x;
    else
      ok = false;
  }
  if (auto* f = m.find("timeout")) {
    auto x = read_duration(*f, Duration{10}, Duration{3600 * 1000}, r);
    if (x)
      h.timeout = *x;
    else
      ok = false;
  }
  if (h.timeout > h.interval && h.type != HealthType::none) {
    const Value* f = m.find("timeout");
    r.error(f ? f->at : m.at(),
            fmt::format("timeout: {} is longer than the interval {}; a check must finish before "
                        "the next one starts",
                        format_duration(h.timeout), format_duration(h.interval)));
    ok = false;
  }
  for (auto [key, target] : {std::pair{"rise", &h.rise}, std::pair{"fall", &h.fall}}) {
    if (auto* f = m.find(key)) {
      auto x = read_int(*f, 1, 100, r);
      if (x)
        *target = static_cast<int>(*x);
      else
        ok = false;
    }
  }
  auto payload_ok = [](const std::string& s) { return s.size() <= kMaxPayload; };
  if (auto* f = m.find("send"))
    ok &= read_string_into(*f, r, h.send, payload_ok, "longer than 65507 bytes");
  if (auto* f = m.find("expect")) {
    std::string expect;
    bool read = read_string_into(*f, r, expect, payload_ok, "longer than 65507 bytes");
    if (read) h.expect = std::move(expect);
    ok &= read;
  }
  if (auto* f = m.find("expect_prefix")) {
    auto b = read_bool(*f, r);
    if (b)
      h.expect_prefix = *b;
    else
      ok = false;
    if (b && *b && !m.has("expect"))
      r.warning(f->at, "expect_prefix: has no effect without 'expect'");
  }
  if (auto* f = m.find("handshake")) {
    auto x = read_enum(*f, kHandshakes, r);
    if (x)
      h.handshake = static_cast<Handshake>(*x);
    else
      ok = false;
    if (x && h.handshake == Handshake::half_open && (m.has("send") || m.has("expect"))) {
      r.error(f->at,
              "handshake: half-open sends nothing after the SYN-ACK, so it cannot check "
              "'send'/'expect'; use full (or leave the default, auto)");
      ok = false;
    }
  }
  if (auto* f = m.find("path"))
    ok &= read_string_into(
        *f, r, h.path,
        [](const std::string& s) {
          return !s.empty() && s[0] == '/' && s.size() <= 2048 && printable_no_space(s);
        },
        "must start with '/' and contain no spaces (at most 2048 bytes)");
  if (auto* f = m.find("host"))
    ok &= read_string_into(
        *f, r, h.host,
        [](const std::string& s) { return !s.empty() && s.size() <= 255 && printable_no_space(s); },
        "must be 1..255 characters without spaces");
  if (auto* f = m.find("expect_status")) {
    std::vector<std::pair<int, int>> statuses;
    if (f->node.IsSequence()) {
      ok &= for_each_item(*f, r, [&](const Value& item) { ok &= read_status(item, statuses, r); });
      if (f->node.size() == 0) {
        r.error(f->at, "expect_status: needs at least one status or range");
        ok = false;
      }
    } else {
      ok &= read_status(*f, statuses, r);
    }
    if (!statuses.empty()) h.expect_status = statuses;
  }
  if (auto* f = m.find("max_response_bytes")) {
    auto x = read_int(*f, 1, 16 * 1024 * 1024, r);
    if (x)
      h.max_response_bytes = static_cast<std::size_t>(*x);
    else
      ok = false;
  }
  return ok;
}

}  // namespace l4lb::config
