// How long programming IPVS holds the event loop: a 1 ms timer on the loop records how late
// it fires while empty -> N services x M destinations is programmed, either the old way (one
// handler: desired_table + Programmer::apply) or through PlanWorker. One JSON line.
//
//   ipvs_stall --mode idle|oneshot|worker [--kernel fake|netlink] [--services N] [--dests M]
//
// The fake kernel runs anywhere (its operations are cheaper than netlink ones); netlink needs
// IPVS (the kernel lab). Test-only driver, not installed.
#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench/ipvs_services.hpp"
#include "ipvs/fake_kernel.hpp"
#include "ipvs/plan_worker.hpp"

using namespace l4lb;
using Steady = std::chrono::steady_clock;

namespace {

double ms(Steady::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

}  // namespace

int main(int argc, char** argv) {
  std::string mode = "worker", kernel_name = "fake";
  int n = 10000, m = 8;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--mode")
      mode = v;
    else if (a == "--kernel")
      kernel_name = v;
    else if (a == "--services")
      n = std::stoi(v);
    else if (a == "--dests")
      m = std::stoi(v);
  }
  if (mode != "idle" && mode != "oneshot" && mode != "worker") {
    std::cerr << "ipvs_stall: --mode must be idle, oneshot or worker\n";
    return 2;
  }
  std::unique_ptr<ipvs::Kernel> kernel;
  std::string error;
  if (kernel_name == "fake") {
    kernel = std::make_unique<ipvs::FakeKernel>();
  } else {
    kernel = ipvs::open_netlink_kernel(error);
    if (!kernel) {
      std::cerr << error << "\n";
      return 2;
    }
  }
  const auto dir =
      std::filesystem::temp_directory_path() / ("ipvs-stall-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  auto services = bench::ipvs_services(n, m);
  boost::asio::io_context io;
  ipvs::Programmer programmer(std::move(kernel), dir.string());

  // The probe: every 1 ms, how late did it fire?
  std::vector<double> late;
  bool done = false;
  boost::asio::steady_timer timer(io);
  std::function<void(Steady::time_point)> arm = [&](Steady::time_point at) {
    timer.expires_at(at);
    timer.async_wait([&, at](const boost::system::error_code& ec) {
      if (ec || done) return;
      const auto now = Steady::now();
      late.push_back(ms(now - at));
      arm(now + std::chrono::milliseconds(1));
    });
  };

  ipvs::ApplyResult result;
  double handler_ms = 0;
  std::unique_ptr<ipvs::PlanWorker> plans;
  const auto t0 = Steady::now();
  auto finish = [&](const ipvs::ApplyResult& r) {
    // The probe's pending deadline counts too (the one-shot handler never lets it fire).
    const auto due = timer.expiry();
    if (Steady::now() > due) late.push_back(ms(Steady::now() - due));
    result = r;
    done = true;
    timer.cancel();
  };
  boost::asio::steady_timer idle_end(io);
  if (mode == "idle") {
    // The probe alone for 0.5 s: the host's own scheduling noise.
    idle_end.expires_after(std::chrono::milliseconds(500));
    idle_end.async_wait([&](const boost::system::error_code&) { finish(ipvs::ApplyResult{}); });
  } else if (mode == "oneshot") {
    // What Daemon::reconcile_ipvs did before: everything in one handler.
    boost::asio::post(io, [&] {
      const auto h0 = Steady::now();
      auto table = ipvs::desired_table(
          *services, [](const config::Service&, std::uint16_t, const config::Backend&) {
            return ipvs::BackendState{ipvs::Health::up, false};
          });
      auto r = programmer.apply(table);
      handler_ms = ms(Steady::now() - h0);
      finish(r);
    });
  } else {
    // Every service here is unchecked (health: none): which check a port maps to is moot.
    plans = std::make_unique<ipvs::PlanWorker>(
        io, programmer,
        [](const config::Service&, std::uint16_t port, const config::Backend&) { return port; },
        finish);
    plans->note(ipvs::ConfigChange{services});
    plans->request(services, nullptr);
  }
  arm(Steady::now() + std::chrono::milliseconds(1));
  io.run();
  const double total_ms = ms(Steady::now() - t0);
  std::sort(late.begin(), late.end());
  nlohmann::json out = {
      {"mode", mode},
      {"kernel", kernel_name},
      {"services", n},
      {"dests", n * m},
      {"operations", result.issued},
      {"failed", result.failed.size()},
      {"seconds", total_ms / 1000},
      {"probe_samples", late.size()},
      {"max_lateness_ms", late.empty() ? 0.0 : late.back()},
      {"p99_lateness_ms", late.empty() ? 0.0 : late[late.size() * 99 / 100]},
      {"plan_ms", result.plan_seconds * 1000},
      {"kernel_ms", result.kernel_seconds * 1000},
      {"record_ms", result.record_seconds * 1000},
  };
  if (mode == "oneshot") out["handler_ms"] = handler_ms;
  if (plans) {
    out["max_handler_ms"] = plans->stats().max_handler_seconds * 1000;
    out["send_ms"] = plans->stats().last_send_seconds * 1000;
  }
  std::cout << out.dump() << std::endl;
  plans.reset();
  std::filesystem::remove_all(dir);
  return result.ok() ? 0 : 1;
}
