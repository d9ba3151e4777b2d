#include <linux/ip_vs.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>

#include <catch2/catch.hpp>

#include "helpers.hpp"
#include "ipvs/netlink_codec.hpp"

using namespace l4lb;
using namespace l4lb::ipvs;
using namespace l4lb::ipvs::test;
using K = Operation::Kind;

// A NEW_SERVICE / NEW_DEST request has the same attribute layout as a dump reply, so
// encoding then decoding must give back what went in.
TEST_CASE("service and destination attributes round trip") {
  auto s = service("2001:db8::1", 443, "sh", Protocol::tcp);
  s.sh_fallback = true;
  s.persistent = true;
  s.timeout = 300;
  s.netmask = 64;
  auto m = codec::encode_operation(42, Operation::on_service(K::add_service, s));
  REQUIRE(m);
  nlmsghdr* h = nlmsg_hdr(m.get());
  CHECK(h->nlmsg_type == 42);
  auto* g = static_cast<genlmsghdr*>(nlmsg_data(h));
  CHECK(g->cmd == IPVS_CMD_NEW_SERVICE);
  Service back;
  std::string error;
  REQUIRE(codec::decode_service(h, back, error));
  CHECK(back.key == s.key);
  CHECK(back.same_settings(s));

  auto v4 = service("10.0.0.1", 53, "rr", Protocol::udp);
  v4.persistent = true;
  v4.timeout = 60;
  v4.netmask = 24;
  m = codec::encode_operation(42, Operation::on_service(K::edit_service, v4));
  REQUIRE(codec::decode_service(nlmsg_hdr(m.get()), back, error));
  CHECK(back.key == v4.key);
  CHECK(back.netmask == 24);
  CHECK(static_cast<genlmsghdr*>(nlmsg_data(nlmsg_hdr(m.get())))->cmd == IPVS_CMD_SET_SERVICE);

  auto d = dest("2001:db8:1::7", 8443, 12, Forward::tunnel);
  d.upper_threshold = 100;
  d.lower_threshold = 5;
  m = codec::encode_operation(42, Operation::on_dest(K::edit_dest, s, d));
  Destination dback;
  REQUIRE(codec::decode_dest(nlmsg_hdr(m.get()), net::Family::v6, dback, error));
  CHECK(dback.key() == d.key());
  CHECK(dback.same_settings(d));

  auto mark = Service{};
  mark.key = ServiceKey::mark(net::Family::v4, 7);
  m = codec::encode_operation(42, Operation::on_service(K::add_service, mark));
  REQUIRE(codec::decode_service(nlmsg_hdr(m.get()), back, error));
  CHECK(back.key == mark.key);
}

TEST_CASE("malformed replies are errors") {
  auto m = codec::encode_info_request(42);  // no service attribute at all
  Service s;
  Destination d;
  Info info;
  std::string error;
  CHECK_FALSE(codec::decode_service(nlmsg_hdr(m.get()), s, error));
  CHECK_FALSE(codec::decode_dest(nlmsg_hdr(m.get()), net::Family::v4, d, error));
  CHECK_FALSE(codec::decode_info(nlmsg_hdr(m.get()), info, error));
  CHECK_FALSE(error.empty());
  // A delete carries only the key: decoding it as a destination lacks fields but
  // must not crash; a service key alone is fine.
  auto svc = service("10.0.0.1", 80);
  m = codec::encode_operation(42, Operation::on_service(K::del_service, svc));
  CHECK(codec::decode_service(nlmsg_hdr(m.get()), s, error));
  CHECK_FALSE(codec::decode_dest(nlmsg_hdr(m.get()), net::Family::v4, d, error));
}
