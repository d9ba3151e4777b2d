// The services of bench/ipvs_bench.py's distinct file, built in memory for the IPVS drivers
// that need no YAML (bench/ipvs_plan_bench.cpp, tests/lab/ipvs_stall.cpp): N TCP services on
// one VIP, one port each from 1000, rr, no health checks, M backends each on the service port.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ipvs/backend_states.hpp"

namespace l4lb::bench {

inline ipvs::Services ipvs_services(int n, int m) {
  auto v = std::make_shared<std::vector<config::Service>>();
  v->reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    config::Service s;
    s.name = "bulk" + std::to_string(1000 + i);
    s.vip = *net::Address::parse("10.0.100.1");
    s.ports = {static_cast<std::uint16_t>(1000 + i)};
    s.scheduler = "rr";
    s.health.edit().type = config::HealthType::none;
    for (int j = 0; j < m; ++j) {
      config::Backend b;
      b.address = *net::Address::parse("10.1.0." + std::to_string(11 + j));
      s.backends.push_back(b);
    }
    v->push_back(std::move(s));
  }
  return v;
}

}  // namespace l4lb::bench
