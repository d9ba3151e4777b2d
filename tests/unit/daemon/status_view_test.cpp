// The status document's views (docs/STATUS.md): what the summary keeps and leaves out.
#include <catch2/catch.hpp>
#include <deque>

#include "daemon/snapshot.hpp"
#include "health/spec.hpp"
#include "ipvs/desired.hpp"

using namespace l4lb;
using nlohmann::json;

namespace {

net::Address ip(const char* text) { return *net::Address::parse(text); }

// One service, four backends: .1 up, .2 down, .3 up but drained, .4 up but not in the kernel.
daemon::StatusSnapshot snapshot() {
  auto cfg = std::make_shared<config::Config>();
  config::Service s;
  s.name = "web";
  s.vip = ip("10.0.0.1");
  s.ports = {80};
  for (const char* a : {"192.168.1.1", "192.168.1.2", "192.168.1.3", "192.168.1.4"}) {
    config::Backend b;
    b.address = ip(a);
    b.port = 8080;
    s.backends.push_back(b);
  }
  cfg->services.push_back(s);

  daemon::StatusSnapshot snap;
  snap.config = cfg;
  snap.health_running = true;
  snap.ipvs_available = true;
  daemon::CheckCopies checks;
  for (const auto& b : s.backends) {
    health::BackendHealth h;
    h.status = b.address == ip("192.168.1.2") ? health::Status::down : health::Status::up;
    checks.emplace_back(health::check_key(s, 80, b), h);
  }
  snap.checks = std::make_shared<daemon::CheckList>(std::move(checks));
  snap.drains.add(ip("192.168.1.3"), "web");
  ipvs::Service live;
  live.key = ipvs::service_key(s, 80);
  for (const char* a : {"192.168.1.1", "192.168.1.3"}) {
    ipvs::Destination d;
    d.address = ip(a);
    d.port = 8080;
    live.destinations.emplace(d.key(), d);
  }
  snap.kernel.services.emplace(live.key, live);
  return snap;
}

std::vector<std::string> addresses(const json& backends) {
  std::vector<std::string> out;
  for (const auto& b : backends) out.push_back(b["address"].get<std::string>());
  return out;
}

}  // namespace

TEST_CASE("the full view lists every backend and every check") {
  const json doc = daemon::status_document(snapshot(), daemon::StatusView::full);
  CHECK(doc["view"] == "full");
  REQUIRE(doc["services"].size() == 1);
  const auto& svc = doc["services"][0];
  CHECK(svc["backends_total"] == 4);
  CHECK(addresses(svc["backends"]) ==
        std::vector<std::string>{"192.168.1.1", "192.168.1.2", "192.168.1.3", "192.168.1.4"});
  CHECK(doc["health"].size() == 4);
}

TEST_CASE("the summary lists only the backends that need a look, and no check detail") {
  const json doc = daemon::status_document(snapshot(), daemon::StatusView::summary);
  CHECK(doc["view"] == "summary");
  const auto& svc = doc["services"][0];
  CHECK(svc["backends_total"] == 4);
  // down, drained, missing from the kernel; the healthy one in the kernel is left out.
  CHECK(addresses(svc["backends"]) ==
        std::vector<std::string>{"192.168.1.2", "192.168.1.3", "192.168.1.4"});
  CHECK_FALSE(doc.contains("health"));
  // A small config: every service listed.
  CHECK(doc["services_fine"] == json::array());
  CHECK(doc["services_awaiting_checks"] == json::array());
  // Everything else is the same as in the full view.
  json full = daemon::status_document(snapshot(), daemon::StatusView::full);
  json same = doc;
  for (json* d : {&full, &same}) {
    d->erase("view");
    d->erase("health");
    d->erase("services_fine");
    d->erase("services_awaiting_checks");
    (*d)["services"][0].erase("backends");
  }
  CHECK(same == full);
}

TEST_CASE("without IPVS the summary does not list every backend as missing") {
  auto snap = snapshot();
  snap.ipvs_available = false;
  snap.kernel = {};
  const json doc = daemon::status_document(snap, daemon::StatusView::summary);
  CHECK(addresses(doc["services"][0]["backends"]) ==
        std::vector<std::string>{"192.168.1.2", "192.168.1.3"});
}
