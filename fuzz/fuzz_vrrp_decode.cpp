// libFuzzer harness for the VRRP receive path: IPv4 header split, advert decode, instance
// checks, and encode(decode(x)) == x for everything that decodes.
// Byte 0 picks the path: bit 0..1 = raw IPv4 datagram / IPv6 / IPv4 with given addresses,
// bit 2 = patch a correct checksum in (so that the fuzzer gets past the checksum check).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "vrrp/packet.hpp"

using namespace l4lb;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const int mode = data[0] & 3;
  const bool fix_checksum = data[0] & 4;
  std::span<const std::uint8_t> rest(data + 1, size - 1);
  vrrp::IpMeta meta;
  std::span<const std::uint8_t> in;
  net::Family family = net::Family::v4;
  if (mode == 0) {
    auto s = vrrp::split_ipv4(rest);
    if (!s.split) return 0;
    meta = s.split->meta;
    in = s.split->payload;
  } else {
    family = mode == 1 ? net::Family::v6 : net::Family::v4;
    std::size_t asize = family == net::Family::v6 ? 16 : 4;
    if (rest.size() < 2 * asize + 1) return 0;
    meta.source = net::Address::from_bytes(family, rest.data());
    meta.destination = net::Address::from_bytes(family, rest.data() + asize);
    meta.ttl = rest[2 * asize];
    in = rest.subspan(2 * asize + 1);
  }
  std::vector<std::uint8_t> msg(in.begin(), in.end());
  if (fix_checksum && msg.size() >= vrrp::kHeaderSize) {
    msg[6] = msg[7] = 0;
    auto acc = vrrp::pseudo_header_sum(meta.source, meta.destination, vrrp::kProtocol,
                                       static_cast<std::uint32_t>(msg.size()));
    auto c = static_cast<std::uint16_t>(~vrrp::fold(vrrp::sum16(msg, acc)));
    msg[6] = static_cast<std::uint8_t>(c >> 8);
    msg[7] = static_cast<std::uint8_t>(c);
  }
  auto r = vrrp::decode(family, meta, msg);
  if (!r.advert) return 0;
  std::vector<net::Address> peers{meta.source};
  (void)vrrp::check_instance(*r.advert, meta, 7, false, &peers);
  // Whatever decodes re-encodes to the same bytes.
  auto again = vrrp::encode(*r.advert, meta.source, meta.destination);
  if (again.size() != msg.size()) std::abort();
  for (std::size_t i = 0; i < msg.size(); ++i) {
    std::uint8_t want = msg[i];
    if (i == 4) want &= 0x0f;        // reserved bits are not kept
    if (i == 6 || i == 7) continue;  // 0x0000 and 0xffff are the same one's-complement sum
    if (again[i] != want) std::abort();
  }
  return 0;
}
