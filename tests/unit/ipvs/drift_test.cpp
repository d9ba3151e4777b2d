// Drift detection (pure): what someone else changed on the services l4lbd owns, by kind,
// and nothing about anyone else's services. And the retry backoff.
#include "ipvs/drift.hpp"

#include <catch2/catch.hpp>

#include "helpers.hpp"

using namespace l4lb;
using namespace l4lb::ipvs;
using namespace l4lb::ipvs::test;
using namespace std::chrono_literals;

namespace {

struct Fixture {
  Table model;
  std::set<ServiceKey> owned;
  ServiceKey web, dns, foreign;
  Fixture() {
    auto s = service("10.0.0.1", 80);
    add(s, dest("10.1.0.1", 80));
    add(s, dest("10.1.0.2", 80));
    put(model, s);
    web = s.key;
    auto u = service("2001:db8::1", 53, "wlc", Protocol::udp);
    add(u, dest("2001:db8:1::1", 53));
    put(model, u);
    dns = u.key;
    auto f = service("10.0.0.9", 80, "sh");
    add(f, dest("10.1.0.3", 80, 7));
    put(model, f);
    foreign = f.key;
    owned = {web, dns};
  }
};

}  // namespace

TEST_CASE("drift: an identical kernel is no drift") {
  Fixture f;
  CHECK(detect_drift(f.model, f.model, f.owned).empty());
}

TEST_CASE("drift: ipvsadm -C is one missing service per owned service, nothing for others") {
  Fixture f;
  Drift d = detect_drift(f.model, Table{}, f.owned);
  REQUIRE(d.items.size() == 2);
  CHECK(d.count(DriftKind::missing_service) == 2);
  CHECK(d.count(DriftKind::missing_destination) == 0);
  CHECK(d.items[0].to_string() == "missing_service tcp 10.0.0.1:80");
}

TEST_CASE("drift: a deleted destination, an edited weight, an extra destination") {
  Fixture f;
  Table k = f.model;
  auto& dests = k.services[f.web].destinations;
  dests.erase(dest("10.1.0.1", 80).key());
  dests[dest("10.1.0.2", 80).key()].weight = 5;
  add(k.services[f.dns], dest("2001:db8:1::2", 53));
  Drift d = detect_drift(f.model, k, f.owned);
  REQUIRE(d.items.size() == 3);
  CHECK(d.count(DriftKind::missing_destination) == 1);
  CHECK(d.count(DriftKind::destination_settings) == 1);
  CHECK(d.count(DriftKind::extra_destination) == 1);
  const auto weight = std::find_if(d.items.begin(), d.items.end(), [](const DriftItem& i) {
    return i.kind == DriftKind::destination_settings;
  });
  CHECK(weight->to_string() ==
        "destination_settings tcp 10.0.0.1:80: 10.1.0.2:80 masq weight 1 -> "
        "10.1.0.2:80 masq weight 5");
}

TEST_CASE("drift: a changed scheduler or flag on an owned service") {
  Fixture f;
  Table k = f.model;
  k.services[f.web].scheduler = "wlc";
  k.services[f.dns].one_packet = true;
  Drift d = detect_drift(f.model, k, f.owned);
  CHECK(d.items.size() == 2);
  CHECK(d.count(DriftKind::service_settings) == 2);
}

TEST_CASE("drift: someone else's services may change or vanish freely") {
  Fixture f;
  Table k = f.model;
  k.services[f.foreign].scheduler = "rr";
  k.services[f.foreign].destinations.clear();
  auto extra = service("10.0.0.10", 443);
  put(k, extra);
  CHECK(detect_drift(f.model, k, f.owned).empty());
  k.services.erase(f.foreign);
  CHECK(detect_drift(f.model, k, f.owned).empty());
}

TEST_CASE("drift: a service claimed but not in the model is not missing") {
  Fixture f;
  f.owned.insert(service("10.0.0.2", 80).key);
  CHECK(detect_drift(f.model, f.model, f.owned).empty());
}

TEST_CASE("drift: a service re-created by someone else with other destinations") {
  Fixture f;
  Table k = f.model;
  auto& s = k.services[f.web];
  s.destinations.clear();
  add(s, dest("10.1.0.9", 80));
  Drift d = detect_drift(f.model, k, f.owned);
  CHECK(d.count(DriftKind::missing_destination) == 2);
  CHECK(d.count(DriftKind::extra_destination) == 1);
}

TEST_CASE("retry backoff doubles from the base up to the cap") {
  CHECK(retry_backoff(0, 500ms, 60s) == 0ms);
  CHECK(retry_backoff(1, 500ms, 60s) == 500ms);
  CHECK(retry_backoff(2, 500ms, 60s) == 1000ms);
  CHECK(retry_backoff(3, 500ms, 60s) == 2000ms);
  CHECK(retry_backoff(8, 500ms, 60s) == 60s);  // 64 s capped
  CHECK(retry_backoff(7, 500ms, 60s) == 32s);
  CHECK(retry_backoff(1000000, 500ms, 60s) == 60s);  // no overflow
  CHECK(retry_backoff(5, 100ms, 100ms) == 100ms);
}

TEST_CASE("drift in slices finds exactly what one pass finds") {
  Table model = big_table(25, 3);
  std::set<ServiceKey> owned;
  for (const auto& [k, s] : model.services) owned.insert(k);
  Table kernel = model;
  auto it = kernel.services.begin();
  it->second.destinations.clear();  // first service: 3 missing destinations
  std::advance(it, 9);
  it->second.scheduler = "wlc";  // a slice boundary with max 3 (the 10th service)
  kernel.services.erase(std::prev(kernel.services.end()));  // the last one
  const Drift whole = detect_drift(model, kernel, owned);
  REQUIRE(whole.items.size() == 5);
  for (std::size_t max : {1u, 3u, 7u, 25u, 100u}) {
    Drift sliced;
    std::optional<ServiceKey> next;
    int slices = 0;
    do {
      next = detect_drift_slice(model, kernel, owned, next, max, sliced);
      ++slices;
    } while (next);
    CHECK(slices == static_cast<int>((owned.size() + max - 1) / max));
    REQUIRE(sliced.items.size() == whole.items.size());
    for (std::size_t i = 0; i < whole.items.size(); ++i)
      CHECK(sliced.items[i].to_string() == whole.items[i].to_string());
  }
}
