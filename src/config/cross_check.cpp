// Rules that need the whole config: conflicts between instances and between
// services, and references from instances to services.
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>
#include <tuple>
#include <unordered_map>

#include "config/schema.hpp"
#include "config/values.hpp"

namespace l4lb::config {
namespace {

std::set<net::Family> families(const VrrpInstance& inst) {
  std::set<net::Family> out;
  for (const auto& p : inst.vips) out.insert(p.address.family());
  return out;
}

struct VirtualKey {
  net::Address vip;
  std::uint16_t port;
  Protocol protocol;
  bool operator==(const VirtualKey&) const = default;
};
struct VirtualKeyHash {
  std::size_t operator()(const VirtualKey& k) const noexcept {
    return std::hash<net::Address>{}(k.vip) * 131 + k.port * 2 +
           static_cast<std::size_t>(k.protocol);
  }
};

void check_vrrp(const Config& c, const Marks& marks, Reporter& r) {
  // VRRPv3 (RFC 5798) keeps separate virtual routers per address family: an IPv4
  // and an IPv6 router may share a VRID on one link (their adverts differ in IP
  // version and their virtual MACs differ: 00-00-5E-00-01-XX vs 00-00-5E-00-02-XX).
  // Two routers of the same family with one VRID on one interface would fight over
  // the same virtual MAC, so that is the conflict.
  std::map<std::tuple<std::string, int, net::Family>, std::size_t> vrids;
  std::unordered_map<net::Address, std::size_t> owners;
  for (std::size_t i = 0; i < c.vrrp.size(); ++i) {
    const auto& inst = c.vrrp[i];
    for (auto fam : families(inst)) {
      auto [it, fresh] = vrids.emplace(std::tuple{inst.interface, int{inst.vrid}, fam}, i);
      if (!fresh) {
        const auto& first = c.vrrp[it->second];
        r.error(marks.vrrp[i].vrid,
                fmt::format("vrid: {} is already used for {} on {} by vrrp instance '{}' (line "
                            "{})",
                            inst.vrid, net::family_name(fam), inst.interface, first.name,
                            first.location.line));
      }
    }
    for (std::size_t k = 0; k < inst.vips.size(); ++k) {
      const auto& a = inst.vips[k].address;
      auto [it, fresh] = owners.emplace(a, i);
      if (!fresh) {
        const auto& first = c.vrrp[it->second];
        r.error(marks.vrrp[i].vips[k],
                fmt::format("vips: {} is already a VIP of vrrp instance '{}' (line {})",
                            a.to_string(), first.name, first.location.line));
      }
    }
  }
}

void check_services(const Config& c, const Marks& marks, Reporter& r) {
  std::unordered_map<VirtualKey, std::size_t, VirtualKeyHash> owner;
  for (std::size_t i = 0; i < c.services.size(); ++i) {
    const auto& s = c.services[i];
    // One message per pair of services, however many ports collide.
    std::map<std::size_t, std::pair<std::size_t, std::size_t>>
        clashes;  // other -> (first port idx, count)
    for (std::size_t k = 0; k < s.ports.size(); ++k) {
      auto [it, fresh] = owner.emplace(VirtualKey{s.vip, s.ports[k], s.protocol}, i);
      if (fresh || it->second == i) continue;
      auto [cl, added] = clashes.emplace(it->second, std::pair{k, std::size_t{0}});
      ++cl->second.second;
    }
    for (auto [other, info] : clashes) {
      auto [k, count] = info;
      const auto& o = c.services[other];
      std::string more = count > 1 ? fmt::format(" (and {} more port(s))", count - 1) : "";
      r.error(marks.services[i].ports[k],
              fmt::format("{}/{} is already defined by service '{}' (line {}){}",
                          s.vip.with_port(s.ports[k]), to_string(s.protocol), o.name,
                          o.location.line, more));
    }
  }
}

void check_static_vips(const Config& c, const Marks& marks, Reporter& r) {
  for (std::size_t i = 0; i < c.services.size(); ++i) {
    const auto& s = c.services[i];
    if (!marks.all_vips.contains(s.vip))
      r.warning_made_by(marks.services[i].vip, [&] {
        return fmt::format(
            "vip: {} of service '{}' is not a VIP of any vrrp instance; it is "
            "treated as a static address that must already be on this node",
            s.vip.to_string(), s.name);
      });
  }
}

}  // namespace

// SNAT of IPVS traffic needs the kernel's conntrack for it (net.ipv4.vs.conntrack=1, which
// l4lbd sets when a service asks for SNAT): an explicit 0 contradicts that.
static void check_snat_conntrack(const Config& config, const Marks& marks, Reporter& r) {
  auto it = config.ipvs.sysctls.find("conntrack");
  if (it == config.ipvs.sysctls.end() || it->second != 0) return;
  for (std::size_t i = 0; i < config.services.size(); ++i)
    if (config.services[i].snat) {
      r.error(config.services[i].location,
              fmt::format(
                  "snat: service '{}' needs ipvs.sysctls.conntrack: 1 (set to 0); "
                  "without it netfilter never sees IPVS's connections to translate",
                  i < marks.services.size() ? marks.services[i].name : config.services[i].name));
      return;
    }
}

// Two fwmark services with one mark would be one IPVS service.
static void check_fwmarks(const Config& config, Reporter& r) {
  std::map<std::uint32_t, std::string> seen;
  for (const auto& s : config.services) {
    if (!s.fwmark) continue;
    auto [it, added] = seen.emplace(*s.fwmark, s.name);
    if (!added)
      r.error(s.location, fmt::format("fwmark: service '{}' has the mark {:#x} of service '{}'; "
                                      "set a distinct fwmark: NUMBER on one of them",
                                      s.name, *s.fwmark, it->second));
  }
}

void cross_check(const Config& config, const Marks& marks, Reporter& r) {
  check_vrrp(config, marks, r);
  check_services(config, marks, r);
  check_static_vips(config, marks, r);
  check_snat_conntrack(config, marks, r);
  check_fwmarks(config, r);
}

void check_track_references(const InstanceMarks& instance, const Marks& marks, Reporter& r) {
  const std::vector<std::string_view>& names = marks.all_service_names;
  for (const auto& t : instance.track_services) {
    if (t.service.empty()) continue;  // unreadable; already reported
    if (std::find(names.begin(), names.end(), t.service) == names.end())
      r.error(t.location, fmt::format("service: unknown service '{}' in track.services of vrrp "
                                      "instance '{}'{}",
                                      t.service, instance.name, did_you_mean(t.service, names)));
  }
}

}  // namespace l4lb::config
