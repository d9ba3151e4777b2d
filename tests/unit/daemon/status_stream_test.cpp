// The streamed status document (status.cpp) against the DOM renderer it replaced
// (status_dom_reference.cpp): the same values for the same snapshot, with and without the
// loop's quorum counts; and the folding of a large summary.
#include <catch2/catch.hpp>
#include <random>
#include <set>

#include "daemon/snapshot.hpp"
#include "health/healthy_counts.hpp"
#include "health/spec.hpp"
#include "ipvs/desired.hpp"

namespace l4lb::daemon::reference {
nlohmann::json status_document(const StatusSnapshot& s, StatusView view);
}

using namespace l4lb;
using nlohmann::json;

namespace {

net::Address ip(const std::string& text) { return *net::Address::parse(text); }

// `n` services of every shape (multi-port, shared checks, unchecked, fwmark, mapped ports),
// random check states, drains and a kernel table that misses some of it.
daemon::StatusSnapshot random_snapshot(std::uint32_t seed, int n, double bad = 0.3) {
  std::mt19937 rng(seed);
  auto chance = [&](double p) { return std::uniform_real_distribution<>(0, 1)(rng) < p; };
  auto cfg = std::make_shared<config::Config>();
  cfg->node_name = "lb-\"a\"";
  for (int i = 0; i < n; ++i) {
    config::Service s;
    s.name = "svc-" + std::to_string(i) + (i % 7 == 3 ? "-\xC3\xA9" : "");
    s.vip = ip("10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1));
    switch (i % 5) {
      case 0:
        s.ports = {80};
        break;
      case 1:
        s.ports = {389, 636};
        break;
      case 2:
        s.ports = {80, 443, 8443};
        s.health.edit().per_port = false;  // one shared check per backend
        break;
      case 3:
        s.ports = {53};
        s.health.edit().type = config::HealthType::none;
        break;
      default:
        s.ports = {30000, 30001, 30002};
        s.fwmark = 1000 + i;
    }
    s.quorum = 1 + static_cast<int>(rng() % 3);
    const int backends = 1 + static_cast<int>(rng() % 5);
    for (int k = 0; k < backends; ++k) {
      config::Backend b;
      b.address = ip("192.168." + std::to_string(i % 200) + "." + std::to_string(k + 1));
      if (s.ports.size() == 1 && chance(0.3)) b.port = static_cast<std::uint16_t>(9000 + k);
      b.weight = chance(0.1) ? 0 : 1 + rng() % 3;
      s.backends.push_back(b);
    }
    cfg->services.push_back(s);
  }

  daemon::StatusSnapshot snap;
  snap.config = cfg;
  snap.config_file = "/etc/l4lb.yaml";
  snap.pid = 42;
  snap.started_at = 1764057600.25;
  snap.generation = 3;
  snap.health_running = true;
  snap.ipvs_available = chance(0.8);
  snap.ipvs_conflicts = {"tcp 10.0.0.1:80 exists but was not created by l4lbd"};
  snap.lag.push_back({"loop", "timer_lateness", {}});
  snap.log_suppressed = {{"health", 3}, {"quorum", 0}};
  if (chance(0.5)) snap.process = ProcessStats{52428800, 67108864, 1073741824, 120, 65536, 12.5};
  daemon::CheckCopies checks;
  for (const auto& [key, spec] : health::make_specs(cfg->services)) {
    (void)spec;
    auto h = std::make_shared<health::BackendHealth>();
    h->status = chance(bad) ? static_cast<health::Status>(rng() % 3) : health::Status::up;
    h->consecutive_ok = static_cast<int>(rng() % 5);
    h->transitions = rng() % 4;
    if (h->status != health::Status::up) {
      h->count_failure("timeout");
      h->note_failure("refused", chance(0.5) ? "refused: connect: \"Connection refused\"\n"
                                             : "bad_response: caf\xC3\xA9");
    } else {
      h->note_success(std::chrono::microseconds(rng() % 5000));
    }
    if (chance(0.5))
      h->last_transition = std::chrono::system_clock::time_point(
          std::chrono::milliseconds(1764057600123LL + static_cast<long long>(rng() % 100000)));
    for (int r = 0; r < 5; ++r) h->latency.record(std::chrono::microseconds(rng() % 3000000));
    checks.emplace_back(key, *h);
  }
  snap.checks = std::make_shared<daemon::CheckList>(std::move(checks));
  for (const auto& s : cfg->services)
    for (const auto& b : s.backends)
      if (chance(0.05)) snap.drains.add(b.address, chance(0.5) ? s.name : "");
  if (snap.ipvs_available)
    for (const auto& s : cfg->services)
      for (auto port : s.ports) {
        if (chance(0.1)) continue;  // service missing from the kernel
        ipvs::Service live;
        live.key = ipvs::service_key(s, port);
        ipvs::Stats totals;
        totals.conns = rng() % 100;
        totals.inbps = rng() % 100000;
        snap.kernel.set_stats(live, totals);
        for (const auto& b : s.backends) {
          if (chance(0.1)) continue;  // destination missing
          ipvs::Destination d;
          d.address = b.address;
          d.port = ipvs::dest_port(s, b, port);
          d.weight = b.weight;
          ipvs::DestCounters c;
          c.active_conns = rng() % 10;
          c.inactive_conns = rng() % 10;
          c.stats.inpkts = rng() % 1000;
          snap.kernel.set_counters(d, c);
          live.destinations.emplace(d.key(), d);
        }
        snap.kernel.services.emplace(live.key, live);
      }
  return snap;
}

// The loop's counts for the snapshot, as the daemon puts them in.
// The checks a test snapshot holds (a CheckList), ordered by key.
const daemon::CheckCopies& checks_of(const daemon::StatusSnapshot& snap) {
  return dynamic_cast<const daemon::CheckList&>(*snap.checks).checks();
}

void add_counts(daemon::StatusSnapshot& snap) {
  health::HealthyCounts counts;
  const auto& checks = checks_of(snap);
  counts.reset(
      snap.config,
      [&](const health::BackendKey& k) {
        auto it = std::lower_bound(checks.begin(), checks.end(), k,
                                   [](const auto& e, const auto& key) { return e.first < key; });
        return it != checks.end() && it->first == k ? it->second.status : health::Status::unknown;
      },
      [&](const config::Service& s, const config::Backend& b) {
        return snap.drains.is_drained(s.name, b.address);
      });
  snap.healthy_counts = counts.all();
}

}  // namespace

TEST_CASE("the streamed document has the values of the DOM renderer, in both views") {
  for (std::uint32_t seed = 1; seed <= 12; ++seed) {
    auto snap = random_snapshot(seed, 40);
    INFO("seed " << seed);
    for (auto view : {daemon::StatusView::full, daemon::StatusView::summary}) {
      const json expected = daemon::reference::status_document(snap, view);
      json streamed = daemon::status_document(snap, view);
      if (view == daemon::StatusView::summary) {
        // 40 services: all listed
        CHECK(streamed["services_fine"] == json::array());
        CHECK(streamed["services_awaiting_checks"] == json::array());
        streamed.erase("services_fine");
        streamed.erase("services_awaiting_checks");
      }
      CHECK(streamed == expected);
      // With the loop's counts instead of counting from the checks: the same.
      auto counted = snap;
      add_counts(counted);
      json with_counts = daemon::status_document(counted, view);
      with_counts.erase("services_fine");
      with_counts.erase("services_awaiting_checks");
      CHECK(with_counts == expected);
    }
  }
}

TEST_CASE("the reply line is the document in the control protocol's envelope") {
  auto snap = random_snapshot(3, 5);
  const std::string line = daemon::status_reply(snap, daemon::StatusView::full);
  REQUIRE(line.back() == '\n');
  const json reply = json::parse(line);
  CHECK(reply["ok"] == true);
  CHECK(reply["status"] == daemon::reference::status_document(snap, daemon::StatusView::full));
}

TEST_CASE("a large summary lists the services that need a look and names the others") {
  const int n = static_cast<int>(daemon::kSummaryListsEveryServiceUpTo) + 50;
  auto snap = random_snapshot(5, n, 0.02);
  add_counts(snap);
  const json summary = daemon::status_document(snap, daemon::StatusView::summary);
  const json full = daemon::reference::status_document(snap, daemon::StatusView::full);
  std::set<std::string> listed, fine, awaiting;
  for (const auto& s : summary["services"]) listed.insert(s["name"].get<std::string>());
  for (const auto& s : summary["services_fine"]) fine.insert(s.get<std::string>());
  for (const auto& s : summary["services_awaiting_checks"]) awaiting.insert(s.get<std::string>());
  CHECK(listed.size() + fine.size() + awaiting.size() == static_cast<std::size_t>(n));
  CHECK_FALSE(fine.empty());
  CHECK_FALSE(listed.empty());
  CHECK_FALSE(awaiting.empty());
  // From the full view: a service is listed when it is missing from the kernel (with IPVS) or
  // a backend needs a look (down, drained, or missing from the kernel) other than one awaiting
  // its first check (health unknown, not drained); else it awaits when such a backend is
  // there; else it is fine when its quorum is met, listed when not.
  struct Seen {
    bool look = false, awaits = false, below_quorum = false;
  };
  std::map<std::string, Seen> seen;
  for (const auto& s : full["services"]) {
    Seen& v = seen[s["name"]];
    v.look |= !s["in_kernel"].get<bool>() && snap.ipvs_available;
    v.below_quorum |= !s["quorum_met"].get<bool>();
    for (const auto& b : s["backends"]) {
      const std::string h = b["health"];
      const bool drained = b["drained"].get<bool>();
      if (h == "unknown" && !drained) {
        v.awaits = true;
        continue;
      }
      v.look |= (h != "up" && h != "unchecked") || drained ||
                (!b["in_kernel"].get<bool>() && snap.ipvs_available);
    }
  }
  for (const auto& [name, v] : seen) {
    INFO(name);
    const bool is_listed = v.look || (!v.awaits && v.below_quorum);
    CHECK(listed.count(name) == (is_listed ? 1u : 0u));
    CHECK(awaiting.count(name) == (!is_listed && v.awaits ? 1u : 0u));
    CHECK(fine.count(name) == (!is_listed && !v.awaits ? 1u : 0u));
  }
  // The services listed are the same entries as in a small summary.
  auto unfolded = snap;
  json expected = daemon::reference::status_document(unfolded, daemon::StatusView::summary);
  json kept = json::array();
  for (const auto& s : expected["services"])
    if (listed.count(s["name"])) kept.push_back(s);
  CHECK(summary["services"] == kept);
}

TEST_CASE("an error text that is not UTF-8 cannot break the document") {
  // The DOM renderer threw on it (nlohmann's dump), failing every status and scrape.
  auto snap = random_snapshot(9, 3, 1.0);
  auto checks = checks_of(snap);
  checks.front().second.note_failure("bad_response", "bad_response: \xFF\xFE got");
  snap.checks = std::make_shared<daemon::CheckList>(std::move(checks));
  const json doc = daemon::status_document(snap, daemon::StatusView::full);
  CHECK(doc["health"][0]["last_error"] == "bad_response: \xEF\xBF\xBD\xEF\xBF\xBD got");
  CHECK_THROWS(daemon::reference::status_document(snap, daemon::StatusView::full).dump());
}

// Counts the services whose checks a rendering asks for, and the checks it reads in key order.
class CountingSource final : public daemon::CheckSource {
 public:
  explicit CountingSource(std::shared_ptr<daemon::CheckSource> inner) : inner_(std::move(inner)) {}
  void services(const std::vector<std::string>& names, daemon::CheckCopies& out) override {
    asked.insert(names.begin(), names.end());
    ++requests;
    inner_->services(names, out);
  }
  bool next(std::optional<health::BackendKey>& cursor, std::size_t max,
            daemon::CheckCopies& out) override {
    ++requests;
    const std::size_t before = out.size();
    const bool last = inner_->next(cursor, max, out);
    in_order += out.size() - before;
    return last;
  }
  std::set<std::string> asked;
  std::size_t in_order = 0, requests = 0;

 private:
  std::shared_ptr<daemon::CheckSource> inner_;
};

TEST_CASE("a summary reads only the checks of the services summary_needs_checks names") {
  for (std::uint32_t seed = 20; seed <= 30; ++seed) {
    for (int n : {30, static_cast<int>(daemon::kSummaryListsEveryServiceUpTo) + 20}) {
      auto snap = random_snapshot(seed, n, 0.05);
      add_counts(snap);
      std::set<std::string> needed;
      std::size_t offset = 0;
      for (const auto& s : snap.config->services) {
        if (daemon::summary_needs_checks(snap, s, offset)) needed.insert(s.name);
        offset += s.ports.size();
      }
      auto counting = std::make_shared<CountingSource>(snap.checks);
      auto read = snap;
      read.checks = counting;
      INFO("seed " << seed << ", " << n << " services, " << needed.size() << " need their checks");
      CHECK(needed.size() < snap.config->services.size());  // the point: not every service
      const json got = daemon::status_document(read, daemon::StatusView::summary);
      CHECK(counting->asked == needed);
      CHECK(counting->in_order == 0);  // no pass over every check
      // The same as from every service's checks (without the loop's counts none is skipped).
      auto uncounted = snap;
      uncounted.healthy_counts = {};
      const json want = daemon::status_document(uncounted, daemon::StatusView::summary);
      INFO(json::diff(want, got).dump());
      CHECK(got == want);
    }
  }
  // Without the loop's counts every service needs its checks.
  auto snap = random_snapshot(3, 10);
  CHECK(daemon::summary_needs_checks(snap, snap.config->services.front(), 0));
}

TEST_CASE("chunk boundaries never change the bytes of a status reply or a scrape") {
  auto snap = random_snapshot(11, 60);
  add_counts(snap);
  const std::string full = daemon::status_reply(snap, daemon::StatusView::full);
  const std::string summary = daemon::status_reply(snap, daemon::StatusView::summary);
  const std::string metrics = daemon::metrics_text(snap);
  REQUIRE(full.size() > 10000);
  for (std::size_t chunk_bytes : {std::size_t{1}, std::size_t{7}, std::size_t{333},
                                  std::size_t{4096}, std::size_t{1} << 20}) {
    INFO("chunk_bytes " << chunk_bytes);
    auto streamed = [&](auto render, bool exact) {
      std::string out;
      std::size_t chunks = 0;
      bool sizes_ok = true;
      std::size_t last = 0;
      daemon::TextStream s(
          {chunk_bytes, 4, std::chrono::seconds(1)}, [&](daemon::TextStream::Piece p) {
            const daemon::TextStream::Chunk& c = p.text;
            // Every chunk but the last is full; `write` cuts them exactly.
            if (chunks > 0 && (last < chunk_bytes || (exact && last != chunk_bytes)))
              sizes_ok = false;
            last = c->size();
            out += *c;
            ++chunks;
          });
      render(s);
      s.finish();
      CHECK(sizes_ok);
      CHECK(s.peak_live() == 1);  // each chunk was freed as soon as it was read
      if (chunk_bytes < out.size()) CHECK(chunks > 1);
      return out;
    };
    CHECK(streamed([&](auto& s) { status_reply_to(s, snap, daemon::StatusView::full); }, false) ==
          full);
    CHECK(streamed([&](auto& s) { status_reply_to(s, snap, daemon::StatusView::summary); },
                   false) == summary);
    CHECK(streamed([&](auto& s) { metrics_to(s, snap); }, false) == metrics);
  }
}

TEST_CASE("the scrape streamed family by family has the bytes of the whole-text rendering") {
  // metrics_text: the document in runs fed to MetricsBuilder, the text built whole (what the
  // daemon served before). metrics_to: one pass over the snapshot per family, no document.
  bool failures_before_duration = false, duration_before_failures = false;
  for (double bad : {0.0, 0.3, 1.0})
    for (std::uint32_t seed = 1; seed <= 12; ++seed) {
      INFO("seed " << seed << " bad " << bad);
      auto snap = random_snapshot(seed, 5 + static_cast<int>(seed) * 7, bad);
      if (seed % 2) add_counts(snap);
      const std::string whole = daemon::metrics_text(snap);
      std::string streamed;
      daemon::TextStream s({4096, 4, std::chrono::seconds(1)},
                           [&](daemon::TextStream::Piece p) { streamed += *p.text; });
      metrics_to(s, snap);
      s.finish();
      REQUIRE(streamed.size() == whole.size());
      CHECK(streamed == whole);
      const auto failures = whole.find("# TYPE l4lb_health_check_failures_total");
      const auto duration = whole.find("# TYPE l4lb_health_check_duration_seconds");
      if (failures != std::string::npos && duration != std::string::npos)
        (failures < duration ? failures_before_duration : duration_before_failures) = true;
    }
  // The order of those two families depends on the first service's checks: both were seen.
  CHECK(failures_before_duration);
  CHECK(duration_before_failures);
}
