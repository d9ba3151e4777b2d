#include "common/address.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace l4lb::net {

std::string_view family_name(Family f) { return f == Family::v4 ? "ipv4" : "ipv6"; }

std::optional<Address> Address::parse(std::string_view text) {
  // inet_pton needs a NUL-terminated string; addresses are short.
  if (text.empty() || text.size() > INET6_ADDRSTRLEN) return std::nullopt;
  char buf[INET6_ADDRSTRLEN + 1];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  Address a;
  if (inet_pton(AF_INET, buf, a.bytes_.data()) == 1) {
    a.family_ = Family::v4;
    return a;
  }
  if (inet_pton(AF_INET6, buf, a.bytes_.data()) == 1) {
    a.family_ = Family::v6;
    return a;
  }
  return std::nullopt;
}

Address Address::from_v4(const in_addr& in) {
  return from_bytes(Family::v4, reinterpret_cast<const std::uint8_t*>(&in.s_addr));
}

Address Address::from_v6(const in6_addr& in) { return from_bytes(Family::v6, in.s6_addr); }

Address Address::from_bytes(Family family, const std::uint8_t* bytes) {
  Address a;
  a.family_ = family;
  std::memcpy(a.bytes_.data(), bytes, family == Family::v4 ? 4 : 16);
  return a;
}

in_addr Address::to_v4() const {
  in_addr out{};
  std::memcpy(&out.s_addr, bytes_.data(), 4);
  return out;
}

in6_addr Address::to_v6() const {
  in6_addr out{};
  std::memcpy(out.s6_addr, bytes_.data(), 16);
  return out;
}

bool Address::is_unspecified() const {
  for (std::size_t i = 0; i < size(); ++i)
    if (bytes_[i] != 0) return false;
  return true;
}

bool Address::is_multicast() const {
  return is_v4() ? (bytes_[0] & 0xf0) == 0xe0 : bytes_[0] == 0xff;
}

bool Address::is_link_local() const {
  return is_v4() ? (bytes_[0] == 169 && bytes_[1] == 254)
                 : (bytes_[0] == 0xfe && (bytes_[1] & 0xc0) == 0x80);
}

std::string Address::to_string() const {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(to_af(family_), bytes_.data(), buf, sizeof buf);
  return buf;
}

std::string Address::with_port(std::uint16_t port) const {
  return is_v4() ? to_string() + ":" + std::to_string(port)
                 : "[" + to_string() + "]:" + std::to_string(port);
}

std::optional<Prefix> Prefix::parse(std::string_view text) {
  auto slash = text.find('/');
  auto addr = Address::parse(text.substr(0, slash));
  if (!addr) return std::nullopt;
  unsigned max = addr->is_v4() ? 32 : 128;
  unsigned len = max;
  if (slash != std::string_view::npos) {
    auto digits = text.substr(slash + 1);
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), len);
    if (digits.empty() || ec != std::errc{} || end != digits.data() + digits.size() || len > max)
      return std::nullopt;
  }
  return Prefix{*addr, static_cast<std::uint8_t>(len)};
}

std::string Prefix::to_string() const {
  return address.to_string() + "/" + std::to_string(length);
}

}  // namespace l4lb::net

std::size_t std::hash<l4lb::net::Address>::operator()(const l4lb::net::Address& a) const noexcept {
  std::size_t h = static_cast<std::size_t>(a.family());
  for (std::size_t i = 0; i < a.size(); ++i) h = h * 131 + a.data()[i];
  return h;
}
