// IpvsRepair on a real io_context with the fake kernel: the dump runs on the TableReader's
// thread, the loop compares and repairs. Someone else's changes to l4lbd's services are
// undone; someone else's services are not touched; failed operations are retried with
// backoff; a dump that raced l4lbd's own operations is not mistaken for drift.
#include "daemon/ipvs_repair.hpp"

#include <unistd.h>

#include <boost/asio/steady_timer.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <thread>

#include "../ipvs/helpers.hpp"
#include "ipvs/fake_kernel.hpp"

using namespace l4lb;
using namespace l4lb::ipvs;
using namespace l4lb::ipvs::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// A dump that answers late, as a large table does: the kernel is read at once, the answer
// arrives 200 ms later, so the loop can change the kernel in between.
class SlowShared : public SharedKernel {
 public:
  using SharedKernel::SharedKernel;
  bool dump(Table& out, std::string& e) override {
    const bool ok = SharedKernel::dump(out, e);
    std::this_thread::sleep_for(200ms);
    return ok;
  }
};

Table wanted(const std::string& scheduler = "rr") {
  Table t;
  auto s = service("10.0.0.1", 80, scheduler);
  add(s, dest("10.1.0.1", 80));
  add(s, dest("10.1.0.2", 80, 3));
  put(t, s);
  auto u = service("10.0.0.1", 53, "wlc", Protocol::udp);
  add(u, dest("10.1.0.1", 53));
  put(t, u);
  return t;
}

Service foreign() {
  auto f = service("10.0.0.9", 80, "sh");
  add(f, dest("10.1.0.3", 80, 7));
  return f;
}

struct Rig {
  fs::path dir = fs::temp_directory_path() / ("ipvs-repair-" + std::to_string(::getpid()));
  boost::asio::io_context io;
  FakeKernel k;
  Table want = wanted();
  std::unique_ptr<Programmer> p;
  std::unique_ptr<TableReader> reader;
  std::unique_ptr<daemon::IpvsRepair> repair;
  int applies = 0;

  explicit Rig(bool slow = false) {
    fs::remove_all(dir);
    fs::create_directories(dir);
    put(k.table(), foreign());
    p = std::make_unique<Programmer>(std::make_unique<SharedKernel>(k), dir.string());
    std::unique_ptr<Kernel> rk =
        slow ? std::make_unique<SlowShared>(k) : std::make_unique<SharedKernel>(k);
    reader = std::make_unique<TableReader>(io, std::move(rk));
    repair = std::make_unique<daemon::IpvsRepair>(io, *p, reader.get(), [this] { reconcile(); });
  }
  ~Rig() {
    repair.reset();
    reader.reset();
    fs::remove_all(dir);
  }
  void reconcile() {
    ++applies;
    repair->after_apply(p->apply(want));
  }
  Table expected() const {
    Table t = want;
    put(t, foreign());
    return t;
  }
  // Runs the loop until `done` or `limit`.
  template <typename F>
  bool run_until(F done, std::chrono::milliseconds limit = 3000ms) {
    const auto t0 = std::chrono::steady_clock::now();
    while (!done() && std::chrono::steady_clock::now() - t0 < limit) {
      io.restart();
      io.run_for(10ms);
    }
    return done();
  }
  bool check_once() {
    const auto runs = repair->counters().runs;
    repair->check(false);
    return run_until([&] { return repair->counters().runs > runs; });
  }
  std::uint64_t drift(DriftKind kind) const {
    return repair->counters().drift[static_cast<std::size_t>(kind)];
  }
};

}  // namespace

TEST_CASE("ipvs repair: no drift, no change") {
  Rig r;
  r.reconcile();
  REQUIRE(r.k.table() == r.expected());
  const auto ops = r.k.counters().operations;
  REQUIRE(r.check_once());
  CHECK(r.repair->counters().repairs == 0);
  CHECK(r.k.counters().operations == ops);
  CHECK(r.applies == 1);
}

TEST_CASE("ipvs repair: ipvsadm -d, -e, -E on owned services are undone, others untouched") {
  Rig r;
  r.reconcile();
  const ServiceKey web = service("10.0.0.1", 80).key;
  auto& dests = r.k.table().services.at(web).destinations;
  dests.erase(dest("10.1.0.1", 80).key());                  // ipvsadm -d
  dests.at(dest("10.1.0.2", 80).key()).weight = 9;          // ipvsadm -e -w 9
  r.k.table().services.at(web).scheduler = "wlc";           // ipvsadm -E -s wlc
  add(r.k.table().services.at(web), dest("10.1.0.7", 80));  // ipvsadm -a
  auto& theirs = r.k.table().services.at(foreign().key);
  theirs.scheduler = "rr";  // someone edits their own: none of our business
  REQUIRE(r.check_once());
  CHECK(r.drift(DriftKind::missing_destination) == 1);
  CHECK(r.drift(DriftKind::destination_settings) == 1);
  CHECK(r.drift(DriftKind::service_settings) == 1);
  CHECK(r.drift(DriftKind::extra_destination) == 1);
  CHECK(r.repair->counters().repairs == 1);
  CHECK(r.repair->counters().repair_operations == 4);  // edit svc, add, edit, delete dest
  Table expect = r.expected();
  expect.services.at(foreign().key).scheduler = "rr";
  CHECK(r.k.table() == expect);
}

TEST_CASE("ipvs repair: ipvsadm -C re-creates owned services only; a re-added foreign stays") {
  Rig r;
  r.reconcile();
  r.k.table().services.clear();  // ipvsadm -C
  REQUIRE(r.check_once());
  CHECK(r.drift(DriftKind::missing_service) == 2);
  CHECK(r.drift(DriftKind::missing_destination) == 0);
  CHECK(r.k.table() == r.want);  // the foreign one is gone (flushed), not re-created by us
  put(r.k.table(), foreign());   // the operator puts theirs back
  REQUIRE(r.check_once());
  REQUIRE(r.check_once());
  CHECK(r.repair->counters().repairs == 1);
  CHECK(r.k.table() == r.expected());
}

TEST_CASE("ipvs repair: the periodic check finds drift without being asked") {
  Rig r;
  r.reconcile();
  r.repair->set_interval(50ms);
  r.k.table().services.at(service("10.0.0.1", 53, "wlc", Protocol::udp).key).destinations.clear();
  CHECK(r.run_until([&] { return r.k.table() == r.expected(); }));
  CHECK(r.repair->counters().repairs == 1);
  CHECK(r.repair->status()["drift_total"]["missing_destination"] == 1);
  r.repair->set_interval(0ms);
}

TEST_CASE("ipvs repair: a failed operation is retried with backoff, then repaired") {
  Rig r;
  r.k.schedulers().erase("wlc");  // the module is missing: the udp service is refused
  r.reconcile();
  CHECK(r.repair->counters().retries == 0);
  const auto t0 = std::chrono::steady_clock::now();
  REQUIRE(r.run_until([&] { return r.repair->counters().retries == 1; }));
  const auto first = std::chrono::steady_clock::now() - t0;
  CHECK(first >= 450ms);  // retry_backoff(1) = 500 ms
  REQUIRE(r.run_until([&] { return r.repair->counters().retries == 2; }));
  const auto second = std::chrono::steady_clock::now() - t0;
  CHECK(second - first >= 900ms);  // retry_backoff(2) = 1 s: it does not spin
  // The retry's re-read answers asynchronously; its reconcile fails a third time.
  REQUIRE(r.run_until([&] { return r.repair->counters().resyncs == 2; }));
  CHECK(r.repair->status()["consecutive_failures"] == 3);
  r.k.schedulers().insert("wlc");  // modprobe ip_vs_wlc
  REQUIRE(r.run_until([&] { return r.k.table() == r.expected(); }, 4000ms));
  CHECK(r.repair->status()["consecutive_failures"] == 0);
}

TEST_CASE("ipvs repair: lost answers (ENOBUFS) lead to a checked resync, no duplicates") {
  Rig r;
  r.k.nobufs_after = 1;
  r.reconcile();
  CHECK(r.k.counters().nobufs == 1);
  REQUIRE(r.run_until([&] { return r.repair->counters().resyncs == 1; }));
  CHECK(r.k.table() == r.expected());
  CHECK(r.p->model() == r.k.table());
  CHECK(r.p->owned().size() == 2);
  CHECK(r.repair->status()["nobufs_total"] == 1);
  CHECK(r.repair->counters().repairs == 0);  // l4lbd's own lost answers are not drift
}

TEST_CASE("ipvs repair: a dump that raced l4lbd's own operations is not drift") {
  Rig r(true);
  r.reconcile();
  const auto runs = r.repair->counters().runs;
  r.repair->check(false);
  // After the kernel was read but before the answer, l4lbd itself changes a weight.
  boost::asio::steady_timer later(r.io, 50ms);
  later.async_wait([&](const boost::system::error_code&) {
    r.want.services.begin()->second.destinations.begin()->second.weight = 4;
    r.reconcile();
  });
  REQUIRE(r.run_until([&] { return r.repair->counters().runs > runs; }));
  CHECK(r.repair->counters().stale_dumps >= 1);
  for (std::size_t k = 0; k < kDriftKinds; ++k) CHECK(r.repair->counters().drift[k] == 0);
  CHECK(r.k.table() == r.expected());
}

TEST_CASE("ipvs repair: a large table is compared in slices, drift found in the last one") {
  Rig r;
  r.want = big_table(1200, 2);
  r.reconcile();
  REQUIRE(r.check_once());
  CHECK(r.repair->status()["last_compare_slices"] == 3);  // 500 + 500 + 200
  // The owned service compared last (the foreign 10.0.0.9:80 sorts after it).
  auto last = r.k.table().services.find(service("10.0.0.1", 1000 + 1199).key);
  REQUIRE(last != r.k.table().services.end());
  last->second.destinations.begin()->second.weight = 0;
  REQUIRE(r.check_once());
  CHECK(r.drift(DriftKind::destination_settings) == 1);
  CHECK(r.k.table() == r.expected());
}

TEST_CASE("ipvs repair: after stop() nothing is checked, retried or repaired") {
  Rig r;
  r.reconcile();
  r.repair->set_interval(50ms);
  r.repair->check(false);  // a dump in flight
  r.repair->stop();
  r.k.table().services.clear();  // remove_services_on_exit, or an operator: either way
  ipvs::ApplyResult failed;
  failed.error = "x";
  r.repair->after_apply(failed);
  r.run_until([] { return false; }, 300ms);
  CHECK(r.k.table().services.empty());
  CHECK(r.repair->counters().runs == 0);
  CHECK(r.repair->counters().retries == 0);
}

namespace {

config::Service web_service(int backends) {
  config::Service s;
  s.name = "web";
  s.vip = addr("10.0.0.1");
  s.ports = {80};
  s.scheduler = "rr";
  s.health.edit().type = config::HealthType::none;
  for (int i = 0; i < backends; ++i) {
    config::Backend b;
    b.address = addr("10.1.0." + std::to_string(i + 1));
    s.backends.push_back(b);
  }
  return s;
}

Services web(int backends) {
  return std::make_shared<const std::vector<config::Service>>(
      std::vector<config::Service>{web_service(backends)});
}

// The daemon's wiring: plans through a PlanWorker (model lent to its worker,
// operations sent slice by slice), the repair told about it.
struct SlicedRig {
  fs::path dir = fs::temp_directory_path() / ("ipvs-repair-plans-" + std::to_string(::getpid()));
  boost::asio::io_context io;
  FakeKernel k;
  Services services = web(2);
  std::unique_ptr<Programmer> p;
  std::unique_ptr<PlanWorker> sp;
  std::unique_ptr<TableReader> reader;
  std::unique_ptr<daemon::IpvsRepair> repair;
  std::vector<ApplyResult> results;

  SlicedRig() {
    fs::remove_all(dir);
    fs::create_directories(dir);
    p = std::make_unique<Programmer>(std::make_unique<SharedKernel>(k), dir.string());
    PlanWorker::Options o{1};  // one operation per kernel batch
    o.resync_on_loop = false;
    sp = std::make_unique<PlanWorker>(
        io, *p,
        [](const config::Service&, std::uint16_t port, const config::Backend&) { return port; },
        [this](const ApplyResult& r) {
          results.push_back(r);
          repair->after_apply(r);
        },
        o);
    reader = std::make_unique<TableReader>(io, std::make_unique<SlowShared>(k));
    repair = std::make_unique<daemon::IpvsRepair>(
        io, *p, reader.get(), [this] { reconcile(); }, sp.get());
  }
  ~SlicedRig() {
    repair.reset();
    reader.reset();
    sp.reset();
    fs::remove_all(dir);
  }
  void reconcile() { sp->request(services, nullptr); }
  template <typename F>
  bool run_until(F done, std::chrono::milliseconds limit = 5000ms) {
    const auto t0 = std::chrono::steady_clock::now();
    while (!done() && std::chrono::steady_clock::now() - t0 < limit) {
      io.restart();
      io.run_for(5ms);
    }
    return done();
  }
};

Table table_of(const Services& s) {
  return desired_table(*s, [](const config::Service&, std::uint16_t, const config::Backend&) {
    return BackendState{Health::up, false};
  });
}

}  // namespace

TEST_CASE("ipvs repair with plans on the worker: a check waits for the plan, holds the next one") {
  SlicedRig r;
  r.reconcile();
  REQUIRE(r.run_until([&] { return r.results.size() == 1 && r.sp->idle(); }));
  REQUIRE(r.k.table() == table_of(r.services));

  // Someone removes a destination; l4lbd starts a plan (a third backend) and a check is due
  // while that plan is still with the worker or being sent.
  r.k.table().services.begin()->second.destinations.erase(dest("10.1.0.1", 80).key());
  r.services = web(3);
  r.reconcile();
  REQUIRE_FALSE(r.sp->idle());
  r.repair->check(false);
  // The plan ends, then the check dumps (200 ms): meanwhile a request waits, nothing moves.
  REQUIRE(r.run_until([&] { return r.results.size() == 2; }));
  CHECK(r.results[1].issued == 1);
  const auto gen = r.p->generation();
  r.reconcile();
  r.io.restart();
  r.io.run_for(50ms);
  CHECK(r.sp->idle());
  CHECK(r.sp->waiting());
  CHECK(r.p->generation() == gen);
  // The check compares a consistent dump (no stale dump), repairs, and counts the repair
  // plan's operation.
  REQUIRE(r.run_until([&] { return r.repair->counters().repairs == 1 && r.sp->idle(); }));
  CHECK(r.repair->counters().stale_dumps == 0);
  CHECK(r.repair->counters().drift[static_cast<std::size_t>(DriftKind::missing_destination)] == 1);
  CHECK(r.repair->counters().repair_operations == 1);
  CHECK(r.k.table() == table_of(r.services));
  CHECK_FALSE(r.sp->waiting());
}

TEST_CASE(
    "ipvs repair with plans on the worker: a failed operation's re-read is made off the loop") {
  SlicedRig r;
  r.reconcile();
  REQUIRE(r.run_until([&] { return r.results.size() == 1 && r.sp->idle(); }));
  // Someone deletes the service: l4lbd's next edit fails, the model is stale.
  r.k.table().services.clear();
  r.services = web(3);
  r.reconcile();
  REQUIRE(r.run_until([&] { return r.results.size() == 2; }));
  CHECK_FALSE(r.results[1].failed.empty());
  CHECK_FALSE(r.p->synced());
  // Requests wait for the checked re-read (after the backoff), which then reconciles.
  r.reconcile();
  CHECK(r.sp->waiting());
  REQUIRE(r.run_until(
      [&] { return r.repair->counters().resyncs == 1 && r.sp->idle() && !r.sp->waiting(); }));
  CHECK(r.p->synced());
  CHECK(r.k.table() == table_of(r.services));
  CHECK(r.results.back().failed.empty());
}
