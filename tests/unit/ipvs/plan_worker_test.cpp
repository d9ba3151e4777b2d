// Slicer (operations in order, a bounded number per step, errors in the middle),
// PlanWorker (planning and sending on the worker, coalescing, shutdown) and
// BackendStates (the planner's own copy of the health results).
#include "ipvs/plan_worker.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <catch2/catch.hpp>
#include <filesystem>

#include "health/spec.hpp"
#include "helpers.hpp"
#include "ipvs/backend_states.hpp"
#include "ipvs/fake_kernel.hpp"
#include "ipvs/ownership.hpp"
#include "ipvs/slicer.hpp"

using namespace l4lb;
using namespace l4lb::ipvs;
using namespace l4lb::ipvs::test;
namespace fs = std::filesystem;

namespace {

// The daemon's rule: a check per service port and backend (health::check_key).
std::uint16_t check_port(const config::Service& s, std::uint16_t port, const config::Backend& b) {
  return health::check_key(s, port, b).port;
}

struct StateDir {
  fs::path path;
  StateDir() {
    static int n = 0;
    path = fs::temp_directory_path() /
           ("ipvs-sliced-" + std::to_string(::getpid()) + "-" + std::to_string(n++));
    fs::remove_all(path);
  }
  ~StateDir() { fs::remove_all(path); }
  std::string str() const { return path.string(); }
};

// Shares one FakeKernel and writes down every batch it is sent.
class Recording : public SharedKernel {
 public:
  explicit Recording(Kernel& k, std::vector<std::vector<std::string>>& batches)
      : SharedKernel(k), batches_(batches) {}
  std::vector<OpFailure> apply(std::span<const Operation> ops) override {
    auto& b = batches_.emplace_back();
    for (const auto& op : ops) b.push_back(op.to_string());
    return SharedKernel::apply(ops);
  }

 private:
  std::vector<std::vector<std::string>>& batches_;
};

config::Service svc(const std::string& name, std::uint16_t port, int backends,
                    config::HealthType type = config::HealthType::none) {
  config::Service s;
  s.name = name;
  s.vip = addr("10.0.0.1");
  s.ports = {port};
  s.scheduler = "rr";
  s.health.edit().type = type;
  for (int i = 0; i < backends; ++i) {
    config::Backend b;
    b.address = addr("10.1.0." + std::to_string(i + 1));
    s.backends.push_back(b);
  }
  return s;
}

Services services(int n, int backends, config::HealthType type = config::HealthType::none) {
  auto v = std::make_shared<std::vector<config::Service>>();
  for (int i = 0; i < n; ++i)
    v->push_back(
        svc("s" + std::to_string(i), static_cast<std::uint16_t>(1000 + i), backends, type));
  return v;
}

// What the daemon would program for `s` with every check result `h`.
Table want(const Services& s, Health h = Health::up) {
  return desired_table(*s, [h](const config::Service&, std::uint16_t, const config::Backend&) {
    return BackendState{h, false};
  });
}

std::vector<std::string> flat(const std::vector<std::vector<std::string>>& batches) {
  std::vector<std::string> out;
  for (const auto& b : batches) out.insert(out.end(), b.begin(), b.end());
  return out;
}

std::vector<std::string> strings(const std::vector<Operation>& ops) {
  std::vector<std::string> out;
  for (const auto& op : ops) out.push_back(op.to_string());
  return out;
}

// Runs the loop until the PlanWorker reports `n` more plans (or nothing is left to run).
void run_plans(boost::asio::io_context& io, const std::size_t& done, std::size_t n) {
  const std::size_t target = done + n;
  io.restart();
  while (done < target && io.run_one() > 0) {
  }
}

}  // namespace

TEST_CASE("Slicer sends the plan in order, at most N operations per step") {
  FakeKernel k;
  StateDir dir;
  std::vector<std::vector<std::string>> batches;
  Programmer p(std::make_unique<Recording>(k, batches), dir.str());
  const Table desired = big_table(10, 5);
  // The Slicer makes each piece's operations from references into the tables planned from.
  RefPlan plan = reconcile_refs(desired, p.model(), p.owned());
  const auto expected = strings(reconcile(desired, p.model(), p.owned()).ops);
  REQUIRE(plan.ops.size() == 60);

  Slicer s(std::move(plan.ops));
  ApplyResult r;
  std::size_t steps = 0;
  Lent l = p.lend();
  while (!s.step(l, r, 7)) ++steps;
  ++steps;
  p.give_back(std::move(l));
  // 10 add-services in 2 steps (7 + 3: never mixed with the rest), 50 others in 8.
  CHECK(steps == 10);
  REQUIRE(batches.size() == 10);
  CHECK(batches[0].size() == 7);
  CHECK(batches[1].size() == 3);
  for (const auto& b : batches) CHECK(b.size() <= 7);
  CHECK(flat(batches) == expected);
  CHECK(r.issued == 60);
  CHECK(r.applied == 60);
  CHECK(r.ok());
  CHECK(k.table() == desired);
  CHECK(p.model() == desired);
}

TEST_CASE("Slicer: a failure in a middle slice is reported, a refused service's ops skipped") {
  FakeKernel k;
  StateDir dir;
  Programmer p(std::make_unique<SharedKernel>(k), dir.str());
  Table first = big_table(4, 3);
  REQUIRE(p.apply(first).ok());

  // Someone removes one destination behind l4lbd's back: its edit fails (ENOENT).
  auto& victim = k.table().services.begin()->second;
  const auto gone = victim.destinations.begin()->first;
  victim.destinations.erase(victim.destinations.begin());
  Table next = first;
  for (auto& [key, s] : next.services)
    for (auto& [dk, d] : s.destinations) d.weight = 2;  // 12 edits
  auto bad = service("10.0.0.9", 9);                    // refused: unknown scheduler
  bad.scheduler = "nope";
  add(bad, dest("10.1.0.1", 9));
  add(bad, dest("10.1.0.2", 9));
  put(next, bad);

  RefPlan plan = reconcile_refs(next, p.model(), p.owned());
  {
    Lent l = p.lend();
    claim(plan.ops, l);  // as the plan worker does
    CHECK(l.owned.count(bad.key));
    p.give_back(std::move(l));
  }
  Slicer s(std::move(plan.ops));
  ApplyResult r;
  Lent l = p.lend();
  while (!s.step(l, r, 4)) {
  }
  p.give_back(std::move(l));
  REQUIRE(r.failed.size() == 2);  // the refused add-service, the edit of the missing dest
  CHECK(r.failed[0].error == ENOENT);
  CHECK(r.failed[0].operation.find("add-service") == 0);
  CHECK(r.failed[1].operation.find("edit-dest") == 0);
  CHECK(r.skipped.size() == 2);  // bad's two destinations: never sent
  CHECK(r.issued == 1 + 12);
  CHECK(r.applied == 11);
  CHECK_FALSE(p.owned().count(bad.key));  // a refused service is not claimed
  CHECK_FALSE(p.synced());                // the kernel disagreed: re-read before the next plan
  for (const auto& [key, s] : k.table().services)
    for (const auto& [dk, d] : s.destinations) CHECK(d.weight == 2);
  CHECK(k.table().services.begin()->second.destinations.count(gone) == 0);
}

TEST_CASE("PlanWorker: planned and sent on the worker while the loop runs on") {
  boost::asio::io_context io;
  FakeKernel k;
  StateDir dir;
  std::vector<std::vector<std::string>> batches;
  Programmer p(std::make_unique<Recording>(k, batches), dir.str());
  std::size_t plans = 0;
  ApplyResult last;
  // At most 8 operations per kernel batch.
  PlanWorker sp(
      io, p, check_port, [&](const ApplyResult& r) { ++plans, last = r; }, PlanWorker::Options{8});
  auto s = services(20, 4);
  sp.note(ConfigChange{s});
  sp.request(s, nullptr);
  CHECK_FALSE(sp.idle());
  CHECK(p.lent());  // the model and the kernel are with the worker

  // The loop has nothing of the plan to do until its result comes back: another handler
  // (a health check, say) that keeps re-posting itself runs all along.
  std::size_t ticks = 0;
  std::function<void()> tick = [&] {
    ++ticks;
    if (!sp.idle()) boost::asio::post(io, tick);
  };
  boost::asio::post(io, tick);
  io.restart();
  while (plans == 0 && io.run_one() > 0) {
  }
  REQUIRE(plans == 1);
  CHECK(ticks > 0);
  CHECK(last.ok());
  CHECK(last.issued == 100);
  CHECK(k.table() == want(s));
  CHECK(p.model() == want(s));
  CHECK(p.owned().size() == 20);
  CHECK_FALSE(p.lent());
  CHECK(batches.size() == 3 + 10);  // 20 add-services in 8+8+4, 80 destinations in 10
  for (const auto& b : batches) CHECK(b.size() <= 8);
  CHECK(sp.stats().last_send_seconds > 0);
  // The ownership record was written after the batch.
  std::string error;
  CHECK(load_owned(p.record_path(), error) == p.owned());

  SECTION("one health transition is one operation") {
    const auto ops = k.counters().operations;
    // s3 gets a check (that does not hold back unknown backends) and it reports one down.
    auto next = std::make_shared<std::vector<config::Service>>(*s);
    (*next)[3].health.edit().type = config::HealthType::tcp;
    (*next)[3].wait_first_check = false;
    sp.note(ConfigChange{next});
    sp.note(HealthChange{"s3", 1003, addr("10.1.0.2"), Health::down});
    sp.request(next, nullptr);
    run_plans(io, plans, 1);
    CHECK(k.counters().operations == ops + 1);
    CHECK(last.issued == 1);
  }
  SECTION("drains come with the request") {
    sp.note(DrainChange{});
    sp.request(s, [](const std::string& svc, const net::Address& a) {
      return svc == "s0" && a == addr("10.1.0.1");
    });
    run_plans(io, plans, 1);
    CHECK(last.issued == 1);
    auto& d = k.table().services.begin()->second.destinations.begin()->second;
    CHECK(d.weight == 0);
  }
}

TEST_CASE("PlanWorker: requests during a plan coalesce into one plan after it") {
  boost::asio::io_context io;
  FakeKernel k;
  StateDir dir;
  Programmer p(std::make_unique<SharedKernel>(k), dir.str());
  std::size_t plans = 0;
  std::vector<std::size_t> issued;
  PlanWorker sp(
      io, p, check_port, [&](const ApplyResult& r) { ++plans, issued.push_back(r.issued); },
      PlanWorker::Options{4});
  auto checked = services(10, 3, config::HealthType::tcp);
  sp.note(ConfigChange{checked});
  sp.request(checked, nullptr);  // every backend unknown, wait_first_check: services only

  // While that plan is planned or sent, checks report and more requests come.
  for (int i = 0; i < 10; ++i) {
    sp.note(HealthChange{"s" + std::to_string(i), static_cast<std::uint16_t>(1000 + i),
                         addr("10.1.0.1"), Health::up});
    sp.request(checked, nullptr);
  }
  sp.note(HealthChange{"s0", 1000, addr("10.1.0.2"), Health::up});
  sp.request(checked, nullptr);
  CHECK(sp.stats().coalesced == 10);  // 11 requests, one plan

  run_plans(io, plans, 2);
  REQUIRE(plans == 2);
  CHECK(issued[0] == 10);      // the services
  CHECK(issued[1] == 10 + 1);  // one backend up in each, a second in s0
  CHECK(sp.idle());
  Table expected = want(checked, Health::unknown);
  auto up = [&](int i, const std::string& b) {
    auto& s = expected.services[service_key((*checked)[i], (*checked)[i].ports[0])];
    Destination d = dest(b, static_cast<std::uint16_t>(1000 + i));
    add(s, d);
  };
  for (int i = 0; i < 10; ++i) up(i, "10.1.0.1");
  up(0, "10.1.0.2");
  CHECK(k.table() == expected);
}

TEST_CASE("PlanWorker: a reload that removes a service while checks flap") {
  boost::asio::io_context io;
  FakeKernel k;
  StateDir dir;
  Programmer p(std::make_unique<SharedKernel>(k), dir.str());
  std::size_t plans = 0;
  PlanWorker sp(
      io, p, check_port, [&](const ApplyResult&) { ++plans; }, PlanWorker::Options{4});
  auto gen1 = services(3, 2, config::HealthType::tcp);
  sp.note(ConfigChange{gen1});
  sp.note(HealthChange{"s1", 1001, addr("10.1.0.1"), Health::up});
  sp.request(gen1, nullptr);
  run_plans(io, plans, 1);
  CHECK(k.table().destination_count() == 1);

  // s1 goes (its check and its state go with it), then comes back: unknown again.
  auto gen2 = services(1, 2, config::HealthType::tcp);
  sp.note(ConfigChange{gen2});
  sp.request(gen2, nullptr);
  sp.note(ConfigChange{gen1});
  sp.request(gen1, nullptr);
  run_plans(io, plans, 2);
  CHECK(k.table() == want(gen1, Health::unknown));
  CHECK(k.table().destination_count() == 0);
}

TEST_CASE("PlanWorker: restart adopts live destinations without an operation") {
  boost::asio::io_context io;
  FakeKernel k;
  StateDir dir;
  auto checked = services(5, 4, config::HealthType::tcp);
  {
    Programmer first(std::make_unique<SharedKernel>(k), dir.str());
    REQUIRE(first.apply(want(checked)).ok());
  }
  const auto ops = k.counters().operations;
  Programmer p(std::make_unique<SharedKernel>(k), dir.str());
  std::size_t plans = 0;
  PlanWorker sp(io, p, check_port, [&](const ApplyResult&) { ++plans; });
  sp.note(ConfigChange{checked});
  sp.request(checked, nullptr);  // no check result yet: the live ones are kept
  run_plans(io, plans, 1);
  CHECK(k.counters().operations == ops);
  CHECK(sp.stats().adopted == 20);
  CHECK(k.table() == want(checked));

  sp.note(HealthChange{"s2", 1002, addr("10.1.0.3"), Health::down});  // the check decides now
  sp.request(checked, nullptr);
  run_plans(io, plans, 1);
  CHECK(k.counters().operations == ops + 1);
  CHECK(k.table().destination_count() == 19);
}

TEST_CASE("PlanWorker::finish completes the plan in flight without the loop") {
  boost::asio::io_context io;
  FakeKernel k;
  StateDir dir;
  Programmer p(std::make_unique<SharedKernel>(k), dir.str());
  std::size_t plans = 0;
  PlanWorker sp(
      io, p, check_port, [&](const ApplyResult&) { ++plans; }, PlanWorker::Options{4});
  auto s = services(6, 2);
  sp.request(s, nullptr);
  sp.request(services(2, 2), nullptr);  // queued: dropped by finish()
  sp.finish();
  CHECK(plans == 1);
  CHECK(sp.idle());
  CHECK_FALSE(p.lent());
  CHECK(k.table() == want(s));
  // Handlers posted before finish() find nothing to do.
  io.restart();
  io.run();
  CHECK(plans == 1);
  CHECK(k.table() == want(s));
  // Shutdown can now use the Programmer directly.
  CHECK(p.apply(Table{}).ok());
  CHECK(k.table().services.empty());
}

TEST_CASE("BackendStates: results, adoption, and forgetting what the checks forget") {
  BackendStates st(check_port);
  auto gen = services(2, 2, config::HealthType::tcp);
  const auto b1 = addr("10.1.0.1"), b2 = addr("10.1.0.2");
  auto health = [&](int svc, const net::Address& a) {
    const auto& s = (*gen)[static_cast<std::size_t>(svc)];
    config::Backend b;
    b.address = a;
    return st.health(s, s.ports[0], b);
  };
  std::vector<StateChange> changes{ConfigChange{gen}, HealthChange{"s0", 1000, b1, Health::down},
                                   HealthChange{"s1", 1001, b1, Health::up}};
  st.apply(changes);
  CHECK(health(0, b1) == Health::down);
  CHECK(health(1, b1) == Health::up);
  CHECK(health(0, b2) == Health::unknown);
  config::Service nope = (*gen)[0];
  nope.name = "nope";
  CHECK(st.health(nope, 1000, nope.backends[1]) == Health::unknown);

  // Adoption: live, weight > 0, owned, and no result yet.
  Table kernel = want(gen);
  std::set<ServiceKey> owned;
  for (const auto& [k, s] : kernel.services) owned.insert(k);
  kernel.services.begin()->second.destinations.rbegin()->second.weight = 0;  // s0's b2: weight 0
  CHECK(st.adopt(*gen, kernel, owned) == 1);                                 // s1's b2 only
  CHECK(health(1, b2) == Health::up);
  CHECK(health(0, b2) == Health::unknown);
  CHECK(health(0, b1) == Health::down);  // a result beats adoption
  std::vector<StateChange> first{HealthChange{"s1", 1001, b2, Health::down}};
  st.apply(first);
  CHECK(health(1, b2) == Health::down);

  // A reload that drops s1 and makes s0 unchecked forgets both; re-adding starts unknown.
  auto none = std::make_shared<std::vector<config::Service>>(*gen);
  (*none)[0].health.edit().type = config::HealthType::none;
  none->pop_back();
  std::vector<StateChange> reload{ConfigChange{none}, ConfigChange{gen}};
  st.apply(reload);
  CHECK(st.size() == 0);
  CHECK(health(0, b1) == Health::unknown);
  CHECK(health(1, b1) == Health::unknown);
}

TEST_CASE("BackendStates: each port of a service has its own check, a shared check covers all") {
  BackendStates st(check_port);
  auto two =
      std::make_shared<std::vector<config::Service>>(*services(1, 1, config::HealthType::tcp));
  (*two)[0].ports = {389, 636};
  Services gen = two;
  const config::Service& s = (*gen)[0];
  const config::Backend& b = s.backends[0];
  std::vector<StateChange> changes{ConfigChange{gen},
                                   HealthChange{"s0", 389, b.address, Health::up},
                                   HealthChange{"s0", 636, b.address, Health::down}};
  st.apply(changes);
  CHECK(st.health(s, 389, b) == Health::up);
  CHECK(st.health(s, 636, b) == Health::down);
  // The desired table follows each port on its own: 636 loses the backend, 389 keeps it.
  const Table t = desired_table(
      *gen, [&](const config::Service& svc, std::uint16_t port, const config::Backend& be) {
        return BackendState{st.health(svc, port, be), false};
      });
  CHECK(t.services.at(service_key(s, 389)).destinations.size() == 1);
  CHECK(t.services.at(service_key(s, 636)).destinations.empty());

  // health.port: one check (key port 0) decides every port.
  auto shared = std::make_shared<std::vector<config::Service>>(*gen);
  (*shared)[0].health.edit().port = 8080;
  Services shared_gen = shared;
  std::vector<StateChange> reload{ConfigChange{shared_gen},
                                  HealthChange{"s0", 0, b.address, Health::up}};
  st.apply(reload);
  CHECK(st.size() == 1);  // the per-port results went with their checks
  CHECK(st.health((*shared)[0], 389, b) == Health::up);
  CHECK(st.health((*shared)[0], 636, b) == Health::up);
}

TEST_CASE("PlanWorker: hold() keeps plans waiting, release() starts the latest") {
  boost::asio::io_context io;
  FakeKernel k;
  StateDir dir;
  Programmer p(std::make_unique<SharedKernel>(k), dir.str());
  std::size_t plans = 0;
  PlanWorker sp(
      io, p, check_port, [&](const ApplyResult&) { ++plans; }, PlanWorker::Options{4});
  sp.hold();
  const auto gen = p.generation();
  sp.request(services(3, 2), nullptr);
  sp.request(services(5, 2), nullptr);
  io.restart();
  io.poll();
  CHECK(sp.idle());
  CHECK(sp.waiting());
  CHECK_FALSE(p.lent());
  CHECK(p.generation() == gen);  // nothing lent, nothing sent: a dump now stays comparable
  CHECK(k.table().services.empty());
  sp.release();
  CHECK_FALSE(sp.idle());
  run_plans(io, plans, 1);
  CHECK(plans == 1);
  CHECK(k.table() == want(services(5, 2)));
  CHECK(p.generation() > gen);
}

TEST_CASE("PlanWorker: a stale model waits for an outside re-read (resync_on_loop off)") {
  boost::asio::io_context io;
  FakeKernel k;
  StateDir dir;
  Programmer p(std::make_unique<SharedKernel>(k), dir.str());
  std::size_t plans = 0;
  ApplyResult last;
  PlanWorker::Options o{4};
  o.resync_on_loop = false;
  PlanWorker sp(
      io, p, check_port, [&](const ApplyResult& r) { ++plans, last = r; }, o);
  auto s = services(2, 2);
  sp.request(s, nullptr);
  run_plans(io, plans, 1);
  REQUIRE(k.table() == want(s));
  // Someone deletes a service: l4lbd's next edit of it fails and the model is stale.
  k.table().services.erase(k.table().services.begin());
  sp.request(services(2, 3), nullptr);
  run_plans(io, plans, 1);
  CHECK_FALSE(last.failed.empty());
  CHECK_FALSE(p.synced());
  const auto dumps = k.counters().dumps;
  sp.request(services(2, 3), nullptr);
  io.restart();
  io.poll();
  CHECK(plans == 2);  // waits: no plan from a stale model, no dump on the loop
  CHECK(sp.waiting());
  CHECK(k.counters().dumps == dumps);
  // The re-read made elsewhere (IpvsRepair) is adopted, and the waiting request runs.
  Table dump;
  std::string error;
  REQUIRE(k.dump(dump, error));
  p.adopt(std::move(dump));
  sp.request(services(2, 3), nullptr);
  run_plans(io, plans, 1);
  CHECK(plans == 3);
  CHECK(last.ok());
  CHECK(k.table() == want(services(2, 3)));
}

TEST_CASE("PlanWorker: plans of the flapping services only find what a whole plan finds") {
  boost::asio::io_context io;
  FakeKernel k;
  StateDir dir;
  Programmer p(std::make_unique<SharedKernel>(k), dir.str());
  std::size_t plans = 0;
  ApplyResult last;
  PlanWorker sp(
      io, p, check_port, [&](const ApplyResult& r) { ++plans, last = r; }, PlanWorker::Options{16});
  // 40 services x 4 backends, every other one on two ports (a check per port), half of them
  // draining on failure (weight 0) instead of removing.
  auto v = std::make_shared<std::vector<config::Service>>();
  for (int i = 0; i < 40; ++i) {
    auto s = svc("s" + std::to_string(i), static_cast<std::uint16_t>(1000 + i), 4,
                 config::HealthType::tcp);
    if (i % 2) s.ports.push_back(static_cast<std::uint16_t>(5000 + i));
    if (i % 4 < 2) s.on_failure = config::OnFailure::drain;
    v->push_back(s);
  }
  Services gen = v;
  // The truth, as health::Monitor would hold it.
  std::map<std::tuple<std::string, std::uint16_t, net::Address>, Health> truth;
  auto expected = [&] {
    return desired_table(
        *gen, [&](const config::Service& s, std::uint16_t port, const config::Backend& b) {
          auto it = truth.find({s.name, check_port(s, port, b), b.address});
          return BackendState{it == truth.end() ? Health::unknown : it->second, false};
        });
  };
  sp.note(ConfigChange{gen});
  sp.request(gen, nullptr);
  run_plans(io, plans, 1);
  REQUIRE(k.table() == expected());

  std::uint32_t seed = 12345;
  auto rnd = [&](std::uint32_t n) {
    seed = seed * 1103515245u + 12345u;
    return (seed >> 8) % n;
  };
  for (int round = 0; round < 60; ++round) {
    const auto flaps = 1 + rnd(6);
    for (std::uint32_t f = 0; f < flaps; ++f) {
      const auto& s = (*gen)[rnd(40)];
      const auto port = s.ports[rnd(static_cast<std::uint32_t>(s.ports.size()))];
      const auto& b = s.backends[rnd(4)];
      const Health h = rnd(2) ? Health::up : Health::down;
      truth[{s.name, check_port(s, port, b), b.address}] = h;
      sp.note(HealthChange{s.name, check_port(s, port, b), b.address, h});
      if (rnd(2)) sp.request(gen, nullptr);  // sometimes while a plan is in flight
    }
    sp.request(gen, nullptr);
    io.restart();
    while (!(sp.idle() && !sp.waiting()) && io.run_one() > 0) {
    }
    REQUIRE(k.table() == expected());
    REQUIRE(p.model() == expected());
    REQUIRE(last.ok());
  }
  CHECK(sp.stats().incremental > 30);
  // A drain makes the next plan a whole one (the drains are not health changes).
  const auto incremental = sp.stats().incremental;
  sp.note(DrainChange{});
  sp.request(gen, [](const std::string& s, const net::Address& a) {
    return s == "s7" && a == addr("10.1.0.1");
  });
  run_plans(io, plans, 1);
  CHECK(sp.stats().incremental == incremental);
}
