// Between net::Address and the socket API's address structures.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <optional>

#include "common/address.hpp"

namespace l4lb::net {

// Fills `ss` with `a`:`port` (sockaddr_in or sockaddr_in6) and returns its length.
socklen_t to_sockaddr(const Address& a, std::uint16_t port, sockaddr_storage& ss);

// The address in `ss`; nullopt for a family other than IPv4 and IPv6.
std::optional<Address> address_of(const sockaddr_storage& ss);

}  // namespace l4lb::net
