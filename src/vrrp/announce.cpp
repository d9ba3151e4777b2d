#include "vrrp/announce.hpp"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "vrrp/packet.hpp"

namespace l4lb::vrrp {

std::vector<std::uint8_t> build_garp(const Mac& mac, const net::Address& vip) {
  std::vector<std::uint8_t> p = {0x00, 0x01,               // Ethernet
                                 0x08, 0x00,               // IPv4
                                 6,    4,    0x00, 0x01};  // request
  p.insert(p.end(), mac.begin(), mac.end());
  p.insert(p.end(), vip.data(), vip.data() + 4);
  p.insert(p.end(), 6, 0x00);
  p.insert(p.end(), vip.data(), vip.data() + 4);
  return p;
}

std::vector<std::uint8_t> build_unsolicited_na(const Mac& mac, const net::Address& vip) {
  static const net::Address all_nodes = *net::Address::parse("ff02::1");
  constexpr std::size_t icmp_len = 24 + 8;
  std::vector<std::uint8_t> p(40 + icmp_len, 0);
  p[0] = 0x60;
  p[5] = icmp_len;
  p[6] = 58;   // ICMPv6
  p[7] = 255;  // hop limit: receivers drop ND with anything else
  std::memcpy(&p[8], vip.data(), 16);
  std::memcpy(&p[24], all_nodes.data(), 16);
  std::uint8_t* icmp = &p[40];
  icmp[0] = 136;   // Neighbor Advertisement
  icmp[4] = 0x20;  // Override
  std::memcpy(&icmp[8], vip.data(), 16);
  icmp[24] = 2;  // Target Link-Layer Address
  icmp[25] = 1;  // length in units of 8 bytes
  std::memcpy(&icmp[26], mac.data(), 6);
  std::uint32_t acc = pseudo_header_sum(vip, all_nodes, 58, icmp_len);
  std::uint16_t c = static_cast<std::uint16_t>(~fold(sum16({icmp, icmp_len}, acc)));
  icmp[2] = static_cast<std::uint8_t>(c >> 8);
  icmp[3] = static_cast<std::uint8_t>(c & 0xff);
  return p;
}

Announcer::~Announcer() {
  if (fd_ >= 0) ::close(fd_);
}

bool Announcer::announce(int ifindex, const Mac& mac, const net::Address& vip, std::string& error) {
  if (fd_ < 0) {
    // protocol 0: a send-only socket that never queues received frames.
    fd_ = ::socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd_ < 0) {
      error = std::string("socket(AF_PACKET): ") + std::strerror(errno);
      return false;
    }
  }
  sockaddr_ll to{};
  to.sll_family = AF_PACKET;
  to.sll_ifindex = ifindex;
  to.sll_halen = 6;
  std::vector<std::uint8_t> frame;
  if (vip.is_v4()) {
    to.sll_protocol = htons(ETH_P_ARP);
    std::memset(to.sll_addr, 0xff, 6);
    frame = build_garp(mac, vip);
  } else {
    to.sll_protocol = htons(ETH_P_IPV6);
    const std::uint8_t all_nodes_mac[6] = {0x33, 0x33, 0, 0, 0, 1};
    std::memcpy(to.sll_addr, all_nodes_mac, 6);
    frame = build_unsolicited_na(mac, vip);
  }
  if (::sendto(fd_, frame.data(), frame.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to) <
      0) {
    error = std::string("sendto(AF_PACKET): ") + std::strerror(errno);
    return false;
  }
  return true;
}

}  // namespace l4lb::vrrp
