// Shared builders for the ipvs unit tests.
#pragma once

#include <string>

#include "config/config.hpp"
#include "ipvs/kernel.hpp"
#include "ipvs/table.hpp"

namespace l4lb::ipvs::test {

inline net::Address addr(const std::string& s) { return *net::Address::parse(s); }

inline Destination dest(const std::string& a, std::uint16_t port, std::uint32_t weight = 1,
                        Forward f = Forward::masq) {
  Destination d;
  d.address = addr(a);
  d.port = port;
  d.weight = weight;
  d.forward = f;
  return d;
}

inline Service service(const std::string& vip, std::uint16_t port, const std::string& sched = "rr",
                       Protocol p = Protocol::tcp) {
  Service s;
  s.key = ServiceKey::inet(p, addr(vip), port);
  s.scheduler = sched;
  s.netmask = s.key.address.is_v4() ? 32 : 128;
  return s;
}

inline void add(Service& s, const Destination& d) { s.destinations[d.key()] = d; }
inline void put(Table& t, const Service& s) { t.services[s.key] = s; }

// N services x M destinations, all masq weight 1.
inline Table big_table(int services, int dests) {
  Table t;
  for (int i = 0; i < services; ++i) {
    Service s = service("10.0.0.1", static_cast<std::uint16_t>(1000 + i));
    for (int j = 0; j < dests; ++j)
      add(s, dest("10.1." + std::to_string(j / 250) + "." + std::to_string(j % 250 + 1), 8080));
    put(t, s);
  }
  return t;
}

// A second handle on one kernel, so a "restarted" Programmer sees the same tables.
class SharedKernel : public Kernel {
 public:
  explicit SharedKernel(Kernel& k) : k_(k) {}
  std::optional<Info> info(std::string& e) override { return k_.info(e); }
  bool dump(Table& out, std::string& e) override {
    bool ok = k_.dump(out, e);
    counters_ = k_.counters();
    return ok;
  }
  std::vector<OpFailure> apply(std::span<const Operation> ops) override {
    auto r = k_.apply(ops);
    counters_ = k_.counters();
    return r;
  }

 private:
  Kernel& k_;
};

}  // namespace l4lb::ipvs::test
