#include "ipvs/programmer.hpp"

#include <catch2/catch.hpp>
#include <cerrno>
#include <filesystem>
#include <fstream>

#include "helpers.hpp"
#include "ipvs/fake_kernel.hpp"
#include "ipvs/ownership.hpp"

using namespace l4lb;
using namespace l4lb::ipvs;
using namespace l4lb::ipvs::test;
namespace fs = std::filesystem;

namespace {

struct StateDir {
  fs::path path;
  StateDir() {
    static int n = 0;
    path = fs::temp_directory_path() /
           ("ipvs-prog-" + std::to_string(::getpid()) + "-" + std::to_string(n++));
    fs::remove_all(path);
  }
  ~StateDir() { fs::remove_all(path); }
  std::string str() const { return path.string(); }
};

std::unique_ptr<Kernel> shared(FakeKernel& k) { return std::make_unique<SharedKernel>(k); }

Table web(std::uint32_t weight2 = 1) {
  Table t;
  auto s = service("10.0.0.1", 80);
  add(s, dest("10.1.0.1", 80));
  add(s, dest("10.1.0.2", 80, weight2));
  put(t, s);
  auto u = service("2001:db8::1", 53, "wlc", Protocol::udp);
  add(u, dest("2001:db8:1::1", 53));
  put(t, u);
  return t;
}

// A third service, on port 81, that the restart tests take away.
Service port_81() {
  auto extra = service("10.0.0.1", 81);
  add(extra, dest("10.1.0.1", 81));
  return extra;
}

// web() and port_81(), as one l4lbd applied before it stopped.
Table web_and_port_81() {
  Table t = web();
  put(t, port_81());
  return t;
}

}  // namespace

TEST_CASE("apply converges, then costs nothing, then one change is one operation") {
  FakeKernel k;
  StateDir dir;
  Programmer p(shared(k), dir.str());
  auto r = p.apply(web());
  CHECK(r.ok());
  CHECK(r.issued == 5);
  CHECK(r.applied == 5);
  CHECK(k.table() == web());
  CHECK(p.owned().size() == 2);

  const auto ops = k.counters().operations;
  const auto dumps = k.counters().dumps;
  r = p.apply(web());
  CHECK(r.issued == 0);
  CHECK(k.counters().operations == ops);
  CHECK(k.counters().dumps == dumps);  // no netlink traffic at all

  r = p.apply(web(9));
  CHECK(r.issued == 1);
  CHECK(k.counters().operations == ops + 1);
  CHECK(k.table() == web(9));
}

TEST_CASE("restart adopts the live table: no operation, and stale owned ones go") {
  FakeKernel k;
  StateDir dir;
  const Table t = web_and_port_81();
  { Programmer(shared(k), dir.str()).apply(t); }

  const auto before = k.counters().operations;
  Programmer again(shared(k), dir.str());
  CHECK(again.owned().size() == 3);
  auto r = again.apply(t);
  CHECK(r.issued == 0);
  CHECK(k.counters().operations == before);

  // The config lost port 81 while we were down: only that service is removed.
  Programmer third(shared(k), dir.str());
  r = third.apply(web());
  CHECK(r.issued == 1);
  CHECK(k.table() == web());
  std::string error;
  CHECK(load_owned(third.record_path(), error).size() == 2);
}

TEST_CASE("a service removed by hand while l4lbd was down leaves the record") {
  FakeKernel k;
  StateDir dir;
  { Programmer(shared(k), dir.str()).apply(web_and_port_81()); }
  std::string error;
  REQUIRE(load_owned(dir.str() + "/" + kOwnedFileName, error).size() == 3);
  // Someone deletes port 81; the next start re-reads the kernel and forgets it. The record is
  // rewritten at the next apply even though that apply sends nothing for it.
  k.apply(std::vector<Operation>{Operation::on_service(Operation::Kind::del_service, port_81())});
  Programmer again(shared(k), dir.str());
  CHECK(again.owned().size() == 2);
  auto r = again.apply(web());
  CHECK(r.issued == 0);
  CHECK(load_owned(again.record_path(), error).size() == 2);
}

TEST_CASE("services someone else made are left alone and reported") {
  FakeKernel k;
  StateDir dir;
  auto hand = service("10.0.0.1", 80, "wlc");  // same address:port as ours
  add(hand, dest("10.9.9.9", 80));
  put(k.table(), hand);
  auto other = service("10.0.0.7", 80);  // unrelated, e.g. kube-proxy
  put(k.table(), other);

  Programmer p(shared(k), dir.str());
  auto r = p.apply(web());
  REQUIRE(r.conflicts.size() == 1);
  CHECK_THAT(r.conflicts[0], Catch::Contains("tcp 10.0.0.1:80"));
  CHECK(k.table().services.at(hand.key).scheduler == "wlc");
  CHECK(k.table().services.at(hand.key).destinations.size() == 1);
  CHECK(k.table().services.count(other.key));
  CHECK(p.owned().size() == 1);  // only the udp service

  r = p.apply(Table{});  // removing everything of ours keeps theirs
  CHECK(k.table().services.size() == 2);
  CHECK(p.owned().empty());
}

TEST_CASE("unknown scheduler and a refused destination: clear errors, rest applied") {
  FakeKernel k;
  StateDir dir;
  Table t = web();
  auto bad = service("10.0.0.1", 90, "xyz");
  add(bad, dest("10.1.0.1", 90));
  put(t, bad);
  auto& s = t.services.begin()->second;
  add(s, dest("10.1.0.3", 80, 3000000000u));
  Programmer p(shared(k), dir.str());
  auto r = p.apply(t);
  REQUIRE(r.failed.size() == 2);
  CHECK(r.failed[0].error == ENOENT);
  CHECK(r.failed[0].message ==
        "scheduler 'xyz' not available in the kernel (module ip_vs_xyz not loaded?)");
  CHECK(r.failed[1].error == ERANGE);
  CHECK_THAT(r.failed[1].operation, Catch::Contains("10.1.0.3:80"));
  REQUIRE(r.skipped.size() == 1);  // the destination of the refused service is not sent
  CHECK(k.table() == web());
  CHECK(p.owned().size() == 2);
  CHECK(fmt::format("{}", r.failed[0]).find("xyz") != std::string::npos);

  // Nothing changed: the failures are retried, and nothing else is sent.
  const auto ops = k.counters().operations;
  r = p.apply(t);
  CHECK(r.issued == 2);
  CHECK(k.counters().operations == ops + 2);
}

TEST_CASE("a kernel that cannot be read is an error, and no change is sent") {
  FakeKernel k;
  k.fail_dump = "boom";
  StateDir dir;
  Programmer p(shared(k), dir.str());
  auto r = p.apply(web());
  CHECK_THAT(r.error, Catch::Contains("boom"));
  CHECK(k.counters().operations == 0);
  k.fail_dump.clear();
  r = p.apply(web());
  CHECK(r.ok());
  CHECK(k.table() == web());
}

TEST_CASE("drift: someone deleted our service; the next apply re-reads and repairs") {
  FakeKernel k;
  StateDir dir;
  Programmer p(shared(k), dir.str());
  p.apply(web());
  k.table().services.erase(k.table().services.begin());  // behind our back
  auto r = p.apply(web(5));                              // edit fails: ESRCH
  CHECK_FALSE(r.failed.empty());
  r = p.apply(web(5));  // resynced: re-creates the missing service
  CHECK(r.ok());
  CHECK(k.table() == web(5));
}

TEST_CASE("an unreadable record owns nothing") {
  FakeKernel k;
  StateDir dir;
  { Programmer(shared(k), dir.str()).apply(web()); }
  std::ofstream(dir.path / kOwnedFileName) << "{broken";
  Programmer p(shared(k), dir.str());
  CHECK(p.owned().empty());
  auto r = p.apply(web());
  CHECK(r.conflicts.size() == 2);
  CHECK(r.issued == 0);
}

TEST_CASE("programmer: lost answers (ENOBUFS) mark the model stale; adopt + apply repairs it") {
  StateDir dir;
  FakeKernel k;
  Programmer p(shared(k), dir.str());
  const Table want = web();
  // The service batch: the kernel creates both services, but only the first answer arrives.
  k.nobufs_after = 1;
  ApplyResult r = p.apply(want);
  CHECK(k.counters().nobufs == 1);
  REQUIRE(r.failed.size() == 1);
  CHECK(r.failed[0].error == EIO);
  CHECK(r.skipped.size() == 1);  // the udp service's destination: its service is in doubt
  CHECK_FALSE(p.synced());
  CHECK_FALSE(p.model() == want);
  // The service whose answer was lost is still claimed: the kernel did create it, and a
  // service l4lbd created but no longer claims would be "someone else's" forever.
  CHECK(p.owned().size() == 2);

  // The checked resync: a dump (made elsewhere) becomes the model; only the skipped
  // destination is left to do.
  const auto gen = p.generation();
  Table dump;
  std::string error;
  REQUIRE(k.dump(dump, error));
  p.adopt(std::move(dump));
  CHECK(p.generation() > gen);
  CHECK(p.synced());
  r = p.apply(want);
  CHECK(r.ok());
  CHECK(r.issued == 1);
  CHECK(k.table() == want);
  CHECK(p.model() == want);
  CHECK(p.owned().size() == 2);
}

TEST_CASE("programmer: a claim whose creation is in doubt is dropped if the kernel lacks it") {
  StateDir dir;
  FakeKernel k;
  Programmer p(shared(k), dir.str());
  k.nobufs_after = 0;  // no answer at all
  ApplyResult r = p.apply(web());
  CHECK(r.failed.size() == 2);
  CHECK(p.owned().size() == 2);
  k.table().services.erase(service("10.0.0.1", 80).key);  // say it never happened
  Table dump;
  std::string error;
  REQUIRE(k.dump(dump, error));
  p.adopt(std::move(dump));
  CHECK(p.owned().size() == 1);
  CHECK(p.apply(web()).ok());
  CHECK(k.table() == web());
}

TEST_CASE("programmer: adopting a flushed kernel re-creates owned services, never others") {
  StateDir dir;
  FakeKernel k;
  Programmer p(shared(k), dir.str());
  const Table want = web();
  REQUIRE(p.apply(want).ok());
  k.table().services.clear();  // ipvsadm -C
  auto foreign = service("10.0.0.9", 80, "sh");
  put(k.table(), foreign);  // and someone adds theirs
  Table dump;
  std::string error;
  REQUIRE(k.dump(dump, error));
  p.adopt(std::move(dump));
  CHECK(p.owned().empty());
  ApplyResult r = p.apply(want);
  CHECK(r.ok());
  CHECK(r.issued == 5);  // 2 services + 3 destinations
  Table expect = want;
  put(expect, foreign);
  CHECK(k.table() == expect);
  CHECK(p.owned().size() == 2);
}
