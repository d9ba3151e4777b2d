// The `services:` section: one IPVS virtual service per (vip, port, protocol).
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <bitset>
#include <memory>
#include <set>

#include "config/keys.hpp"
#include "config/schema.hpp"
#include "config/values.hpp"

namespace l4lb::config {
namespace {

constexpr Duration kMaxPersistence{30LL * 24 * 3600 * 1000};

void parse_ports(const Value* port, const Value* ports, int max_ports, Service& s,
                 ServiceMarks& marks, Reporter& r, bool& ok) {
  // Made on the first list entry only: a single `port:` (one per service in a large file)
  // needs none.
  std::unique_ptr<std::bitset<65536>> seen;
  auto add_entry = [&](const Value& item) {
    if (!item.node.IsScalar()) {
      r.error(item.at, fmt::format("{}: expected a port or \"FIRST-LAST\" range, got {}", item.name,
                                   describe(item.node)));
      ok = false;
      return;
    }
    auto range = parse_port_range(item.node.Scalar(), max_ports);
    if (!range) {
      r.error(item.at, fmt::format("{}: {}", item.name, range.error));
      ok = false;
      return;
    }
    auto [first, last] = *range.value;
    if (!seen) seen = std::make_unique<std::bitset<65536>>();
    for (unsigned p = first; p <= last; ++p) {
      if (seen->test(p)) {
        r.error(item.at, fmt::format("{}: port {} is listed twice", item.name, p));
        ok = false;
        return;
      }
    }
    for (unsigned p = first; p <= last; ++p) seen->set(p);
    for (unsigned p = first; p <= last; ++p) {
      s.ports.push_back(static_cast<std::uint16_t>(p));
      marks.ports.push_back(item.at);
    }
  };
  if (port && ports) {
    r.error(ports->key_at, "ports: use either 'port' or 'ports', not both");
    ok = false;
    return;
  }
  if (port) {
    auto x = read_int(*port, 1, 65535, r);
    if (!x) {
      ok = false;
      return;
    }
    s.ports.push_back(static_cast<std::uint16_t>(*x));
    marks.ports.push_back(port->at);
    return;
  }
  if (ports) {
    if (!for_each_item(*ports, r, add_entry)) {
      ok = false;
      return;
    }
    if (s.ports.empty() && ok) {
      r.error(ports->at, "ports: needs at least one port");
      ok = false;
    }
  }
}

std::optional<net::Address> read_backend_address(const Value& v, const Service& s, bool vip_ok,
                                                 Reporter& r) {
  auto a = read_address(v, r);
  if (!a) return std::nullopt;
  if (a->is_unspecified() || a->is_multicast()) {
    r.error(v.at, fmt::format("{}: {} cannot be a backend (unspecified or multicast)", v.name,
                              a->to_string()));
    return std::nullopt;
  }
  if (vip_ok && a->family() != s.vip.family() && s.forward != Forward::tun) {
    r.error(v.at, fmt::format("{}: backend {} is {} but the VIP {} is {}; IPVS forwards across "
                              "address families only with forward: tun",
                              v.name, a->to_string(), net::family_name(a->family()),
                              s.vip.to_string(), net::family_name(s.vip.family())));
    return std::nullopt;
  }
  return a;
}

std::optional<Backend> parse_backend(const Value& v, const Service& s, bool vip_ok, Reporter& r) {
  Backend b;
  b.location = v.at;
  if (v.node.IsScalar()) {  // shorthand: "- 192.168.1.10" is {address: 192.168.1.10}
    auto a = read_backend_address(v, s, vip_ok, r);
    if (!a) return std::nullopt;
    b.address = *a;
    return b;
  }
  MapView m(v, "backend", kBackendKeys, r);
  if (!m.valid()) return std::nullopt;
  bool ok = true;
  if (auto* f = m.require("address", "backend")) {
    auto a = read_backend_address(*f, s, vip_ok, r);
    if (a)
      b.address = *a;
    else
      ok = false;
  } else {
    ok = false;
  }
  if (auto* f = m.find("port")) {
    auto x = read_int(*f, 1, 65535, r);
    if (x && s.ports.size() > 1) {
      r.error(f->key_at, fmt::format("port: a backend port is only allowed on a single-port "
                                     "service; this one has {} ports and each backend uses the "
                                     "VIP's port",
                                     s.ports.size()));
      x.reset();
    } else if (x && s.forward != Forward::nat && s.ports.size() == 1 && *x != s.ports[0]) {
      r.error(f->at, fmt::format("port: forward {} cannot change the port (the VIP port is {}); "
                                 "only nat can",
                                 to_string(s.forward), s.ports[0]));
      x.reset();
    }
    if (x)
      b.port = static_cast<std::uint16_t>(*x);
    else
      ok = false;
  }
  if (auto* f = m.find("weight")) {
    auto x = read_int(*f, 0, 65535, r);
    if (x)
      b.weight = static_cast<std::uint32_t>(*x);
    else
      ok = false;
  }
  if (auto* f = m.find("upper_threshold")) {
    auto x = read_int(*f, 0, 65535, r);
    if (x)
      b.upper_threshold = static_cast<std::uint32_t>(*x);
    else
      ok = false;
  }
  if (auto* f = m.find("lower_threshold")) {
    auto x = read_int(*f, 0, 65535, r);
    if (x && b.upper_threshold != 0 && *x > b.upper_threshold) {
      r.error(f->at, fmt::format("lower_threshold: {} is above upper_threshold {}", *x,
                                 b.upper_threshold));
      x.reset();
    }
    if (x)
      b.lower_threshold = static_cast<std::uint32_t>(*x);
    else
      ok = false;
  }
  if (!ok) return std::nullopt;
  return b;
}

// `snat: true | false | {source: ADDRESS}`: nothing (and reported) on error; an engaged
// optional holding nothing means "no SNAT" (false).
std::optional<std::optional<Snat>> parse_snat(const Value& v, const Service& s, bool vip_ok,
                                              Reporter& r) {
  std::optional<Snat> out;
  if (v.node.IsScalar()) {
    auto x = read_bool(v, r);
    if (!x) return std::nullopt;
    if (*x) out = Snat{};
  } else {
    MapView m(v, "snat", kSnatKeys, r);
    if (!m.valid()) return std::nullopt;
    out = Snat{};
    if (auto* f = m.find("source")) {
      auto a = read_address(*f, r);
      if (!a) return std::nullopt;
      if (a->is_unspecified() || a->is_multicast()) {
        r.error(f->at, fmt::format("snat.source: {} cannot be a source address (unspecified or "
                                   "multicast)",
                                   a->to_string()));
        return std::nullopt;
      }
      if (vip_ok && a->is_v6() != s.vip.is_v6()) {
        r.error(f->at, fmt::format("snat.source: {} is not of the VIP's family ({})",
                                   a->to_string(), s.vip.to_string()));
        return std::nullopt;
      }
      out->source = *a;
    }
  }
  if (out && s.forward != Forward::nat) {
    // dr and tun keep the client's packet as it is: there is nothing to translate back.
    r.error(v.at, fmt::format("snat: only applies to forward: nat (this service uses {})",
                              to_string(s.forward)));
    return std::nullopt;
  }
  return out;
}

}  // namespace

std::optional<Service> parse_service(const Value& v, ServiceMarks& marks, Reporter& r) {
  MapView m(v, "service", kServiceKeys, r);
  if (!m.valid()) return std::nullopt;
  Service s;
  s.location = v.at;
  bool ok = true;

  if (auto* f = m.require("name", "service")) {
    marks.name_at = f->at;
    if (auto n = read_name(*f, r)) {
      s.name = std::move(*n);
      marks.name = f->node.Scalar();  // the same text, kept in the document
    } else {
      ok = false;
    }
  } else {
    ok = false;
  }
  bool vip_ok = false;
  if (auto* f = m.require("vip", "service")) {
    marks.vip = f->at;
    auto a = read_address(*f, r);
    if (a && (a->is_unspecified() || a->is_multicast())) {
      r.error(f->at, fmt::format("vip: {} cannot be a virtual address (unspecified or multicast)",
                                 a->to_string()));
      a.reset();
    }
    if (a) {
      s.vip = *a;
      vip_ok = true;
    } else {
      ok = false;
    }
  } else {
    ok = false;
  }
  const Value* port = m.find("port");
  const Value* ports = m.find("ports");
  if (!port && !ports) {
    r.error(m.at(), "service: missing required key 'port' or 'ports'");
    ok = false;
  } else {
    // A fwmark service is one IPVS service for all its ports: no per-range cap. (Read loosely
    // here; `fwmark` itself is checked below.)
    const Value* fw = m.find("fwmark");
    const bool fwmark_on = fw && fw->node.IsScalar() && parse_bool(fw->node.Scalar()) != false;
    parse_ports(port, ports, fwmark_on ? 65535 : kMaxPortsPerRange, s, marks, r, ok);
  }
  if (auto* f = m.find("protocol")) {
    auto x = read_enum(*f, kProtocols, r);
    if (x)
      s.protocol = static_cast<Protocol>(*x);
    else
      ok = false;
  }
  if (auto* f = m.find("scheduler")) {
    auto x = read_enum(*f, kSchedulers, r);
    if (x)
      s.scheduler = std::string(kSchedulers[*x]);
    else
      ok = false;
  }
  if (auto* f = m.find("scheduler_flags")) {
    std::set<std::size_t> seen;
    ok &= for_each_item(*f, r, [&](const Value& item) {
      auto x = read_enum(item, kSchedulerFlags, r);
      if (!x) {
        ok = false;
        return;
      }
      if (s.scheduler != "sh" && s.scheduler != "mh") {
        r.error(item.at, fmt::format("{}: {} only applies to the sh and mh schedulers (this "
                                     "service uses {})",
                                     item.name, kSchedulerFlags[*x], s.scheduler));
        ok = false;
        return;
      }
      if (!seen.insert(*x).second) {
        r.error(item.at, fmt::format("{}: {} is listed twice", item.name, kSchedulerFlags[*x]));
        ok = false;
        return;
      }
      (*x == 0 ? s.sh_fallback : s.sh_port) = true;
    });
  }
  if (auto* f = m.find("one_packet")) {
    auto x = read_bool(*f, r);
    if (x && *x && s.protocol != Protocol::udp) {
      // IPVS would accept the flag on TCP and ignore it: say so instead of pretending.
      r.error(f->at, fmt::format("one_packet: only applies to protocol: udp (this service is {})",
                                 to_string(s.protocol)));
      x.reset();
    }
    if (x)
      s.one_packet = *x;
    else
      ok = false;
  }
  if (auto* f = m.find("forward")) {
    auto x = read_enum(*f, kForwards, r);
    if (x)
      s.forward = static_cast<Forward>(*x);
    else
      ok = false;
  }
  if (auto* f = m.find("fwmark")) {
    // true: the automatic mark; a number: that mark (to fit the node's own mark plan).
    std::optional<std::uint32_t> mark;
    bool read_ok = true;
    if (f->node.IsScalar() && parse_bool(f->node.Scalar())) {
      if (*parse_bool(f->node.Scalar())) mark = auto_fwmark(s.name);
    } else if (auto x = read_int(*f, 1, 0xffffffffLL, r)) {
      mark = static_cast<std::uint32_t>(*x);
    } else {
      read_ok = false;
    }
    if (read_ok)
      s.fwmark = mark;
    else
      ok = false;
  }
  if (auto* f = m.find("snat")) {
    auto x = parse_snat(*f, s, vip_ok, r);
    if (x)
      s.snat = *x;
    else
      ok = false;
  }
  if (auto* f = m.find("one_packet"); f && s.one_packet && s.forward == Forward::nat)
    // The kernel keeps no connection entry for such datagrams (it does not even hash them), so
    // nothing translates a backend's reply back to the VIP.
    r.warning(f->at,
              "one_packet: with forward: nat, replies from the backends are not translated "
              "back to the VIP (IPVS keeps no connection entry); fine for one-way traffic "
              "such as SNMP traps or syslog, use forward: dr or tun for request/response");
  if (auto* f = m.find("persistence")) {
    auto x = read_duration(*f, Duration{0}, kMaxPersistence, r);
    if (x && x->count() % 1000 != 0) {
      r.error(f->at, fmt::format("persistence: {} is not a whole number of seconds (IPVS counts "
                                 "persistence in seconds)",
                                 format_duration(*x)));
      x.reset();
    }
    if (x)
      s.persistence = *x;
    else
      ok = false;
  }
  if (auto* f = m.find("persistence_netmask")) {
    bool v6 = vip_ok && s.vip.is_v6();
    auto x = read_int(*f, v6 ? 1 : 0, v6 ? 128 : 32, r);
    if (x)
      s.persistence_netmask = static_cast<std::uint8_t>(*x);
    else
      ok = false;
    if (x && s.persistence.count() == 0)
      r.warning(f->at, "persistence_netmask: has no effect without persistence");
  }
  if (auto* f = m.find("on_failure")) {
    auto x = read_enum(*f, kOnFailure, r);
    if (x)
      s.on_failure = static_cast<OnFailure>(*x);
    else
      ok = false;
  }
  if (auto* f = m.find("wait_first_check")) {
    auto x = read_bool(*f, r);
    if (x)
      s.wait_first_check = *x;
    else
      ok = false;
  }
  if (auto* f = m.find("health")) {
    Health h;
    ok &= parse_health(*f, h, r);
    s.health = SharedHealth(std::move(h));
    s.health_location = f->at;
  }
  bool backends_ok = true;
  if (auto* f = m.find("backends")) {
    // A short list is searched as it is; a long one through a set, made when it gets long
    // (a set per service was 8 allocations for the usual 8 backends).
    constexpr std::size_t kScanUpTo = 16;
    std::set<std::pair<net::Address, int>> seen;
    auto listed = [&](const Backend& b) {
      const std::pair<net::Address, int> key{b.address, b.port ? *b.port : -1};
      if (s.backends.size() < kScanUpTo)
        return std::any_of(s.backends.begin(), s.backends.end(), [&](const Backend& o) {
          return o.address == b.address && o.port == b.port;
        });
      if (seen.empty())
        for (const auto& o : s.backends) seen.insert({o.address, o.port ? *o.port : -1});
      return !seen.insert(key).second;
    };
    if (f->node.IsSequence()) s.backends.reserve(f->node.size());
    backends_ok =
        for_each_item(*f, r,
                      [&](const Value& item) {
                        auto b = parse_backend(item, s, vip_ok, r);
                        if (!b) {
                          backends_ok = false;
                          return;
                        }
                        if (listed(*b)) {
                          r.error(item.at, fmt::format("{}: backend {} is listed twice", item.name,
                                                       b->port ? b->address.with_port(*b->port)
                                                               : b->address.to_string()));
                          backends_ok = false;
                          return;
                        }
                        s.backends.push_back(*b);
                      }) &&
        backends_ok;
    ok &= backends_ok;
  }
  if (s.fwmark && s.health->per_port.value_or(false)) {
    r.error(s.health_location,
            "health: per_port: true cannot apply to a fwmark service (one "
            "IPVS service for all its ports; one check per backend decides)");
    ok = false;
  }
  if (s.fwmark)
    for (const auto& b : s.backends)
      if (b.port) {
        // IPVS forwards a fwmark service's connection to the port it was sent to.
        r.error(b.location, fmt::format("port: a fwmark service keeps each connection's own "
                                        "port; backend {} cannot set one",
                                        b.address.to_string()));
        ok = false;
      }
  if (s.health->source && !s.health->address) {
    for (const auto& b : s.backends) {
      if (b.address.family() != s.health->source->family()) {
        r.error(
            s.health_location,
            fmt::format("health: source {} is {} but backend {} is {}",
                        s.health->source->to_string(), net::family_name(s.health->source->family()),
                        b.address.to_string(), net::family_name(b.address.family())));
        ok = false;
        break;
      }
    }
  }
  if (auto* f = m.find("quorum")) {
    auto x = read_int(*f, 0, 65535, r);
    if (x)
      s.quorum = static_cast<int>(*x);
    else
      ok = false;
    if (x && backends_ok && static_cast<std::size_t>(*x) > s.backends.size())
      r.warning(f->at, fmt::format("quorum: {} is more than the {} backend(s); the service is "
                                   "always below quorum",
                                   *x, s.backends.size()));
  } else if (ok && s.backends.empty()) {
    r.warning(m.at(), fmt::format("service '{}': no backends, so it is always below its quorum "
                                  "of 1",
                                  s.name));
  }
  if (!ok) return std::nullopt;
  return s;
}

}  // namespace l4lb::config
