#include "health/tcp_segment.hpp"

#include <netinet/in.h>

#include <algorithm>

namespace l4lb::health::tcp_segment {

namespace {

std::uint16_t get16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}

std::uint32_t get32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         p[3];
}

void put16(std::uint8_t* p, std::uint16_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 8);
  p[1] = static_cast<std::uint8_t>(v);
}

void put32(std::uint8_t* p, std::uint32_t v) {
  put16(p, static_cast<std::uint16_t>(v >> 16));
  put16(p + 2, static_cast<std::uint16_t>(v));
}

// Sum of big-endian 16-bit words, the last odd byte padded with zero.
std::uint32_t add_words(std::uint32_t sum, const std::uint8_t* p, std::size_t n) {
  for (std::size_t i = 0; i + 1 < n; i += 2) sum += get16(p + i);
  if (n % 2) sum += std::uint32_t{p[n - 1]} << 8;
  return sum;
}

std::size_t address_size(const net::Address& a) { return a.is_v4() ? 4 : 16; }

// The TCP header fields after the ports, from a segment of at least 20 bytes whose data
// offset fits in it.
std::optional<Reply> read_tcp(std::span<const std::uint8_t> seg, const net::Address& from) {
  if (seg.size() < 20) return std::nullopt;
  const std::size_t offset = static_cast<std::size_t>(seg[12] >> 4) * 4;
  if (offset < 20 || offset > seg.size()) return std::nullopt;
  Reply r;
  r.from = from;
  r.sport = get16(&seg[0]);
  r.dport = get16(&seg[2]);
  r.flags = seg[13];
  r.ack = get32(&seg[8]);
  return r;
}

}  // namespace

std::uint16_t checksum(const net::Address& source, const net::Address& dest,
                       std::span<const std::uint8_t> segment) {
  std::uint32_t sum = 0;
  sum = add_words(sum, source.data(), address_size(source));
  sum = add_words(sum, dest.data(), address_size(dest));
  // Pseudo-header: protocol and length (IPv4: zero byte, protocol, 16-bit length; IPv6:
  // 32-bit length, three zero bytes, next header; the same words sum to the same value).
  sum += IPPROTO_TCP;
  sum += static_cast<std::uint32_t>(segment.size() >> 16);
  sum += static_cast<std::uint32_t>(segment.size() & 0xffff);
  sum = add_words(sum, segment.data(), segment.size());
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<std::uint16_t>(~sum);
}

Syn make_syn(const net::Address& source, std::uint16_t sport, const net::Address& dest,
             std::uint16_t dport, std::uint32_t seq) {
  Syn s{};
  put16(&s[0], sport);
  put16(&s[2], dport);
  put32(&s[4], seq);
  // ack 0
  s[12] = static_cast<std::uint8_t>((kSynSize / 4) << 4);
  s[13] = kSyn;
  put16(&s[14], 65535);  // window
  // checksum at 16, urgent pointer at 18: zero
  s[20] = 2;  // MSS option, length 4
  s[21] = 4;
  put16(&s[22], dest.is_v4() ? 1460 : 1440);
  put16(&s[16], checksum(source, dest, s));
  return s;
}

std::optional<Reply> read_ipv4(std::span<const std::uint8_t> d) {
  if (d.size() < 20 || (d[0] >> 4) != 4) return std::nullopt;
  const std::size_t ihl = static_cast<std::size_t>(d[0] & 0x0fu) * 4;
  const std::size_t total = get16(&d[2]);
  if (ihl < 20 || total < ihl || ihl > d.size()) return std::nullopt;
  if (d[9] != IPPROTO_TCP) return std::nullopt;
  // Fragment offset or more-fragments set: not a whole segment.
  if ((get16(&d[6]) & 0x3fff) != 0) return std::nullopt;
  // The socket may keep only the headers of a longer datagram: the TCP header must be whole,
  // the payload (never looked at) need not be.
  const std::size_t end = std::min(total, d.size());
  return read_tcp(d.subspan(ihl, end - ihl), net::Address::from_bytes(net::Family::v4, &d[12]));
}

std::optional<Reply> read_ipv6(std::span<const std::uint8_t> segment, const net::Address& from) {
  if (!from.is_v6()) return std::nullopt;
  return read_tcp(segment, from);
}

Answer answer(const Reply& r, std::uint32_t seq) {
  if (!(r.flags & kAck) || r.ack != seq + 1) return Answer::none;
  if (r.flags & kRst) return Answer::refused;
  if ((r.flags & kSyn) && !(r.flags & kFin)) return Answer::open;
  return Answer::none;
}

}  // namespace l4lb::health::tcp_segment
