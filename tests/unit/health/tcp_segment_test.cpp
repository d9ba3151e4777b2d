// The bytes of half-open checks: SYNs we build and the answers we believe.
#include "health/tcp_segment.hpp"

#include <catch2/catch.hpp>
#include <vector>

using namespace l4lb;
using namespace l4lb::health::tcp_segment;

namespace {

net::Address addr(const char* s) { return *net::Address::parse(s); }

std::uint16_t get16(const std::uint8_t* p) { return static_cast<std::uint16_t>(p[0] << 8 | p[1]); }

// An IPv4 datagram carrying a 20-byte TCP header from `from`:`sport` to 10.0.0.1:`dport`.
std::vector<std::uint8_t> datagram(const char* from, std::uint16_t sport, std::uint16_t dport,
                                   std::uint8_t flags, std::uint32_t ack) {
  std::vector<std::uint8_t> d(40, 0);
  d[0] = 0x45;
  d[3] = 40;
  d[8] = 64;
  d[9] = 6;
  const auto src = addr(from), dst = addr("10.0.0.1");
  std::copy(src.data(), src.data() + 4, &d[12]);
  std::copy(dst.data(), dst.data() + 4, &d[16]);
  d[20] = static_cast<std::uint8_t>(sport >> 8);
  d[21] = static_cast<std::uint8_t>(sport);
  d[22] = static_cast<std::uint8_t>(dport >> 8);
  d[23] = static_cast<std::uint8_t>(dport);
  for (int i = 0; i < 4; ++i) d[28 + i] = static_cast<std::uint8_t>(ack >> (24 - 8 * i));
  d[32] = 0x50;
  d[33] = flags;
  return d;
}

}  // namespace

TEST_CASE("SYN: header fields, MSS option and a checksum a receiver accepts") {
  const auto src = addr("10.0.0.1"), dst = addr("10.0.0.2");
  const Syn s = make_syn(src, 40000, dst, 80, 0x01020304);
  CHECK(get16(&s[0]) == 40000);
  CHECK(get16(&s[2]) == 80);
  CHECK(std::vector<std::uint8_t>(s.data() + 4, s.data() + 8) ==
        std::vector<std::uint8_t>{1, 2, 3, 4});
  CHECK(s[12] >> 4 == 6);  // 24-byte header
  CHECK(s[13] == kSyn);
  // s.data() + 24, not &s[24]: operator[] one past the end is undefined (UBSan under clang).
  CHECK(std::vector<std::uint8_t>(s.data() + 20, s.data() + 24) ==
        std::vector<std::uint8_t>{2, 4, 0x05, 0xb4});
  // Known answer, computed independently (Python, struct + the RFC 1071 sum).
  CHECK(get16(&s[16]) == 0xe38d);
  // And the receiver's view: the sum over the segment with its checksum is zero.
  CHECK(checksum(src, dst, s) == 0);
  // A different source changes it: the checksum covers the pseudo-header.
  CHECK(checksum(addr("10.0.0.9"), dst, s) != 0);
}

TEST_CASE("SYN over IPv6: pseudo-header with 32-bit length") {
  const auto src = addr("2001:db8::1"), dst = addr("2001:db8::2");
  const Syn s = make_syn(src, 40000, dst, 443, 0xdeadbeef);
  CHECK(get16(&s[22]) == 1440);
  CHECK(get16(&s[16]) == 0x012d);
  CHECK(checksum(src, dst, s) == 0);
}

TEST_CASE("IPv4 replies: fields read, anything malformed refused") {
  auto ok = datagram("10.0.0.2", 80, 40000, kSyn | kAck, 0x01020305);
  auto r = read_ipv4(ok);
  REQUIRE(r);
  CHECK(r->from == addr("10.0.0.2"));
  CHECK(r->sport == 80);
  CHECK(r->dport == 40000);
  CHECK(r->flags == (kSyn | kAck));
  CHECK(r->ack == 0x01020305);

  // Every cut into the headers is refused, never read past the end (ASan watches).
  for (std::size_t n = 0; n < ok.size(); ++n)
    CHECK_FALSE(read_ipv4(std::span<const std::uint8_t>(ok.data(), n)));

  auto bad = [&](auto mutate) {
    auto d = ok;
    mutate(d);
    return !read_ipv4(d).has_value();
  };
  CHECK(bad([](auto& d) { d[0] = 0x65; }));        // IPv6 version nibble
  CHECK(bad([](auto& d) { d[0] = 0x44; }));        // header shorter than 20
  CHECK(bad([](auto& d) { d[0] = 0x4f; }));        // header longer than the datagram
  CHECK_FALSE(bad([](auto& d) { d[3] = 60; }));    // payload cut by the socket: fine
  CHECK(bad([](auto& d) { d.resize(30); }));       // TCP header cut: refused
  CHECK(bad([](auto& d) { d[3] = 30; }));          // total length cuts the TCP header
  CHECK(bad([](auto& d) { d[9] = 17; }));          // UDP
  CHECK(bad([](auto& d) { d[6] = 0x20; }));        // more fragments
  CHECK(bad([](auto& d) { d[7] = 0x01; }));        // a later fragment
  CHECK(bad([](auto& d) { d[32] = 0x40; }));       // TCP data offset 16 < 20
  CHECK(bad([](auto& d) { d[32] = 0x60; }));       // TCP header beyond the segment
  CHECK_FALSE(bad([](auto& d) { d[6] = 0x40; }));  // don't-fragment is fine
}

TEST_CASE("IPv6 replies are segments with the sender from the socket address") {
  auto d = datagram("10.0.0.2", 443, 40000, kRst | kAck, 7);
  std::span<const std::uint8_t> seg(d.data() + 20, 20);
  auto r = read_ipv6(seg, addr("2001:db8::2"));
  REQUIRE(r);
  CHECK(r->from == addr("2001:db8::2"));
  CHECK(r->sport == 443);
  CHECK(r->flags == (kRst | kAck));
  CHECK_FALSE(read_ipv6(seg, addr("10.0.0.2")));
  CHECK_FALSE(read_ipv6(seg.first(19), addr("2001:db8::2")));
}

TEST_CASE("answers: only segments acknowledging our SYN count") {
  const std::uint32_t seq = 0xffffffff;  // the acknowledgement wraps to 0
  auto reply = [](std::uint8_t flags, std::uint32_t ack) {
    return *read_ipv4(datagram("10.0.0.2", 80, 40000, flags, ack));
  };
  CHECK(answer(reply(kSyn | kAck, 0), seq) == Answer::open);
  CHECK(answer(reply(kRst | kAck, 0), seq) == Answer::refused);
  CHECK(answer(reply(kSyn | kAck, 1), seq) == Answer::none);  // another SYN's answer
  CHECK(answer(reply(kRst, 0), seq) == Answer::none);         // a RST without ACK answers nothing
  CHECK(answer(reply(kSyn, 0), seq) == Answer::none);         // a SYN (simultaneous open)
  CHECK(answer(reply(kAck, 0), seq) == Answer::none);
  CHECK(answer(reply(kSyn | kAck | kFin, 0), seq) == Answer::none);
}
