#include "vrrp/link_policy.hpp"

#include <algorithm>

namespace l4lb::vrrp {
namespace {

std::vector<net::Prefix> family_vips(const config::VrrpInstance& cfg, net::Family family) {
  std::vector<net::Prefix> v;
  for (const auto& p : cfg.vips)
    if (p.address.family() == family) v.push_back(p);
  return v;
}

bool has_address(const LinkInfo& link, const net::Address& a) {
  return std::any_of(link.addresses.begin(), link.addresses.end(),
                     [&](const LinkAddress& la) { return la.prefix.address == a; });
}

// The primary address: a configured unicast source, else the first primary (not secondary,
// not tentative) address of the family that is not one of our VIPs; IPv6 adverts come from
// the link-local address (RFC 5798 §5.1.2.1).
std::optional<net::Address> primary_address(const config::VrrpInstance& cfg, net::Family family,
                                            const LinkInfo& link,
                                            const std::vector<net::Prefix>& vips) {
  if (cfg.unicast && cfg.unicast->source.family() == family) return cfg.unicast->source;
  for (const auto& a : link.addresses) {
    if (a.prefix.address.family() != family || a.secondary || a.tentative) continue;
    const bool is_vip = std::any_of(vips.begin(), vips.end(),
                                    [&](const auto& v) { return v.address == a.prefix.address; });
    if (is_vip) continue;
    if (family == net::Family::v6 && !a.prefix.address.is_link_local()) continue;
    return a.prefix.address;
  }
  return std::nullopt;
}

}  // namespace

LinkDecision decide_links(const config::VrrpInstance& cfg, net::Family family,
                          const LinkView& links, const LinkFacts& facts) {
  LinkDecision d;
  auto first = [&](std::string reason) {
    if (d.fault_reason.empty()) d.fault_reason = std::move(reason);
  };
  const auto vips = family_vips(cfg, family);
  const auto link = links.link(cfg.interface);
  if (!link) {
    first("interface " + cfg.interface + " missing");
  } else {
    if (!link->up) first("interface " + cfg.interface + " down");
    if (!facts.socket_open) first("no socket");
    d.primary = primary_address(cfg, family, *link, vips);
    if (!d.primary)
      first(std::string(family == net::Family::v4 ? "no IPv4 address" : "no link-local address") +
            " on " + cfg.interface);
    for (const auto& v : vips)
      if (has_address(*link, v.address)) d.vips_seen.push_back(v);
    // A VIP we added counts as removed once the view is known to have caught up with the
    // add: we saw it there since, or a full re-read ended after the add. Before that, the
    // add's own address event may still be on its way. The re-read matters when events were
    // lost: if both the add's event and a later removal's were dropped, the VIP is never
    // seen, and only the re-read tells that it is gone.
    if (facts.master) {
      for (const auto& v : facts.confirmed)
        if (!has_address(*link, v.address)) d.vips_removed.push_back(v);
      for (const auto& [v, rereads_at_add] : facts.unconfirmed)
        if (links.rereads() > rereads_at_add && !has_address(*link, v.address))
          d.vips_removed.push_back(v);
    }
  }
  // A tracked interface with a weight lowers the priority; one without a weight is a fault.
  for (const auto& t : cfg.track_interfaces) {
    const auto tl = links.link(t.name);
    if (tl && tl->up) continue;
    if (t.weight)
      d.track_weight += *t.weight;
    else
      first("tracked interface " + t.name + (tl ? " down" : " missing"));
  }
  if (!facts.vip_error.empty()) first(facts.vip_error);
  return d;
}

}  // namespace l4lb::vrrp
