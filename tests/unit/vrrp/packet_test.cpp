#include "vrrp/packet.hpp"

#include <catch2/catch.hpp>

using namespace l4lb;
using namespace l4lb::vrrp;

namespace {
net::Address A(const char* s) { return *net::Address::parse(s); }

IpMeta meta4(const char* src = "10.0.0.1", const char* dst = "224.0.0.18", int ttl = 255) {
  return {A(src), A(dst), ttl};
}

std::vector<std::uint8_t> ipv4_wrap(const std::vector<std::uint8_t>& payload, const IpMeta& m) {
  std::vector<std::uint8_t> d(20 + payload.size(), 0);
  d[0] = 0x45;
  d[2] = static_cast<std::uint8_t>(d.size() >> 8);
  d[3] = static_cast<std::uint8_t>(d.size() & 0xff);
  d[8] = static_cast<std::uint8_t>(m.ttl);
  d[9] = 112;
  std::copy(m.source.data(), m.source.data() + 4, d.begin() + 12);
  std::copy(m.destination.data(), m.destination.data() + 4, d.begin() + 16);
  std::copy(payload.begin(), payload.end(), d.begin() + 20);
  return d;
}
}  // namespace

TEST_CASE("IPv4 advert round-trips and matches a hand-computed checksum") {
  Advert a{51, 150, 100, {A("10.0.0.100")}};
  auto m = meta4();
  auto bytes = encode(a, m.source, m.destination);
  REQUIRE(bytes.size() == 12);
  CHECK(bytes[0] == 0x31);
  CHECK(bytes[1] == 51);
  CHECK(bytes[2] == 150);
  CHECK(bytes[3] == 1);
  CHECK(bytes[4] == 0x00);
  CHECK(bytes[5] == 100);
  // Independent sum: pseudo header 10.0.0.1, 224.0.0.18, proto 112, length 12, then message.
  std::uint32_t s = 0x0a00 + 0x0001 + 0xe000 + 0x0012 + 112 + 12;
  s += 0x3133 + 0x9601 + 0x0064 + 0x0a00 + 0x0064;
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  std::uint16_t expect = static_cast<std::uint16_t>(~s);
  CHECK(((bytes[6] << 8) | bytes[7]) == expect);

  auto r = decode(net::Family::v4, m, bytes);
  REQUIRE(r.advert);
  CHECK(r.advert->vrid == 51);
  CHECK(r.advert->priority == 150);
  CHECK(r.advert->max_adver_int_cs == 100);
  CHECK(r.advert->addresses == std::vector<net::Address>{A("10.0.0.100")});
}

TEST_CASE("IPv6 advert round-trips; checksum depends on the pseudo-header") {
  Advert a{7, 100, 5, {A("2001:db8::10"), A("2001:db8::11")}};
  IpMeta m{A("fe80::1"), A("ff02::12"), 255};
  auto bytes = encode(a, m.source, m.destination);
  REQUIRE(bytes.size() == 8 + 32);
  auto r = decode(net::Family::v6, m, bytes);
  REQUIRE(r.advert);
  CHECK(r.advert->addresses.size() == 2);
  CHECK(r.advert->addresses[1] == A("2001:db8::11"));
  IpMeta other{A("fe80::2"), A("ff02::12"), 255};
  auto bad = decode(net::Family::v6, other, bytes);
  CHECK_FALSE(bad.advert);
  CHECK(bad.drop == Drop::checksum);
}

TEST_CASE("every validation failure has its own reason") {
  auto m = meta4();
  Advert a{51, 150, 100, {A("10.0.0.100")}};
  auto good = encode(a, m.source, m.destination);
  auto reason = [&](std::vector<std::uint8_t> b, IpMeta mm) {
    auto r = decode(net::Family::v4, mm, b);
    REQUIRE_FALSE(r.advert);
    return r.drop;
  };
  SECTION("ttl 254") { CHECK(reason(good, meta4("10.0.0.1", "224.0.0.18", 254)) == Drop::ttl); }
  SECTION("unknown ttl") { CHECK(reason(good, meta4("10.0.0.1", "224.0.0.18", -1)) == Drop::ttl); }
  SECTION("truncated") {
    CHECK(reason({good.begin(), good.begin() + 7}, m) == Drop::truncated);
    CHECK(reason({}, m) == Drop::truncated);
  }
  SECTION("version 2") {
    auto b = good;
    b[0] = 0x21;
    CHECK(reason(b, m) == Drop::version);
  }
  SECTION("type") {
    auto b = good;
    b[0] = 0x32;
    CHECK(reason(b, m) == Drop::type);
  }
  SECTION("bad checksum") {
    auto b = good;
    b[7] ^= 1;
    CHECK(reason(b, m) == Drop::checksum);
  }
  SECTION("huge address count, correct checksum") {
    Advert big = a;
    auto b = encode(big, m.source, m.destination);
    b[3] = 200;
    // re-checksum so that only the count is wrong
    b[6] = b[7] = 0;
    auto c = static_cast<std::uint16_t>(
        ~fold(sum16(b, pseudo_header_sum(m.source, m.destination, 112, 12))));
    b[6] = static_cast<std::uint8_t>(c >> 8);
    b[7] = static_cast<std::uint8_t>(c);
    CHECK(reason(b, m) == Drop::length);
  }
  SECTION("zero addresses") {
    Advert none{51, 150, 100, {}};
    CHECK(reason(encode(none, m.source, m.destination), m) == Drop::address_count);
  }
  SECTION("zero interval") {
    Advert z{51, 150, 0, {A("10.0.0.100")}};
    CHECK(reason(encode(z, m.source, m.destination), m) == Drop::interval);
  }
  SECTION("wrong family in meta") {
    IpMeta m6{A("fe80::1"), A("ff02::12"), 255};
    CHECK(reason(good, m6) == Drop::family);
  }
}

TEST_CASE("instance checks: VRID, unicast peers, owner") {
  Advert a{51, 150, 100, {A("10.0.0.100")}};
  auto m = meta4();
  CHECK(check_instance(a, m, 52, false, nullptr) == Drop::vrid);
  CHECK_FALSE(check_instance(a, m, 51, false, nullptr));
  std::vector<net::Address> peers{A("10.0.0.2")};
  CHECK(check_instance(a, m, 51, false, &peers) == Drop::not_peer);
  peers.push_back(A("10.0.0.1"));
  CHECK_FALSE(check_instance(a, m, 51, false, &peers));
  CHECK(check_instance(a, m, 51, true, nullptr) == Drop::owner);
}

TEST_CASE("IPv4 header split validates and extracts TTL and addresses") {
  Advert a{51, 150, 100, {A("10.0.0.100")}};
  auto m = meta4("10.0.0.9", "224.0.0.18", 255);
  auto d = ipv4_wrap(encode(a, m.source, m.destination), m);
  auto s = split_ipv4(d);
  REQUIRE(s.split);
  CHECK(s.split->meta.ttl == 255);
  CHECK(s.split->meta.source == A("10.0.0.9"));
  CHECK(s.split->payload.size() == 12);
  CHECK(decode(net::Family::v4, s.split->meta, s.split->payload).advert);

  auto bad = d;
  bad[0] = 0x44;  // IHL 16 bytes
  CHECK_FALSE(split_ipv4(bad).split);
  bad = d;
  bad[3] = 0xff;  // total length beyond the datagram
  CHECK_FALSE(split_ipv4(bad).split);
  bad = d;
  bad[9] = 6;
  CHECK_FALSE(split_ipv4(bad).split);
  bad = d;
  bad[6] = 0x20;  // more fragments
  CHECK_FALSE(split_ipv4(bad).split);
  CHECK_FALSE(split_ipv4(std::span<const std::uint8_t>(d.data(), 10)).split);
}

TEST_CASE("random bytes never crash the decoder") {
  std::uint32_t x = 12345;
  for (int i = 0; i < 20000; ++i) {
    std::vector<std::uint8_t> b(x % 80);
    for (auto& c : b) {
      x = x * 1103515245 + 12345;
      c = static_cast<std::uint8_t>(x >> 16);
    }
    if (!b.empty()) b[0] = static_cast<std::uint8_t>((b[0] & 0x0f) | 0x30);
    auto s = split_ipv4(b);
    (void)s;
    auto r = decode(net::Family::v6, {A("fe80::1"), A("ff02::12"), 255}, b);
    if (r.advert) CHECK(r.advert->addresses.size() * 16 + 8 == b.size());
  }
}
