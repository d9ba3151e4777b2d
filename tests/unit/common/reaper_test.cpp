#include "common/reaper.hpp"

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <thread>

namespace {

// Records the thread its destructor runs on.
struct Tracked {
  std::atomic<std::thread::id>* where;
  std::string payload;
  ~Tracked() { where->store(std::this_thread::get_id()); }
};

}  // namespace

TEST_CASE("a reaped object is destroyed off the thread that dropped it") {
  std::atomic<std::thread::id> where{};
  {
    auto p = l4lb::reaper::make_reaped<Tracked>(Tracked{&where, std::string(1 << 20, 'x')});
    auto copy = p;  // the last of several references decides
    CHECK(copy->payload.size() == (1u << 20));
  }
  // The temporary Tracked used to build it died here already: wait for the reaped one.
  const auto here = std::this_thread::get_id();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (where.load() == here && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  CHECK(where.load() != here);
  CHECK(where.load() != std::thread::id{});
}
