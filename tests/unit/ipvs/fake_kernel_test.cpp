#include "ipvs/fake_kernel.hpp"

#include <catch2/catch.hpp>
#include <cerrno>

#include "helpers.hpp"

using namespace l4lb;
using namespace l4lb::ipvs;
using namespace l4lb::ipvs::test;
using K = Operation::Kind;

TEST_CASE("fake kernel enforces the kernel's rules, one operation at a time") {
  FakeKernel k;
  auto s = service("10.0.0.1", 80);
  auto d = dest("10.1.0.1", 80);
  auto bad_sched = service("10.0.0.2", 80, "xyz");
  auto big = dest("10.1.0.2", 80, 3000000000u);
  auto thresholds = dest("10.1.0.3", 80);
  thresholds.lower_threshold = 10;
  thresholds.upper_threshold = 5;
  auto v6 = dest("2001:db8::5", 80);
  auto v6tun = dest("2001:db8::6", 80, 1, Forward::tunnel);
  std::vector<Operation> ops{
      Operation::on_service(K::add_service, s),                  // ok
      Operation::on_service(K::add_service, s),                  // EEXIST
      Operation::on_service(K::add_service, bad_sched),          // ENOENT
      Operation::on_dest(K::add_dest, s, d),                     // ok
      Operation::on_dest(K::add_dest, s, d),                     // EEXIST
      Operation::on_dest(K::add_dest, bad_sched, d),             // ESRCH
      Operation::on_dest(K::add_dest, s, big),                   // ERANGE
      Operation::on_dest(K::add_dest, s, thresholds),            // ERANGE
      Operation::on_dest(K::add_dest, s, v6),                    // EINVAL
      Operation::on_dest(K::add_dest, s, v6tun),                 // ok: tunnels may mix families
      Operation::on_dest(K::del_dest, s, dest("10.1.0.9", 80)),  // ENOENT
      Operation::on_service(K::del_service, bad_sched),          // ESRCH
  };
  auto r = k.apply(ops);
  std::vector<int> errors(ops.size(), 0);
  for (auto& x : r) errors.at(x.index) = x.error;
  CHECK(errors == std::vector<int>{0, EEXIST, ENOENT, 0, EEXIST, ESRCH, ERANGE, ERANGE, EINVAL, 0,
                                   ENOENT, ESRCH});
  REQUIRE(r.size() == 9);
  CHECK(r[1].index == 2);  // only the failures, in order
  CHECK(r[1].message ==
        "scheduler 'xyz' not available in the kernel (module ip_vs_xyz not loaded?)");
  CHECK(k.counters().operations == ops.size());
  CHECK(k.counters().failed == 9);
  CHECK(k.counters().batches == 1);
  REQUIRE(k.table().services.size() == 1);
  CHECK(k.table().services.begin()->second.destinations.size() == 2);

  // An edit keeps the destinations; a delete takes them along.
  auto s2 = s;
  s2.scheduler = "wlc";
  r = k.apply(std::vector<Operation>{Operation::on_service(K::edit_service, s2)});
  CHECK(r.empty());
  CHECK(k.table().services.begin()->second.scheduler == "wlc");
  CHECK(k.table().services.begin()->second.destinations.size() == 2);
  r = k.apply(std::vector<Operation>{Operation::on_service(K::del_service, s)});
  CHECK(r.empty());
  CHECK(k.table().services.empty());
}
