// Raw IP protocol 112 socket for one (interface, family): multicast membership on that
// interface only, TTL / hop limit 255, source address chosen per packet (IP_PKTINFO /
// IPV6_PKTINFO), and a receive path that hands up the TTL / hop limit with every packet.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/address.hpp"
#include "vrrp/packet.hpp"

namespace l4lb::vrrp {

const net::Address& multicast_group(net::Family f);  // 224.0.0.18 / ff02::12

class AdvertSocket {
 public:
  // meta + VRRP message, or a drop found below VRRP (malformed IPv4 header).
  using Handler = std::function<void(const IpMeta& meta, std::span<const std::uint8_t> msg,
                                     std::optional<Drop> drop)>;

  // Opens, binds to the device, joins the group when `multicast`. Returns nullptr and sets
  // `error` on failure.
  static std::unique_ptr<AdvertSocket> open(boost::asio::io_context& io, net::Family family,
                                            int ifindex, const std::string& ifname, bool multicast,
                                            std::string& error);
  ~AdvertSocket();

  void start(Handler h);
  // Sends one VRRP message from `source` to `destination`; false + error on failure.
  bool send(const net::Address& source, const net::Address& destination,
            std::span<const std::uint8_t> msg, std::string& error);

 private:
  AdvertSocket(boost::asio::io_context& io, net::Family f, int fd, int ifindex);
  void wait();
  void drain();

  net::Family family_;
  int ifindex_;
  boost::asio::posix::stream_descriptor sd_;
  Handler handler_;
  std::vector<std::uint8_t> buf_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace l4lb::vrrp
