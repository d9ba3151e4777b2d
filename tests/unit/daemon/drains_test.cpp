#include "daemon/drains.hpp"

#include <catch2/catch.hpp>

using l4lb::daemon::Drains;
using l4lb::net::Address;

TEST_CASE("a drain without a service covers every service") {
  Drains d;
  auto a = *Address::parse("192.168.1.1");
  CHECK(d.add(a, ""));
  CHECK_FALSE(d.add(a, ""));
  CHECK(d.is_drained("ldap", a));
  CHECK(d.is_drained("http", a));
  CHECK_FALSE(d.is_drained("ldap", *Address::parse("192.168.1.2")));
  CHECK(d.remove(a, ""));
  CHECK_FALSE(d.remove(a, ""));
  CHECK_FALSE(d.is_drained("ldap", a));
}

TEST_CASE("a per-service drain covers only that service") {
  Drains d;
  auto a = *Address::parse("2001:db8::5");
  d.add(a, "ldap");
  CHECK(d.is_drained("ldap", a));
  CHECK_FALSE(d.is_drained("http", a));
}

TEST_CASE("drains round-trip through JSON and reject malformed documents unchanged") {
  Drains d;
  d.add(*Address::parse("10.0.0.1"), "");
  d.add(*Address::parse("10.0.0.2"), "web");
  Drains copy;
  REQUIRE_FALSE(copy.from_json(d.to_json()));
  CHECK(copy.list() == d.list());
  CHECK(copy.from_json("{\"drains\": [{\"backend\": \"not-an-ip\"}]}"));
  CHECK(copy.from_json("garbage"));
  CHECK(copy.list() == d.list());
}
