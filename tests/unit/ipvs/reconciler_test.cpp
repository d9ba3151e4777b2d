#include "ipvs/reconciler.hpp"

#include <catch2/catch.hpp>

#include "helpers.hpp"

using namespace l4lb;
using namespace l4lb::ipvs;
using namespace l4lb::ipvs::test;
using K = Operation::Kind;

namespace {

std::set<ServiceKey> keys(const Table& t) {
  std::set<ServiceKey> s;
  for (const auto& [k, v] : t.services) s.insert(k);
  return s;
}

std::vector<K> kinds(const Plan& p) {
  std::vector<K> v;
  for (const auto& op : p.ops) v.push_back(op.kind);
  return v;
}

}  // namespace

TEST_CASE("empty kernel: services before their destinations") {
  Table want;
  auto s = service("10.0.0.1", 80);
  add(s, dest("10.1.0.1", 80));
  add(s, dest("10.1.0.2", 80));
  put(want, s);
  put(want, service("2001:db8::1", 53, "wlc", Protocol::udp));
  Plan p = reconcile(want, {}, {});
  CHECK(kinds(p) == std::vector<K>{K::add_service, K::add_service, K::add_dest, K::add_dest});
  CHECK(p.conflicts.empty());
}

TEST_CASE("an unchanged table is zero operations") {
  Table t = big_table(50, 8);
  CHECK(reconcile(t, t, keys(t)).ops.empty());
}

TEST_CASE("counters in the kernel table are not differences") {
  Table want = big_table(2, 2);
  Table have = want;
  auto& d = have.services.begin()->second.destinations.begin()->second;
  ipvs::DestCounters c;
  c.active_conns = 7;
  c.stats.conns = 1000;
  have.set_counters(d, c);
  ipvs::Stats totals;
  totals.inbytes = 99;
  have.set_stats(have.services.begin()->second, totals);
  CHECK(reconcile(want, have, keys(have)).ops.empty());
}

TEST_CASE("one weight in a 100,000-destination table is exactly one edit") {
  Table have = big_table(1000, 100);
  REQUIRE(have.destination_count() == 100000);
  Table want = have;
  auto& svc = std::next(want.services.begin(), 500)->second;
  std::next(svc.destinations.begin(), 42)->second.weight = 7;
  Plan p = reconcile(want, have, keys(have));
  REQUIRE(p.ops.size() == 1);
  CHECK(p.ops[0].kind == K::edit_dest);
  CHECK(p.ops[0].dest.weight == 7);
  CHECK(p.ops[0].service.key == svc.key);
}

TEST_CASE("setting changes are edits, never delete + add") {
  Table have;
  auto s = service("10.0.0.1", 80, "rr");
  add(s, dest("10.1.0.1", 80));
  put(have, s);
  Table want = have;
  auto& w = want.services.begin()->second;
  w.scheduler = "sh";
  w.sh_port = true;
  w.destinations.begin()->second.forward = Forward::route;
  w.destinations.begin()->second.upper_threshold = 5;
  Plan p = reconcile(want, have, keys(have));
  CHECK(kinds(p) == std::vector<K>{K::edit_service, K::edit_dest});
  CHECK(p.ops[0].service.scheduler == "sh");
}

TEST_CASE("replacing destinations adds the new ones before removing the old") {
  Table have;
  auto s = service("10.0.0.1", 80);
  add(s, dest("10.1.0.1", 80));
  add(s, dest("10.1.0.2", 80));
  put(have, s);
  Table want;
  auto n = service("10.0.0.1", 80);
  add(n, dest("10.1.0.3", 80));
  add(n, dest("10.1.0.2", 80, 3));
  put(want, n);
  Plan p = reconcile(want, have, keys(have));
  CHECK(kinds(p) == std::vector<K>{K::add_dest, K::edit_dest, K::del_dest});
  CHECK(p.ops[0].dest.address == addr("10.1.0.3"));
  CHECK(p.ops[2].dest.address == addr("10.1.0.1"));
}

TEST_CASE("ownership: foreign services are never touched") {
  Table have;
  auto mine = service("10.0.0.1", 80);
  auto theirs = service("10.0.0.2", 80);  // e.g. kube-proxy
  auto clash = service("10.0.0.3", 80);   // made by hand, and wanted by our config
  add(theirs, dest("10.9.0.1", 80));
  put(have, mine);
  put(have, theirs);
  put(have, clash);
  std::set<ServiceKey> owned{mine.key};

  Table want;
  auto c = clash;
  add(c, dest("10.1.0.1", 80));
  put(want, c);
  Plan p = reconcile(want, have, owned);
  // Ours and no longer wanted: deleted. Theirs: untouched. The clash: a conflict.
  REQUIRE(p.ops.size() == 1);
  CHECK(p.ops[0].kind == K::del_service);
  CHECK(p.ops[0].service.key == mine.key);
  REQUIRE(p.conflicts.size() == 1);
  CHECK(p.conflicts[0].key == clash.key);
  CHECK_THAT(p.conflicts[0].to_string(), Catch::Contains("not created by l4lbd"));
}

TEST_CASE("full ordering across phases") {
  Table have;
  auto a = service("10.0.0.1", 80, "rr");
  add(a, dest("10.1.0.1", 80));
  put(have, a);
  auto gone = service("10.0.0.9", 80);
  put(have, gone);
  Table want;
  auto a2 = service("10.0.0.1", 80, "wrr");
  add(a2, dest("10.1.0.2", 80));
  put(want, a2);
  auto b = service("10.0.0.2", 80);
  add(b, dest("10.1.0.1", 80));
  put(want, b);
  Plan p = reconcile(want, have, keys(have));
  CHECK(kinds(p) == std::vector<K>{K::add_service, K::add_dest, K::add_dest, K::edit_service,
                                   K::del_dest, K::del_service});
}

TEST_CASE("turning one-packet scheduling on or off is one edit of the service") {
  Table have;
  auto s = service("10.0.0.1", 162, "rr", Protocol::udp);
  add(s, dest("10.1.0.1", 162));
  add(s, dest("10.1.0.2", 162));
  put(have, s);
  Table want = have;
  want.services.begin()->second.one_packet = true;
  Plan p = reconcile(want, have, keys(have));
  REQUIRE(kinds(p) == std::vector<K>{K::edit_service});
  CHECK(p.ops[0].service.one_packet);
  CHECK(p.ops[0].service.key == s.key);
  // ... and back: the kernel holds the flag, the config no longer does.
  p = reconcile(have, want, keys(want));
  REQUIRE(kinds(p) == std::vector<K>{K::edit_service});
  CHECK_FALSE(p.ops[0].service.one_packet);
  // Unchanged: nothing to do.
  CHECK(reconcile(want, want, keys(want)).ops.empty());
}
