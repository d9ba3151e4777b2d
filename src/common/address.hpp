// IP addresses and prefixes shared by every area. A value type with no I/O.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace l4lb::net {

enum class Family : std::uint8_t { v4 = AF_INET, v6 = AF_INET6 };

inline int to_af(Family f) { return static_cast<int>(f); }
std::string_view family_name(Family f);  // "ipv4" / "ipv6"

class Address {
 public:
  Address() = default;  // 0.0.0.0
  static std::optional<Address> parse(std::string_view text);
  static Address from_v4(const in_addr& a);
  static Address from_v6(const in6_addr& a);
  // `bytes` must hold 4 (v4) or 16 (v6) bytes in network order.
  static Address from_bytes(Family family, const std::uint8_t* bytes);

  Family family() const { return family_; }
  bool is_v4() const { return family_ == Family::v4; }
  bool is_v6() const { return family_ == Family::v6; }
  std::size_t size() const { return is_v4() ? 4 : 16; }
  const std::uint8_t* data() const { return bytes_.data(); }

  in_addr to_v4() const;
  in6_addr to_v6() const;
  bool is_unspecified() const;
  bool is_multicast() const;
  bool is_link_local() const;  // fe80::/10 or 169.254/16

  std::string to_string() const;
  // "[2001:db8::1]:80" / "10.0.0.1:80"
  std::string with_port(std::uint16_t port) const;

  auto operator<=>(const Address&) const = default;
  bool operator==(const Address&) const = default;

 private:
  Family family_ = Family::v4;
  std::array<std::uint8_t, 16> bytes_{};
};

struct Prefix {
  Address address;
  std::uint8_t length = 0;

  // "10.0.0.1/24", "2001:db8::1/64"; without "/len" the host length (32/128).
  static std::optional<Prefix> parse(std::string_view text);
  std::string to_string() const;
  auto operator<=>(const Prefix&) const = default;
  bool operator==(const Prefix&) const = default;
};

}  // namespace l4lb::net

template <>
struct std::hash<l4lb::net::Address> {
  std::size_t operator()(const l4lb::net::Address& a) const noexcept;
};
