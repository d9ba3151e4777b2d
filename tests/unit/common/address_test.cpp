#include <catch2/catch.hpp>

#include "common/address.hpp"

using l4lb::net::Address;
using l4lb::net::Family;
using l4lb::net::Prefix;

TEST_CASE("addresses parse and print in both families") {
  auto v4 = Address::parse("10.232.35.199");
  REQUIRE(v4);
  CHECK(v4->family() == Family::v4);
  CHECK(v4->to_string() == "10.232.35.199");
  CHECK(v4->with_port(389) == "10.232.35.199:389");

  auto v6 = Address::parse("2001:db8::199");
  REQUIRE(v6);
  CHECK(v6->is_v6());
  CHECK(v6->with_port(80) == "[2001:db8::199]:80");
  CHECK(Address::parse("fe80::1")->is_link_local());
  CHECK(Address::parse("224.0.0.18")->is_multicast());
}

TEST_CASE("malformed addresses are rejected") {
  for (auto bad : {"", "10.0.0", "10.0.0.256", "::g", "10.0.0.1 ", "host.example",
                   "1234567890123456789012345678901234567890123456789012"})
    CHECK_FALSE(Address::parse(bad));
}

TEST_CASE("prefixes default to host length and bound the length") {
  CHECK(Prefix::parse("10.0.0.1")->length == 32);
  CHECK(Prefix::parse("2001:db8::1")->length == 128);
  CHECK(Prefix::parse("10.0.0.1/24")->to_string() == "10.0.0.1/24");
  CHECK_FALSE(Prefix::parse("10.0.0.1/33"));
  CHECK_FALSE(Prefix::parse("10.0.0.1/"));
  CHECK_FALSE(Prefix::parse("10.0.0.1/2x"));
  CHECK_FALSE(Prefix::parse("2001:db8::1/129"));
}

TEST_CASE("addresses order and compare by family then bytes") {
  CHECK(*Address::parse("10.0.0.1") < *Address::parse("10.0.0.2"));
  CHECK(*Address::parse("10.0.0.1") == *Address::parse("10.0.0.1"));
  CHECK(*Address::parse("10.0.0.1") != *Address::parse("::ffff:10.0.0.1"));
}
