#include "ipvs/table.hpp"

#include <fmt/format.h>

namespace l4lb::ipvs {

std::string_view to_string(Protocol p) {
  switch (p) {
    case Protocol::tcp:
      return "tcp";
    case Protocol::udp:
      return "udp";
    case Protocol::fwmark:
      return "fwmark";
  }
  return "?";
}

std::string_view to_string(Forward f) {
  switch (f) {
    case Forward::masq:
      return "masq";
    case Forward::local:
      return "local";
    case Forward::tunnel:
      return "tunnel";
    case Forward::route:
      return "route";
  }
  return "?";
}

ServiceKey ServiceKey::mark(net::Family family, std::uint32_t mark) {
  ServiceKey k;
  k.protocol = Protocol::fwmark;
  k.address = family == net::Family::v4 ? net::Address() : *net::Address::parse("::");
  k.fwmark = mark;
  return k;
}

std::string ServiceKey::to_string() const {
  if (protocol == Protocol::fwmark) {
    return fmt::format("fwmark {} {}", fwmark, net::family_name(family()));
  }
  return fmt::format("{} {}", ipvs::to_string(protocol), address.with_port(port));
}

std::string DestSettings::to_string() const {
  std::string s =
      fmt::format("{} {} weight {}", address.with_port(port), ipvs::to_string(forward), weight);
  if (upper_threshold || lower_threshold) {
    s += fmt::format(" thresholds {}-{}", lower_threshold, upper_threshold);
  }
  return s;
}

std::string ServiceSettings::settings_string() const {
  std::string s = scheduler;
  if (persistent) s += fmt::format(" persistent {} netmask {}", timeout, netmask);
  if (sh_fallback) s += " sh-fallback";
  if (sh_port) s += " sh-port";
  if (one_packet) s += " ops";  // ipvsadm's name for the flag
  return s;
}

std::size_t Table::destination_count() const {
  std::size_t n = 0;
  for (const auto& [k, s] : services) n += s.destinations.size();
  return n;
}

bool Table::operator==(const Table& o) const {
  if (services.size() != o.services.size()) return false;
  for (auto a = services.begin(), b = o.services.begin(); a != services.end(); ++a, ++b) {
    if (a->first != b->first || !a->second.same_settings(b->second)) return false;
    const auto& da = a->second.destinations;
    const auto& db = b->second.destinations;
    if (da.size() != db.size()) return false;
    for (auto x = da.begin(), y = db.begin(); x != da.end(); ++x, ++y) {
      if (x->first != y->first || !x->second.same_settings(y->second)) return false;
    }
  }
  return true;
}

std::string format_table(const Table& t) {
  std::string out;
  for (const auto& [key, svc] : t.services) {
    out += fmt::format("{} {}\n", key.to_string(), svc.settings_string());
    for (const auto& [dk, d] : svc.destinations) out += fmt::format("  -> {}\n", d.to_string());
  }
  return out;
}

}  // namespace l4lb::ipvs
