// libFuzzer harness for the VRRP receive path: IPv4 header split, advert decode, instance
// checks, and encode(decode(x)) == x for everything that decodes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "vrrp/packet.hpp"

using namespace l4lb;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const bool v6 = data[0] & 1;
  std::span<const std::uint8_t> rest(data + 1, size - 1);
  vrrp::IpMeta meta;
  std::span<const std::uint8_t> msg;
  if (!v6) {
    auto s = vrrp::split_ipv4(rest);
    if (!s.split) return 0;
    meta = s.split->meta;
    msg = s.split->payload;
  } else {
    if (rest.size() < 33) return 0;
    meta.source = net::Address::from_bytes(net::Family::v6, rest.data());
    meta.destination = net::Address::from_bytes(net::Family::v6, rest.data() + 16);
    meta.ttl = rest[32];
    msg = rest.subspan(33);
  }
  auto family = v6 ? net::Family::v6 : net::Family::v4;
  auto r = vrrp::decode(family, meta, msg);
  if (!r.advert) return 0;
  std::vector<net::Address> peers{meta.source};
  (void)vrrp::check_instance(*r.advert, meta, 7, false, &peers);
  // Whatever decodes re-encodes to the same bytes (the checksum included).
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
