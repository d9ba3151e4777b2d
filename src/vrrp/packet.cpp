#include "vrrp/packet.hpp"

#include <array>

namespace l4lb::vrrp {

std::string_view reason_name(Drop d) {
  switch (d) {
    case Drop::ip_header:
      return "ip_header";
    case Drop::ttl:
      return "ttl";
    case Drop::truncated:
      return "truncated";
    case Drop::version:
      return "version";
    case Drop::type:
      return "type";
    case Drop::checksum:
      return "checksum";
    case Drop::address_count:
      return "address_count";
    case Drop::length:
      return "length";
    case Drop::interval:
      return "interval";
    case Drop::vrid:
      return "vrid";
    case Drop::family:
      return "family";
    case Drop::owner:
      return "owner";
    case Drop::not_peer:
      return "not_peer";
    case Drop::count_:
      break;
  }
  return "unknown";
}

std::uint32_t sum16(std::span<const std::uint8_t> bytes, std::uint32_t acc) {
  std::size_t i = 0;
  for (; i + 1 < bytes.size(); i += 2) acc += (std::uint32_t{bytes[i]} << 8) | bytes[i + 1];
  if (i < bytes.size()) acc += std::uint32_t{bytes[i]} << 8;
  return acc;
}

std::uint16_t fold(std::uint32_t acc) {
  while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
  return static_cast<std::uint16_t>(acc);
}

std::uint32_t pseudo_header_sum(const net::Address& source, const net::Address& destination,
                                std::uint8_t protocol, std::uint32_t length) {
  std::uint32_t acc = sum16({source.data(), source.size()});
  acc = sum16({destination.data(), destination.size()}, acc);
  // IPv4: zero, protocol, 16-bit length. IPv6: 32-bit length, 3 zero bytes, next header.
  // Both sum to the same 16-bit words as long as the length fits in 16 bits.
  acc += protocol;
  acc += (length >> 16) + (length & 0xffff);
  return acc;
}

Ipv4Result split_ipv4(std::span<const std::uint8_t> d) {
  Ipv4Result r;
  if (d.size() < 20 || (d[0] >> 4) != 4) return r;
  std::size_t ihl = std::size_t{d[0] & 0x0fu} * 4;
  std::size_t total = (std::size_t{d[2]} << 8) | d[3];
  // Linux hands raw sockets the header with tot_len in network order and the datagram
  // reassembled, so a fragment offset or MF flag here means something odd: drop it.
  bool fragment = ((d[6] & 0x3f) | d[7]) != 0;
  if (ihl < 20 || ihl > d.size() || total < ihl || total > d.size() || d[9] != kProtocol ||
      fragment)
    return r;
  Ipv4Split s;
  s.meta.ttl = d[8];
  s.meta.source = net::Address::from_bytes(net::Family::v4, &d[12]);
  s.meta.destination = net::Address::from_bytes(net::Family::v4, &d[16]);
  s.payload = d.subspan(ihl, total - ihl);
  r.split = s;
  return r;
}

DecodeResult decode(net::Family family, const IpMeta& meta, std::span<const std::uint8_t> m) {
  DecodeResult r;
  auto drop = [&](Drop d) {
    r.drop = d;
    return r;
  };
  if (meta.source.family() != family || meta.destination.family() != family)
    return drop(Drop::family);
  if (meta.ttl != kTtl) return drop(Drop::ttl);
  if (m.size() < kHeaderSize) return drop(Drop::truncated);
  if ((m[0] >> 4) != kVersion) return drop(Drop::version);
  if ((m[0] & 0x0f) != kTypeAdvert) return drop(Drop::type);
  std::uint32_t acc = pseudo_header_sum(meta.source, meta.destination, kProtocol,
                                        static_cast<std::uint32_t>(m.size()));
  if (fold(sum16(m, acc)) != 0xffff) return drop(Drop::checksum);
  std::size_t count = m[3];
  if (count == 0) return drop(Drop::address_count);
  std::size_t asize = family == net::Family::v4 ? 4 : 16;
  if (m.size() != kHeaderSize + count * asize) return drop(Drop::length);
  std::uint16_t interval = static_cast<std::uint16_t>(((m[4] & 0x0f) << 8) | m[5]);
  if (interval == 0) return drop(Drop::interval);
  Advert a;
  a.vrid = m[1];
  a.priority = m[2];
  a.max_adver_int_cs = interval;
  a.addresses.reserve(count);
  for (std::size_t i = 0; i < count; ++i)
    a.addresses.push_back(net::Address::from_bytes(family, &m[kHeaderSize + i * asize]));
  r.advert = std::move(a);
  return r;
}

std::optional<Drop> check_instance(const Advert& a, const IpMeta& meta, std::uint8_t vrid,
                                   bool we_are_owner,
                                   const std::vector<net::Address>* unicast_peers) {
  if (a.vrid != vrid) return Drop::vrid;
  if (unicast_peers) {
    bool known = false;
    for (const auto& p : *unicast_peers) known = known || p == meta.source;
    if (!known) return Drop::not_peer;
  }
  if (we_are_owner) return Drop::owner;
  return std::nullopt;
}

std::vector<std::uint8_t> encode(const Advert& a, const net::Address& source,
                                 const net::Address& destination) {
  std::size_t asize = source.size();
  std::size_t count = a.addresses.size() > 255 ? 255 : a.addresses.size();
  std::vector<std::uint8_t> m(kHeaderSize + count * asize, 0);
  m[0] = static_cast<std::uint8_t>((kVersion << 4) | kTypeAdvert);
  m[1] = a.vrid;
  m[2] = a.priority;
  m[3] = static_cast<std::uint8_t>(count);
  std::uint16_t interval = a.max_adver_int_cs & kMaxAdverIntCs;
  m[4] = static_cast<std::uint8_t>(interval >> 8);
  m[5] = static_cast<std::uint8_t>(interval & 0xff);
  for (std::size_t i = 0; i < count; ++i) {
    const auto& addr = a.addresses[i];
    for (std::size_t j = 0; j < asize && j < addr.size(); ++j)
      m[kHeaderSize + i * asize + j] = addr.data()[j];
  }
  std::uint32_t acc =
      pseudo_header_sum(source, destination, kProtocol, static_cast<std::uint32_t>(m.size()));
  std::uint16_t c = static_cast<std::uint16_t>(~fold(sum16(m, acc)));
  m[6] = static_cast<std::uint8_t>(c >> 8);
  m[7] = static_cast<std::uint8_t>(c & 0xff);
  return m;
}

}  // namespace l4lb::vrrp
