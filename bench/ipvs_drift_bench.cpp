// What a drift check costs the event loop (docs/BENCHMARKS.md, "IPVS drift check"): the dump
// runs on the TableReader's thread; on the loop run the comparison (ipvs::detect_drift), the
// adoption of the dump as the model when drift was found, and the reconcile's plan. Tables of
// N services x 3 destinations, all owned; one JSON line per size:
//   ipvs_drift_bench [N...]      (default: 1000 10000)
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "ipvs/drift.hpp"
#include "ipvs/fake_kernel.hpp"
#include "ipvs/programmer.hpp"
#include "ipvs/reconciler.hpp"

using namespace l4lb;
using namespace l4lb::ipvs;

namespace {

Table table(int n) {
  Table t;
  for (int i = 0; i < n; ++i) {
    Service s;
    s.key = ServiceKey::inet(Protocol::tcp,
                             *net::Address::parse("10.0." + std::to_string(i / 60000) + ".1"),
                             static_cast<std::uint16_t>(1000 + i % 60000));
    s.scheduler = "rr";
    for (int j = 1; j <= 3; ++j) {
      Destination d;
      d.address = *net::Address::parse("10.1.0." + std::to_string(j));
      d.port = 8080;
      s.destinations[d.key()] = d;
    }
    t.services[s.key] = s;
  }
  return t;
}

template <typename F>
double median_ms(int reps, F f) {
  std::vector<double> v;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    v.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> sizes;
  for (int i = 1; i < argc; ++i) sizes.push_back(std::atoi(argv[i]));
  if (sizes.empty()) sizes = {1000, 10000};
  const auto dir =
      std::filesystem::temp_directory_path() / ("ipvs-drift-bench-" + std::to_string(::getpid()));
  for (int n : sizes) {
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    auto fake = std::make_unique<FakeKernel>();
    FakeKernel& k = *fake;
    Programmer p(std::move(fake), dir.string());
    const Table want = table(n);
    p.apply(want);
    const int reps = n >= 10000 ? 11 : 51;
    // No drift: the periodic check's whole loop cost.
    std::size_t items = 0;
    const double clean = median_ms(
        reps, [&] { items += detect_drift(p.model(), k.table(), p.owned()).items.size(); });
    // The same in slices of 500 services (daemon::IpvsRepair::kSliceServices), one loop
    // handler each: the longest slice is what the loop sees.
    std::vector<double> slices;
    for (int r = 0; r < reps; ++r) {
      Drift d;
      std::optional<ServiceKey> next;
      do {
        const auto t0 = std::chrono::steady_clock::now();
        next = detect_drift_slice(p.model(), k.table(), p.owned(), next, 500, d);
        slices.push_back(
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                .count());
      } while (next);
      items += d.items.size();
    }
    std::sort(slices.begin(), slices.end());
    const double slice_median = slices[slices.size() / 2];
    const double slice_p99 = slices[slices.size() * 99 / 100];
    // One weight edited (ipvsadm -e): compare + adopt + plan.
    Table dump = k.table();
    dump.services.begin()->second.destinations.begin()->second.weight = 7;
    double compare_one = 0, adopt = 0, plan = 0, copy = 0;
    for (int r = 0; r < reps; ++r) {
      Table d = dump;  // the dump as handed back (not timed: made off the loop)
      const auto t0 = std::chrono::steady_clock::now();
      const Drift drift = detect_drift(p.model(), d, p.owned());
      const auto t1 = std::chrono::steady_clock::now();
      Table old = p.adopt(std::move(d));  // freed off the loop in l4lbd (TableReader::dispose)
      const auto t2 = std::chrono::steady_clock::now();
      const Plan pl = reconcile(want, p.model(), p.owned());
      const auto t3 = std::chrono::steady_clock::now();
      items += drift.items.size() + pl.ops.size();
      auto ms = [](auto a, auto b) {
        return std::chrono::duration<double, std::milli>(b - a).count();
      };
      compare_one += ms(t0, t1);
      adopt += ms(t1, t2);
      plan += ms(t2, t3);
      p.adopt(k.table());  // back to the clean model for the next round
      items += old.services.size();
    }
    // A copy of the table: what a second waiter of one dump (a status request sharing the
    // drift check's dump) costs the loop.
    copy = median_ms(reps, [&] {
      Table c = k.table();
      items += c.services.size();
    });
    std::printf(
        "{\"services\": %d, \"destinations\": %zu, \"compare_no_drift_ms\": %.3f, "
        "\"slice_median_ms\": %.3f, \"slice_p99_ms\": %.3f, \"slices\": %zu, "
        "\"compare_one_drift_ms\": %.3f, \"adopt_ms\": %.3f, \"plan_ms\": %.3f, "
        "\"table_copy_ms\": %.3f, \"reps\": %d, \"check\": %zu}\n",
        n, want.destination_count(), clean, slice_median, slice_p99, slices.size() / reps,
        compare_one / reps, adopt / reps, plan / reps, copy, reps, items);
  }
  std::filesystem::remove_all(dir);
  return 0;
}
