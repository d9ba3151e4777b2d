// vrrp::Engine without instances (instances need raw sockets: tests/netns/test_vrrp*.py run them
// in l4lbd): messages reach the VRRP thread in order, and answers come back on the loop.
#include "vrrp/engine.hpp"

#include <pthread.h>

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <string>
#include <thread>

using namespace l4lb;

namespace {

std::string thread_name() {
  char name[16] = {};
  ::pthread_getname_np(::pthread_self(), name, sizeof name);
  return name;
}

}  // namespace

TEST_CASE("vrrp engine: work runs on l4lb-vrrp, answers on the loop, in the order asked") {
  boost::asio::io_context loop;
  const auto loop_thread = std::this_thread::get_id();
  vrrp::Engine engine(loop, {}, "", 1 << 20);
  std::vector<std::string> events;
  std::string vrrp_thread;
  engine.on_thread([&vrrp_thread] { vrrp_thread = thread_name(); });
  engine.apply({});
  engine.set_tracked_service_weight("absent", -20);  // no such instance: kept for later
  engine.status([&](vrrp::Engine::Status s) {
    REQUIRE(std::this_thread::get_id() == loop_thread);
    REQUIRE(s.instances.empty());
    REQUIRE(s.netlink.overflows == 0);
    events.push_back("status");
  });
  engine.shutdown([&] {
    REQUIRE(std::this_thread::get_id() == loop_thread);
    events.push_back("shutdown");
    loop.stop();
  });
  loop.run_for(std::chrono::seconds(10));
  REQUIRE(vrrp_thread == "l4lb-vrrp");
  REQUIRE(events == std::vector<std::string>{"status", "shutdown"});
}

TEST_CASE("vrrp engine: its own timer lateness is measured on its thread") {
  boost::asio::io_context loop;
  vrrp::Engine engine(loop, {}, "", 1 << 20);
  // The probe fires every 10 ms on the VRRP thread whatever the loop does: block the loop.
  std::this_thread::sleep_for(std::chrono::milliseconds(120));
  std::uint64_t samples = 0;
  engine.status([&](vrrp::Engine::Status s) {
    samples = s.lag.total();
    loop.stop();
  });
  loop.run_for(std::chrono::seconds(10));
  REQUIRE(samples >= 5);
}
