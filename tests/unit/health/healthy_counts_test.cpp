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
      int fine = 0;  // up (or unchecked) and not drained, whatever the weight
      for (const auto& b : s.backends) {
        const bool up = s.health.type == config::HealthType::none ||
                        w.status_of()(check_key(s, s.ports[p], b)) == Status::up;
        fine += up && !d(b) ? 1 : 0;
      }
      CHECK(ports[p].fine == fine);
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
    shared.health.per_port = false;  // one check per backend for every port
    cfg->services.push_back(shared);
    auto none = service("unchecked", {53}, 3, rng);
    none.health.type = config::HealthType::none;
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
