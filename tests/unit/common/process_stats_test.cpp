#include "common/process_stats.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <vector>

using namespace l4lb;

namespace {

ProcessStats read_ok() {
  static ProcessStatsReader reader;
  std::string error;
  auto s = reader.read(error);
  INFO(error);
  REQUIRE(s);
  return *s;
}

}  // namespace

TEST_CASE("process stats: memory as the kernel counts it") {
  const auto s = read_ok();
  CHECK(s.resident_bytes > 0);
  CHECK(s.virtual_bytes >= s.resident_bytes);
  CHECK(s.peak_resident_bytes >= s.resident_bytes);
  // Touching 64 MiB more raises the resident size by about that much.
  std::vector<char> block(64 << 20, 1);
  const auto grown = read_ok();
  CHECK(grown.resident_bytes >= s.resident_bytes + (60u << 20));
  CHECK(grown.peak_resident_bytes >= grown.resident_bytes);
}

TEST_CASE("process stats: open descriptors are counted one by one") {
  const auto before = read_ok();
  std::vector<int> fds;
  for (int i = 0; i < 10; ++i) fds.push_back(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  CHECK(read_ok().open_fds == before.open_fds + 10);
  for (int fd : fds) ::close(fd);
  CHECK(read_ok().open_fds == before.open_fds);
}

TEST_CASE("process stats: the descriptor limit is the soft RLIMIT_NOFILE") {
  rlimit saved{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved) == 0);
  rlimit lower = saved;
  lower.rlim_cur = read_ok().open_fds + 100;
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &lower) == 0);
  CHECK(read_ok().max_fds == lower.rlim_cur);
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &saved) == 0);
  CHECK(read_ok().max_fds == saved.rlim_cur);
}

TEST_CASE("process stats: read with a full descriptor table") {
  // The reader keeps its descriptors: it needs none to count the others, even at the limit.
  const auto before = read_ok();
  rlimit saved{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved) == 0);
  rlimit full = saved;
  full.rlim_cur = before.open_fds + 5;
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &full) == 0);
  std::vector<int> fds;
  for (int fd; (fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;) fds.push_back(fd);
  CHECK(errno == EMFILE);  // the table is full: no descriptor is left for anyone
  CHECK(!fds.empty());
  const auto at_limit = read_ok();
  CHECK(at_limit.open_fds == before.open_fds + fds.size());
  CHECK(at_limit.max_fds == full.rlim_cur);
  for (int fd : fds) ::close(fd);
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &saved) == 0);
}

TEST_CASE("process stats: CPU time grows with work") {
  const double before = read_ok().cpu_seconds;
  // Work until the kernel has charged some (its accounting has a tick's granularity).
  volatile std::uint64_t sink = 0;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  double now = before;
  while (now <= before && std::chrono::steady_clock::now() < give_up) {
    for (int i = 0; i < 1000000; ++i) sink = sink + static_cast<std::uint64_t>(i);
    now = read_ok().cpu_seconds;
  }
  CHECK(now > before);
}
