// VRRPv3 advertisement codec (RFC 5798 §5). Pure: bytes in, a parsed advert or a drop
// reason out. Nothing here trusts the packet: every length is checked before it is read.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "common/address.hpp"

namespace l4lb::vrrp {

inline constexpr std::uint8_t kProtocol = 112;
inline constexpr std::uint8_t kVersion = 3;
inline constexpr std::uint8_t kTypeAdvert = 1;
inline constexpr std::uint8_t kTtl = 255;
inline constexpr std::size_t kHeaderSize = 8;
inline constexpr std::uint16_t kMaxAdverIntCs = 0x0fff;  // 12 bits of centiseconds

// Why a received packet was dropped. One counter per reason (see reason_name()).
enum class Drop : std::uint8_t {
  ip_header,      // IPv4: malformed IP header (IHL, total length, protocol, fragment)
  ttl,            // TTL / hop limit != 255 (§7.1)
  truncated,      // shorter than the 8-byte VRRP header
  version,        // not version 3
  type,           // not an advertisement
  checksum,       // §5.2.8 checksum over the pseudo-header and message
  address_count,  // count of addresses is zero
  length,         // packet length disagrees with the address count
  interval,       // Max Adver Int is zero
  vrid,           // not the VRID of this instance
  family,         // address family of the packet differs from the instance's
  owner,          // we are the address owner (priority 255) (§7.1)
  not_peer,       // unicast mode: the source is not a configured peer
  count_          // number of reasons; not a reason
};
inline constexpr std::size_t kDropReasons = static_cast<std::size_t>(Drop::count_);
std::string_view reason_name(Drop d);

struct Advert {
  std::uint8_t vrid = 0;
  std::uint8_t priority = 0;
  std::uint16_t max_adver_int_cs = 100;  // centiseconds, 12 bits
  std::vector<net::Address> addresses;   // all of one family
};

// What the IP layer told us about a received VRRP message.
struct IpMeta {
  net::Address source;
  net::Address destination;
  int ttl = -1;  // TTL / hop limit; -1 = unknown (then the packet is dropped)
};

// IPv4 raw sockets deliver the IP header; split it off and validate it.
struct Ipv4Split {
  IpMeta meta;
  std::span<const std::uint8_t> payload;
};
struct Ipv4Result {
  std::optional<Ipv4Split> split;
  Drop drop = Drop::ip_header;
};
Ipv4Result split_ipv4(std::span<const std::uint8_t> datagram);

struct DecodeResult {
  std::optional<Advert> advert;
  Drop drop = Drop::truncated;  // meaningful only when !advert
};

// Validates and parses one VRRP message (no IP header) of family `family` received with `meta`.
// Instance-level checks (VRID, owner, peers) are the caller's; see validate_for_instance().
DecodeResult decode(net::Family family, const IpMeta& meta, std::span<const std::uint8_t> msg);

// §7.1 checks that depend on the receiving instance.
std::optional<Drop> check_instance(const Advert& a, const IpMeta& meta, std::uint8_t vrid,
                                   bool we_are_owner,
                                   const std::vector<net::Address>* unicast_peers);

// Encodes `a` with the checksum for the given source and destination (same family as the
// addresses). The IP header is the kernel's.
std::vector<std::uint8_t> encode(const Advert& a, const net::Address& source,
                                 const net::Address& destination);

// RFC 1071 one's-complement sum helpers, exposed for the announcement builders.
std::uint32_t sum16(std::span<const std::uint8_t> bytes, std::uint32_t acc = 0);
std::uint16_t fold(std::uint32_t acc);
// Sum of the IPv4 (RFC 791/768 style) or IPv6 (RFC 8200 §8.1) pseudo-header.
std::uint32_t pseudo_header_sum(const net::Address& source, const net::Address& destination,
                                std::uint8_t protocol, std::uint32_t length);

}  // namespace l4lb::vrrp
