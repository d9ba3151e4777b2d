#include "common/sockaddr.hpp"

#include <netinet/in.h>

#include <cstring>

namespace l4lb::net {

socklen_t to_sockaddr(const Address& a, std::uint16_t port, sockaddr_storage& ss) {
  std::memset(&ss, 0, sizeof ss);
  if (a.is_v4()) {
    auto* s = reinterpret_cast<sockaddr_in*>(&ss);
    s->sin_family = AF_INET;
    s->sin_port = htons(port);
    s->sin_addr = a.to_v4();
    return sizeof(sockaddr_in);
  }
  auto* s = reinterpret_cast<sockaddr_in6*>(&ss);
  s->sin6_family = AF_INET6;
  s->sin6_port = htons(port);
  s->sin6_addr = a.to_v6();
  return sizeof(sockaddr_in6);
}

std::optional<Address> address_of(const sockaddr_storage& ss) {
  if (ss.ss_family == AF_INET)
    return Address::from_v4(reinterpret_cast<const sockaddr_in&>(ss).sin_addr);
  if (ss.ss_family == AF_INET6)
    return Address::from_v6(reinterpret_cast<const sockaddr_in6&>(ss).sin6_addr);
  return std::nullopt;
}

}  // namespace l4lb::net
