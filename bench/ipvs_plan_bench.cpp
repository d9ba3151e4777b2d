// What the first IPVS plan costs the plan worker at start-up (docs/BENCHMARKS.md, "Start-up"):
// the real PlanWorker job (BackendStates, desired_table, reconcile, claim, the ownership
// record, Slicer, the model updated from every answer) against a kernel that accepts every
// operation at once, so only l4lbd's own work is timed. N services x M backends, one port
// each, no health checks, as bench/ipvs_bench.py's distinct file. One JSON line per run:
//   ipvs_plan_bench [N [M [RUNS]]]      (default: 10000 8 5)
#include <sys/resource.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "bench/ipvs_services.hpp"
#include "ipvs/plan_worker.hpp"

using namespace l4lb;
using namespace l4lb::ipvs;

namespace {

// Accepts everything; holds nothing (the model is l4lbd's, so nothing else is needed).
class AcceptingKernel : public Kernel {
 public:
  std::optional<Info> info(std::string&) override { return Info{}; }
  bool dump(Table& out, std::string&) override {
    out = Table{};
    return true;
  }
  std::vector<OpFailure> apply(std::span<const Operation> ops) override {
    counters_.operations += ops.size();
    ++counters_.batches;
    return {};
  }
};

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 10000;
  const int m = argc > 2 ? std::atoi(argv[2]) : 8;
  const int runs = argc > 3 ? std::atoi(argv[3]) : 5;
  const auto services = bench::ipvs_services(n, m);
  for (int r = 0; r < runs; ++r) {
    const auto dir = std::filesystem::temp_directory_path() /
                     ("ipvs-plan-bench-" + std::to_string(::getpid()) + "-" + std::to_string(r));
    std::filesystem::create_directories(dir);
    boost::asio::io_context io;
    Programmer p(std::make_unique<AcceptingKernel>(), dir.string());
    ApplyResult result;
    rusage ru0{}, ru1{};
    getrusage(RUSAGE_SELF, &ru0);
    const auto t0 = std::chrono::steady_clock::now();
    {
      PlanWorker sp(
          io, p,
          [](const config::Service&, std::uint16_t port, const config::Backend&) { return port; },
          [&](const ApplyResult& a) { result = a; });
      sp.note(ConfigChange{services});
      sp.request(services, nullptr);
      io.run();
    }
    const double total =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    getrusage(RUSAGE_SELF, &ru1);
    std::printf(
        "{\"bench\": \"ipvs_plan\", \"services\": %d, \"backends\": %d, \"operations\": %zu, "
        "\"plan_ms\": %.1f, \"send_ms\": %.1f, \"model_ms\": %.1f, \"record_ms\": %.1f, "
        "\"total_ms\": %.1f, \"minor_faults\": %ld}\n",
        n, m, result.issued, result.plan_seconds * 1000, result.kernel_seconds * 1000,
        result.model_seconds * 1000, result.record_seconds * 1000, total,
        ru1.ru_minflt - ru0.ru_minflt);
    std::filesystem::remove_all(dir);
  }
}
