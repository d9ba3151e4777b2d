#include "daemon/fd_limit.hpp"

#include <sys/resource.h>

#include <catch2/catch.hpp>

using namespace l4lb;

TEST_CASE("descriptors: one per checked service port and backend, on top of a fixed base") {
  config::Config cfg;
  const auto base = daemon::descriptors_needed(cfg);
  CHECK(base >= 64);
  config::Service s;
  s.ports = {389, 636};
  s.backends.resize(3);
  s.health.edit().type = config::HealthType::tcp;
  s.health.edit().handshake = config::Handshake::full;
  cfg.services.push_back(s);
  CHECK(daemon::descriptors_needed(cfg) == base + 6);
  s.health.edit().type = config::HealthType::none;  // unchecked backends need no descriptor
  cfg.services.push_back(s);
  CHECK(daemon::descriptors_needed(cfg) == base + 6);
  s.health.edit().type = config::HealthType::tcp;  // half-open checks share raw sockets
  s.health.edit().handshake = config::Handshake::automatic;
  cfg.services.push_back(s);
  CHECK(daemon::descriptors_needed(cfg) == base + 6);
  s.health.edit().send = "PING\r\n";  // ...unless they must talk: then connect()
  cfg.services.push_back(s);
  CHECK(daemon::descriptors_needed(cfg) == base + 12);
  s.health.edit().type = config::HealthType::udp;
  cfg.services.push_back(s);
  CHECK(daemon::descriptors_needed(cfg) == base + 18);
}

TEST_CASE("descriptors: the soft limit is raised up to the hard limit, and beyond is an error") {
  struct rlimit saved {};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved) == 0);
  if (saved.rlim_max == RLIM_INFINITY || saved.rlim_max < 2048) {
    WARN("hard RLIMIT_NOFILE is unusual here; checking only the error path");
  } else {
    struct rlimit low = saved;
    low.rlim_cur = 1024;
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
    CHECK_FALSE(daemon::ensure_descriptor_limit(2000));
    struct rlimit now {};
    ::getrlimit(RLIMIT_NOFILE, &now);
    CHECK(now.rlim_cur == 2000);
    CHECK_FALSE(daemon::ensure_descriptor_limit(1500));  // never lowered
    ::getrlimit(RLIMIT_NOFILE, &now);
    CHECK(now.rlim_cur == 2000);
  }
  if (saved.rlim_max != RLIM_INFINITY) {
    auto error = daemon::ensure_descriptor_limit(std::uint64_t{saved.rlim_max} + 1);
    REQUIRE(error);
    CHECK_THAT(*error, Catch::Contains("LimitNOFILE="));
  }
  ::setrlimit(RLIMIT_NOFILE, &saved);
}
