#include "vrrp/link_policy.hpp"

#include <catch2/catch.hpp>
#include <map>

using namespace l4lb;
using namespace l4lb::vrrp;

namespace {

net::Address A(const char* s) { return *net::Address::parse(s); }
net::Prefix P(const char* s) { return *net::Prefix::parse(s); }

struct FakeLinks : LinkView {
  std::map<std::string, LinkInfo> links;
  std::uint64_t reread_count = 0;
  std::uint64_t rereads() const override { return reread_count; }
  std::optional<LinkInfo> link(const std::string& name) const override {
    auto it = links.find(name);
    if (it == links.end()) return std::nullopt;
    return it->second;
  }
  LinkInfo& add(const std::string& name, bool up = true) {
    auto& l = links[name];
    l.name = name;
    l.ifindex = static_cast<int>(links.size());
    l.up = up;
    return l;
  }
};

config::VrrpInstance instance() {
  config::VrrpInstance i;
  i.name = "vi";
  i.interface = "eth1";
  i.vrid = 7;
  i.vips = {P("10.0.0.100/24"), P("2001:db8::100/64")};
  return i;
}

config::TrackInterface track(const char* name, std::optional<int> weight) {
  config::TrackInterface t;
  t.name = name;
  t.weight = weight;
  return t;
}

LinkFacts open_socket() {
  LinkFacts f;
  f.socket_open = true;
  return f;
}

}  // namespace

TEST_CASE("link policy: a healthy link has no fault and picks the first primary address") {
  FakeLinks links;
  auto& l = links.add("eth1");
  l.addresses = {{P("10.0.0.100/24"), false, false},  // our VIP: never the primary
                 {P("10.0.0.2/24"), true, false},     // secondary: skipped
                 {P("10.0.0.1/24"), false, false}};
  auto d = decide_links(instance(), net::Family::v4, links, open_socket());
  CHECK(d.fault_reason.empty());
  REQUIRE(d.primary);
  CHECK(*d.primary == A("10.0.0.1"));
  CHECK(d.track_weight == 0);
  CHECK(d.vips_seen == std::vector<net::Prefix>{P("10.0.0.100/24")});
}

TEST_CASE("link policy: IPv6 adverts come from the link-local address, never a tentative one") {
  FakeLinks links;
  auto& l = links.add("eth1");
  l.addresses = {{P("2001:db8::1/64"), false, false},
                 {P("fe80::1/64"), false, true},
                 {P("fe80::2/64"), false, false}};
  auto d = decide_links(instance(), net::Family::v6, links, open_socket());
  REQUIRE(d.primary);
  CHECK(*d.primary == A("fe80::2"));
  l.addresses.pop_back();
  d = decide_links(instance(), net::Family::v6, links, open_socket());
  CHECK_FALSE(d.primary);
  CHECK(d.fault_reason == "no link-local address on eth1");
}

TEST_CASE("link policy: a unicast source is the primary whatever the link holds") {
  FakeLinks links;
  links.add("eth1").addresses = {{P("10.0.0.1/24"), false, false}};
  auto cfg = instance();
  cfg.unicast = config::Unicast{};
  cfg.unicast->source = A("10.0.0.9");
  auto d = decide_links(cfg, net::Family::v4, links, open_socket());
  REQUIRE(d.primary);
  CHECK(*d.primary == A("10.0.0.9"));
}

TEST_CASE("link policy: fault reasons, first one wins") {
  FakeLinks links;
  auto cfg = instance();
  auto d = decide_links(cfg, net::Family::v4, links, open_socket());
  CHECK(d.fault_reason == "interface eth1 missing");
  CHECK_FALSE(d.primary);

  auto& l = links.add("eth1", false);
  d = decide_links(cfg, net::Family::v4, links, LinkFacts{});
  CHECK(d.fault_reason == "interface eth1 down");
  l.up = true;
  d = decide_links(cfg, net::Family::v4, links, LinkFacts{});
  CHECK(d.fault_reason == "no socket");
  d = decide_links(cfg, net::Family::v4, links, open_socket());
  CHECK(d.fault_reason == "no IPv4 address on eth1");
  l.addresses = {{P("10.0.0.1/24"), false, false}};
  auto facts = open_socket();
  facts.vip_error = "cannot add vip 10.0.0.100/24: Permission denied";
  d = decide_links(cfg, net::Family::v4, links, facts);
  CHECK(d.fault_reason == "cannot add vip 10.0.0.100/24: Permission denied");
}

TEST_CASE("link policy: tracked interfaces lower the priority by weight, or fault without one") {
  FakeLinks links;
  links.add("eth1").addresses = {{P("10.0.0.1/24"), false, false}};
  links.add("uplink1", false);
  auto cfg = instance();
  cfg.track_interfaces = {track("uplink1", -20), track("uplink2", -30)};
  auto d = decide_links(cfg, net::Family::v4, links, open_socket());
  CHECK(d.fault_reason.empty());
  CHECK(d.track_weight == -50);  // one down, one missing
  links.add("uplink2");
  d = decide_links(cfg, net::Family::v4, links, open_socket());
  CHECK(d.track_weight == -20);

  cfg.track_interfaces = {track("uplink1", std::nullopt)};
  d = decide_links(cfg, net::Family::v4, links, open_socket());
  CHECK(d.fault_reason == "tracked interface uplink1 down");
  CHECK(d.track_weight == 0);
  cfg.track_interfaces = {track("gone", std::nullopt)};
  d = decide_links(cfg, net::Family::v4, links, open_socket());
  CHECK(d.fault_reason == "tracked interface gone missing");
}

TEST_CASE("link policy: a confirmed VIP gone from the link is reported only while Master") {
  FakeLinks links;
  auto& l = links.add("eth1");
  l.addresses = {{P("10.0.0.1/24"), false, false}};
  auto facts = open_socket();
  facts.confirmed = {P("10.0.0.100/24")};
  auto d = decide_links(instance(), net::Family::v4, links, facts);
  CHECK(d.vips_removed.empty());  // not Master: VIPs are not expected on the link
  facts.master = true;
  d = decide_links(instance(), net::Family::v4, links, facts);
  CHECK(d.vips_removed == std::vector<net::Prefix>{P("10.0.0.100/24")});
  CHECK(d.fault_reason.empty());  // drift is repaired, not a fault
  l.addresses.push_back({P("10.0.0.100/24"), false, false});
  d = decide_links(instance(), net::Family::v4, links, facts);
  CHECK(d.vips_removed.empty());
  // A VIP we added but never saw yet (its address event is still on its way) is not "removed".
  facts.confirmed.clear();
  l.addresses.pop_back();
  d = decide_links(instance(), net::Family::v4, links, facts);
  CHECK(d.vips_removed.empty());
}

TEST_CASE(
    "link policy: a VIP never seen since its add is removed once a re-read after the add misses "
    "it") {
  // Both the add's event and a later removal's were lost in an overflow: the VIP is never
  // seen, and only a full re-read made after the add can tell that it is gone.
  FakeLinks links;
  auto& l = links.add("eth1");
  l.addresses = {{P("10.0.0.1/24"), false, false}};
  links.reread_count = 3;
  auto facts = open_socket();
  facts.master = true;
  facts.unconfirmed = {{P("10.0.0.100/24"), 3}};  // added when the view had made 3 re-reads
  auto d = decide_links(instance(), net::Family::v4, links, facts);
  CHECK(d.vips_removed.empty());  // no re-read since the add: its event may be on its way
  links.reread_count = 4;
  d = decide_links(instance(), net::Family::v4, links, facts);
  CHECK(d.vips_removed == std::vector<net::Prefix>{P("10.0.0.100/24")});
  l.addresses.push_back({P("10.0.0.100/24"), false, false});  // the re-read shows it
  d = decide_links(instance(), net::Family::v4, links, facts);
  CHECK(d.vips_removed.empty());
  CHECK(d.vips_seen == std::vector<net::Prefix>{P("10.0.0.100/24")});
  facts.master = false;  // a Backup expects no VIP
  l.addresses.pop_back();
  d = decide_links(instance(), net::Family::v4, links, facts);
  CHECK(d.vips_removed.empty());
}
