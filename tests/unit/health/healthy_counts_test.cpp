// HealthyCounts must agree with health::healthy_count / healthy_on_port (the one quorum rule)
// after any sequence of health changes and drains.
#include "health/healthy_counts.hpp"

#include <catch2/catch.hpp>
#include <map>
#include <random>
#include <set>

#include "health/spec.hpp"

using namespace l4lb;
using namespace l4lb::health;

namespace {
net::Address ip(const std::string& s) { return *net::Address::parse(s); }

config::Service service(const std::string& name, std::vector<std::uint16_t> ports, int backends,
                        std::mt19937& rng) {
  config::Service s;
  s.name = name;
  s.vip = ip("192.0.2.10");
  s.ports = std::move(ports);
  s.quorum = 2;
  for (int i = 0; i < backends; ++i) {
    config::Backend b;
    // A few repeated addresses: one check stands for both entries.
    b.address = ip("10.0.0." + std::to_string(1 + static_cast<int>(rng() % (backends + 1))));
    b.weight = rng() % 5 == 0 ? 0 : 1 + rng() % 3;
    if (s.ports.size() == 1 && rng() % 3 == 0) b.port = static_cast<std::uint16_t>(8000 + i);
    s.backends.push_back(b);
  }
  return s;
}

struct World {
  std::map<BackendKey, Status> status;                     // absent: unknown
  std::set<std::pair<std::string, net::Address>> drained;  // (service, backend)
  StatusOf status_of() const {
    return [this](const BackendKey& k) {
      auto it = status.find(k);
      return it == status.end() ? Status::unknown : it->second;
    };
  }
  HealthyCounts::DrainedIn drained_in() const {
    return [this](const config::Service& s, const config::Backend& b) {
      return drained.contains({s.name, b.address});
    };
  }
};

// Every check of `cfg` up in `w`.
void all_up(const config::Config& cfg, World& w) {
  for (const auto& s : cfg.services)
    for (auto port : s.ports)
      for (const auto& b : s.backends) w.status[check_key(s, port, b)] = Status::up;
}

void check_agrees(const config::Config& cfg, const World& w, const HealthyCounts& counts) {
  for (const auto& s : cfg.services) {
    DrainedOf d = [&](const config::Backend& b) { return w.drained.contains({s.name, b.address}); };
    INFO("service " << s.name);
    CHECK(counts.healthy(s.name) == healthy_count(s, w.status_of(), d));
    const auto ports = counts.ports(s.name);
    REQUIRE(ports.size() == s.ports.size());
    for (std::size_t p = 0; p < s.ports.size(); ++p) {
      CHECK(counts.healthy_on_port(s.name, s.ports[p]) ==
            healthy_on_port(s, s.ports[p], w.status_of(), d));
      CHECK(ports[p].healthy == healthy_on_port(s, s.ports[p], w.status_of(), d));
      int fine = 0;      // up (or unchecked) and not drained, whatever the weight
      int awaiting = 0;  // checked, no answer yet, not drained
      for (const auto& b : s.backends) {
        const bool unchecked = s.health->type == config::HealthType::none;
        const Status st = w.status_of()(check_key(s, s.ports[p], b));
        fine += (unchecked || st == Status::up) && !d(b) ? 1 : 0;
        awaiting += !unchecked && st == Status::unknown && !d(b) ? 1 : 0;
      }
      CHECK(ports[p].fine == fine);
      CHECK(ports[p].awaiting == awaiting);
    }
  }
}
}  // namespace

TEST_CASE("healthy counts agree with healthy_count over random changes and drains") {
  for (std::uint32_t seed = 1; seed <= 20; ++seed) {
    std::mt19937 rng(seed);
    auto cfg = std::make_shared<config::Config>();
    cfg->services.push_back(service("one-port", {80}, 6, rng));
    cfg->services.push_back(service("ldap", {389, 636}, 5, rng));
    auto shared = service("shared", {80, 443, 8443}, 4, rng);
    shared.health.edit().per_port = false;  // one check per backend for every port
    cfg->services.push_back(shared);
    auto none = service("unchecked", {53}, 3, rng);
    none.health.edit().type = config::HealthType::none;
    cfg->services.push_back(none);
    cfg->services.push_back(service("empty", {}, 2, rng));

    World w;
    HealthyCounts counts;
    counts.reset(cfg, w.status_of(), w.drained_in());
    INFO("seed " << seed);
    check_agrees(*cfg, w, counts);

    // Every check key the config has, to pick from.
    std::vector<BackendKey> keys;
    for (const auto& s : cfg->services)
      for (auto port : s.ports)
        for (const auto& b : s.backends) keys.push_back(check_key(s, port, b));
    for (int step = 0; step < 300; ++step) {
      if (rng() % 5 == 0) {  // drain or undrain a backend in one service
        const auto& s = cfg->services[rng() % cfg->services.size()];
        if (s.backends.empty()) continue;
        const auto& b = s.backends[rng() % s.backends.size()];
        const std::pair<std::string, net::Address> d{s.name, b.address};
        if (w.drained.contains(d))
          w.drained.erase(d);
        else
          w.drained.insert(d);
        counts.drains_changed(s.name, w.drained_in());
      } else {
        const auto& key = keys[rng() % keys.size()];
        const Status to = static_cast<Status>(rng() % 3);
        w.status[key] = to;
        counts.on_change(key, to);
      }
      check_agrees(*cfg, w, counts);
    }
    // A check the config does not have changes nothing (and does not crash).
    counts.on_change(BackendKey{"nope", 1, ip("10.9.9.9")}, Status::up);
    CHECK(counts.healthy("nope") == 0);
    CHECK(counts.ports("nope").empty());
    check_agrees(*cfg, w, counts);
  }
}

TEST_CASE("healthy counts start from the statuses given at reset") {
  std::mt19937 rng(7);
  auto cfg = std::make_shared<config::Config>();
  cfg->services.push_back(service("web", {80, 443}, 4, rng));
  World w;
  all_up(*cfg, w);
  HealthyCounts counts;
  counts.reset(cfg, w.status_of(), w.drained_in());
  check_agrees(*cfg, w, counts);
  CHECK(counts.healthy("web") > 0);
}

TEST_CASE("carry_over keeps untouched services' statuses and recounts the touched ones") {
  std::mt19937 rng(11);
  auto before = std::make_shared<config::Config>();
  before->services.push_back(service("kept", {80, 443}, 4, rng));
  before->services.push_back(service("changed", {80}, 3, rng));
  before->services.push_back(service("removed", {25}, 2, rng));
  World w;
  all_up(*before, w);
  HealthyCounts counts;
  counts.reset(before, w.status_of(), w.drained_in());
  check_agrees(*before, w, counts);

  // The next config: "added" first (indices move), "changed" gains a backend, "removed" gone.
  auto after = std::make_shared<config::Config>();
  after->services.push_back(service("added", {8080}, 3, rng));
  after->services.push_back(before->services[0]);
  auto changed = before->services[1];
  config::Backend extra;
  extra.address = ip("10.0.1.99");
  extra.weight = 1;
  changed.backends.push_back(extra);
  after->services.push_back(changed);

  // status_of must not be asked about the untouched service (its statuses are carried over)
  // nor about the added one (its checks do not exist yet: unknown).
  std::size_t asked_about_kept = 0, asked_about_added = 0;
  StatusOf status_of = [&](const BackendKey& k) {
    if (k.service == "kept") ++asked_about_kept;
    if (k.service == "added") ++asked_about_added;
    return w.status_of()(k);
  };
  auto index = HealthyCounts::index_for(*before, *after);
  CHECK(index.previous == std::vector<std::size_t>{HealthyCounts::npos, 0, 1});
  // The previous config comes back to the caller, who frees it where it likes.
  const auto left =
      counts.carry_over(after, std::move(index), {0, 2}, {0}, status_of, w.drained_in());
  CHECK(left.config == before);
  CHECK(left.entries.size() == 3);
  CHECK(asked_about_kept == 0);
  CHECK(asked_about_added == 0);
  check_agrees(*after, w, counts);
  CHECK(counts.ports("removed").empty());
  CHECK(counts.healthy("added") == 0);

  // Changes after the carry-over land in the right entries.
  const auto& kept = after->services[1];
  const auto key = check_key(kept, 443, kept.backends[0]);
  w.status[key] = Status::down;
  counts.on_change(key, Status::down);
  check_agrees(*after, w, counts);

  // An untouched service whose shape does not match (a caller's mistake) is counted afresh.
  auto odd = std::make_shared<config::Config>(*after);
  odd->services[1].backends.pop_back();
  (void)counts.carry_over(odd, HealthyCounts::index_for(*after, *odd), {}, {}, w.status_of(),
                          w.drained_in());
  check_agrees(*odd, w, counts);

  // An index that names another service at a position is not trusted either.
  auto swapped = std::make_shared<config::Config>(*odd);
  std::swap(swapped->services[0], swapped->services[2]);
  auto wrong = HealthyCounts::index_for(*odd, *odd);  // positions of `odd`, not of `swapped`
  wrong.by_name.clear();
  for (std::size_t i = 0; i < swapped->services.size(); ++i)
    wrong.by_name.emplace(swapped->services[i].name, i);
  (void)counts.carry_over(swapped, std::move(wrong), {}, {}, w.status_of(), w.drained_in());
  check_agrees(*swapped, w, counts);
}

TEST_CASE("carry_over takes the added services' entries made with the index, without drains") {
  std::mt19937 rng(13);
  auto before = std::make_shared<config::Config>();
  before->services.push_back(service("kept", {80}, 3, rng));
  World w;
  all_up(*before, w);
  HealthyCounts counts;
  counts.reset(before, w.status_of(), {});

  auto after = std::make_shared<config::Config>(*before);
  after->services.insert(after->services.begin(), service("new1", {80, 81}, 2, rng));
  after->services.push_back(service("new2", {90}, 4, rng));
  after->services.back().health.edit().type = config::HealthType::none;  // counted as up at once
  auto index = HealthyCounts::index_for(*before, *after);
  // The new services' entries are made with the index, at their positions.
  REQUIRE(index.entries.size() == 3);
  CHECK(index.entries[0].status.size() == 4);
  CHECK(index.entries[1].status.empty());  // kept: carried over on the loop
  CHECK(index.entries[2].status.size() == 4);
  // No status is asked for: the new services have no checks yet, the kept one is carried.
  std::size_t asked = 0;
  StatusOf status_of = [&](const BackendKey& k) {
    ++asked;
    return w.status_of()(k);
  };
  (void)counts.carry_over(after, std::move(index), {0, 2}, {0, 2}, status_of, {});
  CHECK(asked == 0);
  check_agrees(*after, w, counts);
  CHECK(counts.healthy("new1") == 0);
  CHECK(counts.healthy("new2") == 4);
  CHECK(counts.healthy_at(2) == 4);
  CHECK(counts.healthy_at(1) == counts.healthy("kept"));
  CHECK(counts.healthy_at(3) == 0);  // out of range
}

namespace {

// A config of `n` services named s0..s(n-1), ports and backends varying with the name.
std::shared_ptr<config::Config> many(std::size_t from, std::size_t to, std::mt19937& rng) {
  auto cfg = std::make_shared<config::Config>();
  for (std::size_t i = from; i < to; ++i) {
    std::vector<std::uint16_t> ports{80};
    if (i % 3 == 0) ports.push_back(443);
    cfg->services.push_back(
        service("s" + std::to_string(i), ports, 2 + static_cast<int>(i % 4), rng));
  }
  return cfg;
}

void random_status(const config::Config& cfg, World& w, std::mt19937& rng) {
  for (const auto& s : cfg.services)
    for (auto port : s.ports)
      for (const auto& b : s.backends)
        w.status[check_key(s, port, b)] = rng() % 3 == 0 ? Status::down : Status::up;
}

}  // namespace

TEST_CASE("a carry-over in steps answers as a whole one at every step") {
  std::mt19937 rng(17);
  auto before = many(0, 60, rng);
  World w;
  random_status(*before, w, rng);
  w.drained.insert({"s7", before->services[7].backends[0].address});
  HealthyCounts counts;
  counts.reset(before, w.status_of(), w.drained_in());
  check_agrees(*before, w, counts);

  // The next config: s0..s19 removed, s60..s89 added, s30 changed (touched), the rest kept.
  auto after = many(20, 90, rng);
  for (std::size_t i = 0; i < 40; ++i) {  // the kept ones are the same services as before
    const std::size_t old_pos = 20 + i;
    if (old_pos < 60) after->services[i] = before->services[old_pos];
  }
  after->services[10].backends.pop_back();  // s30: changed
  std::vector<std::size_t> touched{10}, added;
  for (std::size_t i = 40; i < 70; ++i) {
    touched.push_back(i);
    added.push_back(i);
  }
  std::sort(touched.begin(), touched.end());
  auto index = HealthyCounts::index_for(*before, *after);
  StatusOf status_of = w.status_of();
  auto earlier =
      counts.begin_carry_over(after, std::move(index), touched, added, status_of, w.drained_in());
  CHECK(earlier.config == nullptr);  // nothing was pending
  REQUIRE(counts.pending());

  // Before any step: reads carry what they read, changes land in the right entry.
  const auto& kept = after->services[25];  // s45, not carried yet
  const auto key = check_key(kept, 80, kept.backends[0]);
  w.status[key] = w.status[key] == Status::up ? Status::down : Status::up;
  counts.on_change(key, w.status[key]);
  CHECK(counts.healthy_at(25) ==
        healthy_count(kept, w.status_of(), [](const config::Backend&) { return false; }));
  // A removed service's check that still reports changes nothing.
  counts.on_change(check_key(before->services[3], 80, before->services[3].backends[0]),
                   Status::down);

  std::optional<HealthyCounts::Leftovers> left;
  int steps = 0;
  while (!(left = counts.carry_over_step(7))) {
    ++steps;
    REQUIRE(counts.pending());
    REQUIRE(steps < 20);
    // Changes between steps, to carried and not yet carried services alike.
    const auto& s = after->services[static_cast<std::size_t>(rng() % after->services.size())];
    const auto k = check_key(s, s.ports[0], s.backends[0]);
    w.status[k] = rng() % 2 ? Status::up : Status::down;
    counts.on_change(k, w.status[k]);
  }
  CHECK(!counts.pending());
  CHECK(steps == 9);  // 70 services, 7 a step, s45 carried early: the 10th step ends it
  CHECK(left->config == before);
  CHECK(left->entries.size() == 60);
  check_agrees(*after, w, counts);
  CHECK(counts.healthy("s75") == 0);  // added: its checks do not exist yet
  CHECK(!counts.carry_over_step(7));  // nothing pending: nothing to do
}

TEST_CASE("a carry-over still pending is finished by the next one, and by a drain or all()") {
  std::mt19937 rng(19);
  auto a = many(0, 30, rng);
  World w;
  random_status(*a, w, rng);
  HealthyCounts counts;
  counts.reset(a, w.status_of(), w.drained_in());

  auto b = many(10, 40, rng);
  for (std::size_t i = 0; i < 20; ++i) b->services[i] = a->services[10 + i];
  std::vector<std::size_t> added_b;
  for (std::size_t i = 20; i < 30; ++i) added_b.push_back(i);
  (void)counts.begin_carry_over(b, HealthyCounts::index_for(*a, *b), added_b, added_b,
                                w.status_of(), w.drained_in());
  REQUIRE(counts.carry_over_step(5) == std::nullopt);  // 5 of 30 carried

  // A second reload arrives: its index is relative to b, which the counts finish first.
  random_status(*b, w, rng);  // b's checks ran meanwhile
  for (const auto& s : b->services)
    for (auto port : s.ports)
      for (const auto& be : s.backends)
        counts.on_change(check_key(s, port, be), w.status[check_key(s, port, be)]);
  auto c = many(0, 35, rng);
  for (std::size_t i = 10; i < 35; ++i) c->services[i] = b->services[i - 10];
  std::vector<std::size_t> added_c;
  for (std::size_t i = 0; i < 10; ++i) added_c.push_back(i);
  auto earlier = counts.begin_carry_over(c, HealthyCounts::index_for(*b, *c), added_c, added_c,
                                         w.status_of(), w.drained_in());
  CHECK(earlier.config == a);  // the first carry-over's leftovers
  REQUIRE(counts.pending());
  // A drain of a service not carried yet: carried first, then drained.
  w.drained.insert({c->services[30].name, c->services[30].backends[0].address});
  counts.drains_changed(c->services[30].name, w.drained_in());
  CHECK(counts.pending());
  // all() (a status snapshot) carries the rest: it must see every service of c.
  const auto all = counts.all();
  CHECK(!counts.pending());
  CHECK(all.config == c);
  std::size_t ports = 0;
  for (const auto& s : c->services) ports += s.ports.size();
  CHECK(all.ports.size() == ports);
  // The added services (named like a's removed ones) have no checks yet: unknown.
  for (auto i : added_c)
    for (auto port : c->services[i].ports)
      for (const auto& be : c->services[i].backends)
        w.status.erase(check_key(c->services[i], port, be));
  check_agrees(*c, w, counts);
}
