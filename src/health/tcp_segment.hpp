// The TCP segments of a half-open check (see half_open.hpp), built and read as bytes. Pure:
// no sockets. Everything read here came off the wire and is checked before it is believed.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>

#include "common/address.hpp"

namespace l4lb::health::tcp_segment {

inline constexpr std::uint8_t kFin = 0x01;
inline constexpr std::uint8_t kSyn = 0x02;
inline constexpr std::uint8_t kRst = 0x04;
inline constexpr std::uint8_t kAck = 0x10;

// A SYN has a 20-byte header plus one option, MSS, so that it looks like any other SYN.
inline constexpr std::size_t kSynSize = 24;
using Syn = std::array<std::uint8_t, kSynSize>;

// A SYN from source:sport to dest:dport with sequence number `seq`, its checksum computed
// over the pseudo-header of the two addresses (which must be of one family).
Syn make_syn(const net::Address& source, std::uint16_t sport, const net::Address& dest,
             std::uint16_t dport, std::uint32_t seq);

// The Internet checksum (RFC 1071) of the TCP pseudo-header and `segment`; 0 when a
// segment carrying its checksum is intact.
std::uint16_t checksum(const net::Address& source, const net::Address& dest,
                       std::span<const std::uint8_t> segment);

// What a raw socket handed us, reduced to what a half-open check needs.
struct Reply {
  net::Address from;        // the backend
  std::uint16_t sport = 0;  // the backend's port
  std::uint16_t dport = 0;  // our port
  std::uint8_t flags = 0;
  std::uint32_t ack = 0;
};

// An IPv4 datagram as an IPv4 raw socket delivers it (IP header first), possibly cut after
// the headers. nullopt for anything that is not an unfragmented TCP segment with its whole
// TCP header.
std::optional<Reply> read_ipv4(std::span<const std::uint8_t> datagram);
// A TCP segment as an IPv6 raw socket delivers it (no IP header), sent by `from`.
std::optional<Reply> read_ipv6(std::span<const std::uint8_t> segment, const net::Address& from);

// How a reply answers our SYN with sequence number `seq`: a SYN-ACK acknowledging it means
// something listens (what makes connect() succeed); a RST acknowledging it means nothing
// does (connect()'s ECONNREFUSED). Anything else answers some other SYN and is ignored.
enum class Answer { none, open, refused };
Answer answer(const Reply& reply, std::uint32_t seq);

}  // namespace l4lb::health::tcp_segment
