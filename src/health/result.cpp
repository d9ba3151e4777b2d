#include "health/result.hpp"

#include <boost/asio/error.hpp>
#include <cerrno>

namespace l4lb::health {

ProbeResult ProbeResult::success(Micros latency) {
  ProbeResult r;
  r.ok = true;
  r.latency = latency;
  return r;
}

ProbeResult ProbeResult::failure(std::string_view reason, std::string detail, Micros latency) {
  ProbeResult r;
  r.ok = false;
  r.reason = std::string(reason);
  r.detail = std::move(detail);
  r.latency = latency;
  return r;
}

std::string ProbeResult::error_text() const {
  if (ok) return {};
  return detail.empty() ? reason : reason + ": " + detail;
}

std::string_view classify(const boost::system::error_code& ec, bool udp) {
  if (ec.category() == boost::system::system_category()) return classify_errno(ec.value(), udp);
  if (ec == boost::asio::error::eof) return reason::closed;
  return reason::socket;
}

std::string_view classify_errno(int err, bool udp) {
  switch (err) {
    case ECONNREFUSED:
      return udp ? reason::icmp_unreachable : reason::refused;
    case ECONNRESET:
    case EPIPE:
    case ECONNABORTED:
      return reason::reset;
    case ETIMEDOUT:
      return reason::timeout;
    case EHOSTUNREACH:
    case ENETUNREACH:
    case EHOSTDOWN:
    case ENETDOWN:
      return reason::unreachable;
    case EADDRNOTAVAIL:
    case EADDRINUSE:
      return reason::bind;
    case EMFILE:
    case ENFILE:
    case ENOBUFS:
    case ENOMEM:
      return reason::local_resources;
    default:
      return reason::socket;
  }
}

bool reply_matches(std::string_view reply, std::string_view expect, bool prefix) {
  if (prefix) return reply.substr(0, expect.size()) == expect;
  return reply == expect;
}

bool status_accepted(int status, const std::vector<std::pair<int, int>>& ranges) {
  for (const auto& [lo, hi] : ranges)
    if (status >= lo && status <= hi) return true;
  return false;
}

}  // namespace l4lb::health
