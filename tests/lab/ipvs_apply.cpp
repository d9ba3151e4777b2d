// Test-only driver for the kernel lab and bench/ipvs: opens IPVS over netlink, then
// loads each config file in turn and applies it (every backend taken as healthy), printing
// one JSON line per step. Not part of the product: l4lbd does this for real.
//
//   ipvs_apply --state-dir DIR [--dump FILE] [--nft] CONFIG...
//
// --nft also brings l4lbd's nftables table (SNAT and fwmark rules) to each config, timed
// apart (nft_seconds), as the daemon does before programming IPVS.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "config/loader.hpp"
#include "ipvs/desired.hpp"
#include "ipvs/programmer.hpp"
#include "nft/table_manager.hpp"

using namespace l4lb;
using json = nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

static double since(SteadyClock::time_point t) {
  return std::chrono::duration<double>(SteadyClock::now() - t).count();
}

int main(int argc, char** argv) {
  std::string state_dir = "/run/l4lb", dump;
  bool with_nft = false;
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--state-dir" && i + 1 < argc)
      state_dir = argv[++i];
    else if (a == "--dump" && i + 1 < argc)
      dump = argv[++i];
    else if (a == "--nft")
      with_nft = true;
    else
      files.push_back(a);
  }
  auto t0 = SteadyClock::now();
  std::string error;
  auto kernel = ipvs::open_netlink_kernel(error);
  if (!kernel) {
    std::cout << json{{"step", "open"}, {"error", error}}.dump() << std::endl;
    return 3;
  }
  ipvs::Programmer programmer(std::move(kernel), state_dir);
  std::unique_ptr<nft::TableManager> nft_table;
  if (with_nft) {
    auto backend = nft::Nftables::open(error);
    if (!backend) {
      std::cout << json{{"step", "open"}, {"error", error}}.dump() << std::endl;
      return 3;
    }
    nft_table = std::make_unique<nft::TableManager>(std::move(backend));
  }
  auto c = programmer.counters();
  std::cout << json{{"step", "open"},
                    {"seconds", since(t0)},
                    {"owned", programmer.owned().size()},
                    {"dumps", c.dumps}}
                   .dump()
            << std::endl;
  int rc = 0;
  for (const auto& file : files) {
    auto t1 = SteadyClock::now();
    auto loaded = config::load_file(file);
    if (!loaded.ok()) {
      json errs = json::array();
      for (const auto& d : loaded.diagnostics) errs.push_back(d.to_string());
      std::cout << json{{"step", "load"}, {"config", file}, {"errors", errs}}.dump() << std::endl;
      return 2;
    }
    const double load_s = since(t1);
    auto t2 = SteadyClock::now();
    auto desired = ipvs::desired_table(loaded.config->services, [](const auto&, auto, const auto&) {
      return ipvs::BackendState{ipvs::Health::up, false};
    });
    const double desired_s = since(t2);
    json nft_result = nullptr;
    if (nft_table) {
      auto tn = SteadyClock::now();
      const auto ruleset = nft::render(*loaded.config);
      auto e = nft_table->apply(ruleset);
      nft_result = {{"seconds", since(tn)},
                    {"rules", ruleset.snat_rules + ruleset.mark_rules},
                    {"error", e ? json(*e) : json()}};
      if (e) rc = 1;
    }
    const auto before = programmer.counters();
    auto t3 = SteadyClock::now();
    auto r = programmer.apply(desired);
    const double apply_s = since(t3);
    const auto after = programmer.counters();
    json failed = json::array();
    for (const auto& f : r.failed)
      failed.push_back({{"operation", f.operation}, {"errno", f.error}, {"message", f.message}});
    std::cout << json{{"step", "apply"},
                      {"config", file},
                      {"services", desired.services.size()},
                      {"dests", desired.destination_count()},
                      {"issued", r.issued},
                      {"applied", r.applied},
                      {"failed", failed},
                      {"skipped", r.skipped},
                      {"conflicts", r.conflicts},
                      {"error", r.error},
                      {"netlink_operations", after.operations - before.operations},
                      {"netlink_batches", after.batches - before.batches},
                      {"netlink_dumps", after.dumps - before.dumps},
                      {"load_seconds", load_s},
                      {"desired_seconds", desired_s},
                      {"plan_seconds", r.plan_seconds},
                      {"kernel_seconds", r.kernel_seconds},
                      {"record_seconds", r.record_seconds},
                      {"model_seconds", r.model_seconds},
                      {"seconds", apply_s},
                      {"nft", nft_result}}
                     .dump()
              << std::endl;
    if (!r.ok()) rc = 1;
  }
  if (!dump.empty()) {
    std::ofstream(dump) << ipvs::format_table(programmer.current());
  }
  return rc;
}
