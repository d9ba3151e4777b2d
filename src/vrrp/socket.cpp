#include "vrrp/socket.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace l4lb::vrrp {
namespace {

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

template <typename T>
bool set(int fd, int level, int opt, const T& v, const char* what, std::string& error) {
  if (::setsockopt(fd, level, opt, &v, sizeof v) == 0) return true;
  error = errno_text(what);
  return false;
}

}  // namespace

const net::Address& multicast_group(net::Family f) {
  static const net::Address v4 = *net::Address::parse("224.0.0.18");
  static const net::Address v6 = *net::Address::parse("ff02::12");
  return f == net::Family::v4 ? v4 : v6;
}

std::unique_ptr<AdvertSocket> AdvertSocket::open(boost::asio::io_context& io, net::Family family,
                                                 int ifindex, const std::string& ifname,
                                                 bool multicast, std::string& error) {
  int fd = ::socket(net::to_af(family), SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, kProtocol);
  if (fd < 0) {
    error = errno_text("socket(IPPROTO 112)");
    return nullptr;
  }
  auto fail = [&]() -> std::unique_ptr<AdvertSocket> {
    ::close(fd);
    return nullptr;
  };
  // Only this interface's adverts, and ours leave through it whatever the routing says.
  if (::setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname.c_str(),
                   static_cast<socklen_t>(ifname.size())) != 0) {
    error = errno_text("SO_BINDTODEVICE");
    return fail();
  }
  int ttl = kTtl, zero = 0, one = 1;
  if (family == net::Family::v4) {
    ip_mreqn mreq{};
    mreq.imr_ifindex = ifindex;
    if (!set(fd, IPPROTO_IP, IP_TTL, ttl, "IP_TTL", error) ||
        !set(fd, IPPROTO_IP, IP_MULTICAST_TTL, ttl, "IP_MULTICAST_TTL", error) ||
        !set(fd, IPPROTO_IP, IP_MULTICAST_LOOP, zero, "IP_MULTICAST_LOOP", error) ||
        !set(fd, IPPROTO_IP, IP_MULTICAST_IF, mreq, "IP_MULTICAST_IF", error))
      return fail();
    if (multicast) {
      mreq.imr_multiaddr = multicast_group(family).to_v4();
      if (!set(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, mreq, "IP_ADD_MEMBERSHIP", error)) return fail();
    }
  } else {
    if (!set(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, ttl, "IPV6_UNICAST_HOPS", error) ||
        !set(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, ttl, "IPV6_MULTICAST_HOPS", error) ||
        !set(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, zero, "IPV6_MULTICAST_LOOP", error) ||
        !set(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, ifindex, "IPV6_MULTICAST_IF", error) ||
        !set(fd, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, one, "IPV6_RECVHOPLIMIT", error) ||
        !set(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, one, "IPV6_RECVPKTINFO", error))
      return fail();
    if (multicast) {
      ipv6_mreq mreq{};
      mreq.ipv6mr_multiaddr = multicast_group(family).to_v6();
      mreq.ipv6mr_interface = static_cast<unsigned>(ifindex);
      if (!set(fd, IPPROTO_IPV6, IPV6_ADD_MEMBERSHIP, mreq, "IPV6_ADD_MEMBERSHIP", error))
        return fail();
    }
  }
  return std::unique_ptr<AdvertSocket>(new AdvertSocket(io, family, fd, ifindex));
}

AdvertSocket::AdvertSocket(boost::asio::io_context& io, net::Family f, int fd, int ifindex)
    : family_(f), ifindex_(ifindex), sd_(io, fd), buf_(65536) {}

AdvertSocket::~AdvertSocket() {
  *alive_ = false;
  boost::system::error_code ec;
  sd_.close(ec);
}

void AdvertSocket::start(Handler h) {
  handler_ = std::move(h);
  wait();
}

void AdvertSocket::wait() {
  sd_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                 [this, alive = alive_](const boost::system::error_code& ec) {
                   if (ec || !*alive) return;
                   drain();
                   if (*alive) wait();
                 });
}

void AdvertSocket::drain() {
  // Bounded, so that a flood cannot starve the rest of the event loop.
  auto alive = alive_;
  for (int i = 0; i < 64 && *alive; ++i) {
    sockaddr_storage from{};
    alignas(cmsghdr) char control[256];
    iovec iov{buf_.data(), buf_.size()};
    msghdr msg{};
    msg.msg_name = &from;
    msg.msg_namelen = sizeof from;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n = ::recvmsg(sd_.native_handle(), &msg, MSG_DONTWAIT);
    if (n < 0) return;  // EAGAIN, or an error we cannot do anything about
    std::span<const std::uint8_t> data(buf_.data(), static_cast<std::size_t>(n));
    if (msg.msg_flags & MSG_TRUNC) {
      handler_({}, {}, Drop::length);
      continue;
    }
    if (family_ == net::Family::v4) {
      auto s = split_ipv4(data);
      if (!s.split) {
        handler_({}, {}, s.drop);
        continue;
      }
      handler_(s.split->meta, s.split->payload, std::nullopt);
      continue;
    }
    IpMeta meta;
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&from);
    if (from.ss_family != AF_INET6) {
      handler_({}, {}, Drop::ip_header);
      continue;
    }
    meta.source = net::Address::from_v6(sin6->sin6_addr);
    bool have_dst = false;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != IPPROTO_IPV6) continue;
      if (c->cmsg_type == IPV6_HOPLIMIT && c->cmsg_len >= CMSG_LEN(sizeof(int))) {
        int hl;
        std::memcpy(&hl, CMSG_DATA(c), sizeof hl);
        meta.ttl = hl;
      } else if (c->cmsg_type == IPV6_PKTINFO && c->cmsg_len >= CMSG_LEN(sizeof(in6_pktinfo))) {
        in6_pktinfo pi;
        std::memcpy(&pi, CMSG_DATA(c), sizeof pi);
        meta.destination = net::Address::from_v6(pi.ipi6_addr);
        have_dst = true;
      }
    }
    if (!have_dst) {
      handler_({}, {}, Drop::ip_header);
      continue;
    }
    handler_(meta, data, std::nullopt);
  }
}

bool AdvertSocket::send(const net::Address& source, const net::Address& destination,
                        std::span<const std::uint8_t> payload, std::string& error) {
  iovec iov{const_cast<std::uint8_t*>(payload.data()), payload.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(in6_pktinfo))] = {};
  msg.msg_control = control;
  sockaddr_in to4{};
  sockaddr_in6 to6{};
  cmsghdr* c = reinterpret_cast<cmsghdr*>(control);
  if (family_ == net::Family::v4) {
    to4.sin_family = AF_INET;
    to4.sin_addr = destination.to_v4();
    msg.msg_name = &to4;
    msg.msg_namelen = sizeof to4;
    // The checksum covers the source, so the kernel must use exactly the one we summed.
    in_pktinfo pi{};
    pi.ipi_ifindex = ifindex_;
    pi.ipi_spec_dst = source.to_v4();
    msg.msg_controllen = CMSG_SPACE(sizeof pi);
    c->cmsg_level = IPPROTO_IP;
    c->cmsg_type = IP_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof pi);
    std::memcpy(CMSG_DATA(c), &pi, sizeof pi);
  } else {
    to6.sin6_family = AF_INET6;
    to6.sin6_addr = destination.to_v6();
    if (destination.is_link_local() || destination.is_multicast())
      to6.sin6_scope_id = static_cast<std::uint32_t>(ifindex_);
    msg.msg_name = &to6;
    msg.msg_namelen = sizeof to6;
    in6_pktinfo pi{};
    pi.ipi6_ifindex = static_cast<unsigned>(ifindex_);
    pi.ipi6_addr = source.to_v6();
    msg.msg_controllen = CMSG_SPACE(sizeof pi);
    c->cmsg_level = IPPROTO_IPV6;
    c->cmsg_type = IPV6_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof pi);
    std::memcpy(CMSG_DATA(c), &pi, sizeof pi);
  }
  if (::sendmsg(sd_.native_handle(), &msg, MSG_DONTWAIT) < 0) {
    error = errno_text("sendmsg");
    return false;
  }
  return true;
}

}  // namespace l4lb::vrrp
