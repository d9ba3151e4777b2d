// daemon::use_own_arena with jemalloc linked in, as in l4lbd.
#include "daemon/allocator.hpp"

#include <sys/types.h>

#include <catch2/catch.hpp>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

extern "C" int mallctl(const char* name, void* oldp, std::size_t* oldlenp, void* newp,
                       std::size_t newlen);

namespace {

// No Catch2 assertion in these: some run on a thread the test starts, and Catch2's
// assertions belong to the thread that runs the test case. Nothing when jemalloc refused.
std::optional<unsigned> thread_arena() {
  unsigned arena = 0;
  std::size_t len = sizeof arena;
  if (mallctl("thread.arena", &arena, &len, nullptr, 0) != 0) return std::nullopt;
  return arena;
}

std::optional<unsigned> arena_of(const void* p) {
  unsigned arena = 0;
  std::size_t len = sizeof arena;
  if (mallctl("arenas.lookup", &arena, &len, &p, sizeof p) != 0) return std::nullopt;
  return arena;
}

std::optional<ssize_t> dirty_decay_ms(unsigned arena) {
  ssize_t ms = 0;
  std::size_t len = sizeof ms;
  const std::string name = "arena." + std::to_string(arena) + ".dirty_decay_ms";
  if (mallctl(name.c_str(), &ms, &len, nullptr, 0) != 0) return std::nullopt;
  return ms;
}

}  // namespace

TEST_CASE("a thread given its own arena allocates from it, and the arena keeps its pages") {
  REQUIRE_FALSE(l4lb::daemon::allocator_name().starts_with("glibc"));
  const auto shared = thread_arena();
  REQUIRE(shared);
  std::optional<unsigned> own, small_in, large_in;
  std::optional<std::string> error{"not run"};
  std::thread t([&] {
    error = l4lb::daemon::use_own_arena();
    own = thread_arena();
    // A small block (through the thread's cache) and a large one (the arena's extents).
    auto small = std::make_unique<char[]>(48);
    std::vector<char> large(1 << 20);
    small_in = arena_of(small.get());
    large_in = arena_of(large.data());
  });
  t.join();
  REQUIRE_FALSE(error);
  REQUIRE(own);
  CHECK(*own != *shared);
  CHECK(small_in == own);
  CHECK(large_in == own);
  CHECK(dirty_decay_ms(*own) == -1);
  // The other threads are where they were, with the default decay.
  CHECK(thread_arena() == shared);
  const auto shared_decay = dirty_decay_ms(*shared);
  REQUIRE(shared_decay);
  CHECK(*shared_decay != -1);
}
