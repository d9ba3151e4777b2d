// libFuzzer harness for what half-open TCP checks read off the wire: IPv4 datagrams and IPv6
// segments as raw sockets deliver them. Whatever is accepted must lie within the input, and
// an answer must acknowledge exactly the sequence number asked about.
// Byte 0 picks the path: bit 0 = IPv6 (the sender from the next 16 bytes), else IPv4.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "health/tcp_segment.hpp"

using namespace l4lb;
using namespace l4lb::health::tcp_segment;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 5) return 0;
  const bool v6 = data[0] & 1;
  const std::uint32_t seq = (std::uint32_t{data[1]} << 24) | (std::uint32_t{data[2]} << 16) |
                            (std::uint32_t{data[3]} << 8) | data[4];
  std::span<const std::uint8_t> rest(data + 5, size - 5);
  std::optional<Reply> r;
  if (v6) {
    if (rest.size() < 16) return 0;
    r = read_ipv6(rest.subspan(16), net::Address::from_bytes(net::Family::v6, rest.data()));
  } else {
    r = read_ipv4(rest);
  }
  if (!r) return 0;
  const Answer a = answer(*r, seq);
  if (a != Answer::none && r->ack != seq + 1) std::abort();
  if (a == Answer::open && (r->flags & (kSyn | kAck)) != (kSyn | kAck)) std::abort();
  if (a == Answer::refused && !(r->flags & kRst)) std::abort();
  return 0;
}
