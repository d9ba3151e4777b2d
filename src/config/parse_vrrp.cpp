// The `vrrp:` section: one VRRPv3 virtual router per item.
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <set>

#include "config/keys.hpp"
#include "config/schema.hpp"
#include "config/values.hpp"

namespace l4lb::config {
namespace {

// VRRPv3 carries the advertisement interval in centiseconds in 12 bits.
constexpr Duration kMinAdvert{10};
constexpr Duration kMaxAdvert{40950};

std::optional<std::string> read_interface(const Value& v, Reporter& r) {
  auto s = read_string(v, r);
  if (s && !valid_interface_name(*s)) {
    r.error(v.at, fmt::format("{}: '{}' is not a valid interface name (1..15 characters, no '/', "
                              "':' or spaces)",
                              v.name, *s));
    return std::nullopt;
  }
  return s;
}

bool usable_vip(const net::Address& a) { return !a.is_unspecified() && !a.is_multicast(); }

// Returns the source when it could be read, so the family rules can still be checked.
std::optional<net::Address> parse_unicast(const Value& v, VrrpInstance& inst, Reporter& r,
                                          bool& ok) {
  MapView m(v, "unicast", kUnicastKeys, r);
  if (!m.valid()) {
    ok = false;
    return std::nullopt;
  }
  Unicast u;
  const Value* src = m.require("source", "unicast");
  const Value* peers = m.require("peers", "unicast");
  std::optional<net::Address> source;
  if (src) source = read_address(*src, r);
  if (src && source && !usable_vip(*source)) {
    r.error(src->at, fmt::format("source: {} cannot be a unicast source (unspecified or multicast)",
                                 source->to_string()));
    source.reset();
  }
  if (!source) ok = false;
  if (source) u.source = *source;
  if (peers) {
    std::set<net::Address> seen;
    bool listed = for_each_item(*peers, r, [&](const Value& item) {
      auto a = read_address(item, r);
      if (!a) {
        ok = false;
        return;
      }
      if (!usable_vip(*a)) {
        r.error(item.at, fmt::format("{}: {} cannot be a unicast peer (unspecified or multicast)",
                                     item.name, a->to_string()));
        ok = false;
      } else if (source && a->family() != source->family()) {
        r.error(item.at, fmt::format("{}: peer {} is {} but the unicast source {} is {}", item.name,
                                     a->to_string(), net::family_name(a->family()),
                                     source->to_string(), net::family_name(source->family())));
        ok = false;
      } else if (source && *a == *source) {
        r.error(item.at, fmt::format("{}: {} is this router's own unicast source", item.name,
                                     a->to_string()));
        ok = false;
      } else if (!seen.insert(*a).second) {
        r.error(item.at, fmt::format("{}: peer {} is listed twice", item.name, a->to_string()));
        ok = false;
      }
      u.peers.push_back(*a);
    });
    if (!listed) ok = false;
    if (listed && u.peers.empty() && peers->node.IsDefined()) {
      r.error(peers->at, "peers: a unicast instance needs at least one peer");
      ok = false;
    }
  } else {
    ok = false;
  }
  inst.unicast = u;
  return source;
}

void parse_track(const Value& v, VrrpInstance& inst, Reporter& r, bool& ok) {
  MapView m(v, "track", kTrackKeys, r);
  if (!m.valid()) {
    ok = false;
    return;
  }
  if (auto* ifs = m.find("interfaces")) {
    ok &= for_each_item(*ifs, r, [&](const Value& item) {
      TrackInterface t;
      t.location = item.at;
      if (item.node.IsScalar()) {  // shorthand: "- eth0" = FAULT while eth0 is down
        auto name = read_interface(item, r);
        if (!name) ok = false;
        if (name) t.name = *name;
        inst.track_interfaces.push_back(t);
        return;
      }
      MapView tm(item, "track.interfaces item", kTrackInterfaceKeys, r);
      if (!tm.valid()) {
        ok = false;
        return;
      }
      if (auto* n = tm.require("name", "track.interfaces item")) {
        auto name = read_interface(*n, r);
        if (name)
          t.name = *name;
        else
          ok = false;
      } else {
        ok = false;
      }
      if (auto* w = tm.find("weight")) {
        auto weight = read_int(*w, -254, 254, r);
        if (weight && *weight == 0) {
          r.error(w->at,
                  "weight: 0 has no effect; omit weight to go to FAULT while the interface "
                  "is down");
          weight.reset();
        }
        if (weight)
          t.weight = static_cast<int>(*weight);
        else
          ok = false;
      }
      inst.track_interfaces.push_back(t);
    });
  }
  if (auto* svcs = m.find("services")) {
    ok &= for_each_item(*svcs, r, [&](const Value& item) {
      TrackService t;
      t.location = item.at;
      MapView tm(item, "track.services item", kTrackServiceKeys, r);
      if (!tm.valid()) {
        ok = false;
        return;
      }
      const Value* s = tm.require("service", "track.services item");
      const Value* w = tm.require("weight", "track.services item");
      if (s) {
        t.location = s->at;
        auto name = read_string(*s, r);
        if (name)
          t.service = *name;
        else
          ok = false;
      }
      if (w) {
        auto weight = read_int(*w, -254, 254, r);
        if (weight && *weight == 0) {
          r.error(w->at,
                  "weight: 0 has no effect; use a negative weight to lower the priority "
                  "while the service is below quorum");
          weight.reset();
        }
        if (weight)
          t.weight = static_cast<int>(*weight);
        else
          ok = false;
      }
      if (!s || !w) ok = false;
      inst.track_services.push_back(t);
    });
  }
}

void parse_garp(const Value& v, Garp& g, Reporter& r, bool& ok) {
  MapView m(v, "garp", kGarpKeys, r);
  if (!m.valid()) {
    ok = false;
    return;
  }
  if (auto* f = m.find("repeat")) {
    auto x = read_int(*f, 0, 100, r);
    if (x)
      g.repeat = static_cast<int>(*x);
    else
      ok = false;
  }
  if (auto* f = m.find("interval")) {
    auto x = read_duration(*f, Duration{0}, Duration{1000}, r);
    if (x)
      g.interval = *x;
    else
      ok = false;
  }
  if (auto* f = m.find("refresh")) {
    auto x = read_duration(*f, Duration{0}, Duration{24 * 3600 * 1000}, r);
    if (x && x->count() != 0 && *x < Duration{1000}) {
      r.error(f->at, "refresh: use 0s (off) or at least 1s");
      x.reset();
    }
    if (x)
      g.refresh = *x;
    else
      ok = false;
  }
}

}  // namespace

std::optional<VrrpInstance> parse_vrrp_instance(const Value& v, InstanceMarks& marks, Reporter& r) {
  MapView m(v, "vrrp instance", kInstanceKeys, r);
  if (!m.valid()) return std::nullopt;
  VrrpInstance inst;
  inst.location = v.at;
  bool ok = true;

  if (auto* f = m.require("name", "vrrp instance")) {
    marks.name_at = f->at;
    if (auto s = read_name(*f, r)) {
      inst.name = *s;
      marks.name = *s;
    } else {
      ok = false;
    }
  } else {
    ok = false;
  }
  if (auto* f = m.require("interface", "vrrp instance")) {
    auto s = read_interface(*f, r);
    if (s)
      inst.interface = *s;
    else
      ok = false;
  } else {
    ok = false;
  }
  if (auto* f = m.require("vrid", "vrrp instance")) {
    marks.vrid = f->at;
    auto x = read_int(*f, 1, 255, r);
    if (x)
      inst.vrid = static_cast<std::uint8_t>(*x);
    else
      ok = false;
  } else {
    ok = false;
  }
  if (auto* f = m.find("priority")) {
    auto x = read_int(*f, 1, 255, r);
    if (x)
      inst.priority = static_cast<std::uint8_t>(*x);
    else
      ok = false;
  }
  if (auto* f = m.find("advert_interval")) {
    auto x = read_duration(*f, kMinAdvert, kMaxAdvert, r);
    if (x && x->count() % 10 != 0) {
      r.error(f->at, fmt::format("advert_interval: {} is not a multiple of 10ms (VRRPv3 sends it "
                                 "in centiseconds)",
                                 format_duration(*x)));
      x.reset();
    }
    if (x)
      inst.advert_interval = *x;
    else
      ok = false;
  }
  if (auto* f = m.find("preempt")) {
    auto x = read_bool(*f, r);
    if (x)
      inst.preempt = *x;
    else
      ok = false;
  }
  if (auto* f = m.find("preempt_delay")) {
    auto x = read_duration(*f, Duration{0}, Duration{3600 * 1000}, r);
    if (x)
      inst.preempt_delay = *x;
    else
      ok = false;
    if (x && x->count() > 0 && !inst.preempt)
      r.warning(f->at, "preempt_delay: has no effect with preempt: false");
  }
  if (auto* f = m.find("accept_mode")) {
    auto x = read_bool(*f, r);
    if (x)
      inst.accept_mode = *x;
    else
      ok = false;
  }
  if (auto* f = m.require("vips", "vrrp instance")) {
    std::set<net::Address> seen;
    bool listed = for_each_item(*f, r, [&](const Value& item) {
      auto p = read_prefix(item, r);
      if (!p) {
        ok = false;
        return;
      }
      if (!usable_vip(p->address)) {
        r.error(item.at, fmt::format("{}: {} cannot be a virtual address (unspecified or "
                                     "multicast)",
                                     item.name, p->address.to_string()));
        ok = false;
        return;
      }
      if (!seen.insert(p->address).second) {
        r.error(item.at, fmt::format("{}: {} is listed twice", item.name, p->address.to_string()));
        ok = false;
        return;
      }
      inst.vips.push_back(*p);
      marks.vips.push_back(item.at);
    });
    if (!listed) ok = false;
    if (listed && seen.empty() && ok) {
      r.error(f->at, "vips: a vrrp instance needs at least one virtual address");
      ok = false;
    }
    // VRRPv3's "Count IPvX Addr" field is one byte.
    for (auto fam : {net::Family::v4, net::Family::v6}) {
      auto n = std::count_if(inst.vips.begin(), inst.vips.end(),
                             [&](const net::Prefix& p) { return p.address.family() == fam; });
      if (n > 255) {
        r.error(f->at, fmt::format("vips: {} {} addresses; VRRPv3 carries at most 255 per family",
                                   n, net::family_name(fam)));
        ok = false;
      }
    }
  } else {
    ok = false;
  }
  if (auto* f = m.find("unicast")) {
    auto source = parse_unicast(*f, inst, r, ok);
    // One VRRP machine runs per address family, and a unicast machine needs a
    // source of its own family: a dual-stack unicast instance would leave one
    // family without a transport, so it must be split in two instances.
    if (source) {
      for (std::size_t i = 0; i < inst.vips.size(); ++i) {
        const auto& a = inst.vips[i].address;
        if (a.family() != source->family()) {
          r.error(marks.vips[i],
                  fmt::format("vips: {} is {} but the unicast source {} is {}; a unicast "
                              "instance carries one family (put the {} addresses in their own "
                              "instance)",
                              a.to_string(), net::family_name(a.family()), source->to_string(),
                              net::family_name(source->family()), net::family_name(a.family())));
          ok = false;
          break;
        }
      }
    }
  }
  if (auto* f = m.find("track")) parse_track(*f, inst, r, ok);
  if (auto* f = m.find("garp")) parse_garp(*f, inst.garp, r, ok);
  if (auto* f = m.find("notify")) {
    auto p = read_path(*f, 4096, r);
    if (p)
      inst.notify = *p;
    else
      ok = false;
  }
  if (auto* f = m.find("notify_timeout")) {
    auto x = read_duration(*f, Duration{100}, Duration{600 * 1000}, r);
    if (x)
      inst.notify_timeout = *x;
    else
      ok = false;
  }
  marks.track_services = inst.track_services;
  for (const auto& p : inst.vips) marks.vip_addresses.push_back(p.address);
  if (!ok) return std::nullopt;
  return inst;
}

}  // namespace l4lb::config
