// The outcome of one probe and how errors are named. Pure.
#pragma once

#include <boost/system/error_code.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/time.hpp"
#include "config/config.hpp"

namespace l4lb::health {

using Micros = std::chrono::microseconds;

struct ProbeResult {
  bool ok = false;
  std::string reason;  // failure class, "" on success (see classify)
  std::string detail;  // human text: "connection refused", "status 500", ...
  Micros latency{0};   // from the start of the probe to its result

  static ProbeResult success(Micros latency);
  static ProbeResult failure(std::string_view reason, std::string detail, Micros latency);
  std::string error_text() const;  // "reason: detail"
};

// Failure reasons used across checkers (also the metrics label values).
namespace reason {
inline constexpr std::string_view refused = "refused";          // TCP RST to our SYN
inline constexpr std::string_view timeout = "timeout";          // no answer within `timeout`
inline constexpr std::string_view reset = "reset";              // RST after connecting
inline constexpr std::string_view closed = "closed";            // EOF before a full answer
inline constexpr std::string_view unreachable = "unreachable";  // no route / host unreachable
inline constexpr std::string_view icmp_unreachable = "icmp_unreachable";  // UDP port closed
inline constexpr std::string_view bad_response = "bad_response";  // reply != expect, bad HTTP
inline constexpr std::string_view http_status = "http_status";    // status not in expect_status
inline constexpr std::string_view too_large = "too_large";        // over max_response_bytes
inline constexpr std::string_view bind = "bind";                  // source address unusable
inline constexpr std::string_view socket = "socket";              // any other local error
// Our own resources ran out (EMFILE, ENFILE, ENOBUFS, ENOMEM): says nothing about the
// backend, so such a result never moves a backend up or down (Monitor holds its state).
inline constexpr std::string_view local_resources = "local_resources";
}  // namespace reason

// Names a socket error (errno, system category). `udp` turns ECONNREFUSED (how an ICMP port
// unreachable shows on a connected UDP socket) into icmp_unreachable instead of refused.
std::string_view classify_errno(int err, bool udp = false);
// The same for an error code of any category: non-system errors (Asio's eof, ...) are
// "closed" for end-of-file and "socket" otherwise.
std::string_view classify(const boost::system::error_code& ec, bool udp = false);

// Does `reply` satisfy `expect`? Exact match, or with `prefix` only its beginning.
bool reply_matches(std::string_view reply, std::string_view expect, bool prefix);

// Is `status` inside one of the inclusive ranges?
bool status_accepted(int status, const std::vector<std::pair<int, int>>& ranges);

}  // namespace l4lb::health
