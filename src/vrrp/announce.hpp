// Gratuitous ARP (IPv4) and unsolicited Neighbor Advertisements (IPv6, RFC 4861 §7.2.6)
// that tell the segment a VIP moved to us. Builders are pure; Announcer sends the frames
// through an AF_PACKET socket so that they leave on exactly the VRRP interface.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "common/address.hpp"

namespace l4lb::vrrp {

using Mac = std::array<std::uint8_t, 6>;

// ARP request with sender = target = vip (what Linux' arping -U and keepalived send).
std::vector<std::uint8_t> build_garp(const Mac& mac, const net::Address& vip);
// IPv6 header + ICMPv6 NA (Override set, Target Link-Layer Address option) from `vip`
// to ff02::1, hop limit 255.
std::vector<std::uint8_t> build_unsolicited_na(const Mac& mac, const net::Address& vip);

class Announcer {
 public:
  Announcer() = default;
  ~Announcer();
  Announcer(const Announcer&) = delete;
  Announcer& operator=(const Announcer&) = delete;

  // One announcement of `vip` on `ifindex`; false + error on failure.
  bool announce(int ifindex, const Mac& mac, const net::Address& vip, std::string& error);

 private:
  int fd_ = -1;
};

}  // namespace l4lb::vrrp
