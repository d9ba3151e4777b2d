// libFuzzer: IPVS netlink replies (service, destination, info, config, sync daemon) from arbitrary
// bytes must decode or be rejected, never crash or read out of bounds.
#include <linux/netlink.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "ipvs/netlink_codec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < NLMSG_HDRLEN || size > 65536) return 0;
  // Aligned copy whose header length matches the buffer, as a socket read would give.
  std::vector<std::uint32_t> buf((size + 3) / 4);
  std::memcpy(buf.data(), data, size);
  auto* h = reinterpret_cast<nlmsghdr*>(buf.data());
  h->nlmsg_len = static_cast<std::uint32_t>(size);
  std::string error;
  l4lb::ipvs::Service s;
  l4lb::ipvs::Destination d;
  l4lb::ipvs::Info i;
  l4lb::ipvs::codec::decode_service(h, s, error);
  l4lb::ipvs::codec::decode_dest(h, l4lb::net::Family::v4, d, error);
  l4lb::ipvs::codec::decode_dest(h, l4lb::net::Family::v6, d, error);
  l4lb::ipvs::codec::decode_info(h, i, error);
  l4lb::ipvs::Timeouts t;
  l4lb::ipvs::codec::decode_config(h, t, error);
  l4lb::ipvs::SyncDaemon sd;
  l4lb::ipvs::codec::decode_daemon(h, sd, error);
  return 0;
}
