#include <linux/ip_vs.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>

#include <catch2/catch.hpp>
#include <cstring>

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

TEST_CASE("one-packet scheduling is the ONEPACKET service flag, alone or with others") {
  auto s = service("10.0.0.1", 162, "rr", Protocol::udp);
  s.one_packet = true;
  auto m = codec::encode_operation(42, Operation::on_service(K::add_service, s));
  REQUIRE(m);
  // The flag on the wire is exactly IP_VS_SVC_F_ONEPACKET (what ipvsadm shows as "ops").
  nlattr* top[IPVS_CMD_ATTR_MAX + 1];
  REQUIRE(genlmsg_parse(nlmsg_hdr(m.get()), 0, top, IPVS_CMD_ATTR_MAX, nullptr) == 0);
  nlattr* svc[IPVS_SVC_ATTR_MAX + 1];
  REQUIRE(nla_parse_nested(svc, IPVS_SVC_ATTR_MAX, top[IPVS_CMD_ATTR_SERVICE], nullptr) == 0);
  REQUIRE(svc[IPVS_SVC_ATTR_FLAGS]);
  ip_vs_flags f;
  std::memcpy(&f, nla_data(svc[IPVS_SVC_ATTR_FLAGS]), sizeof(f));
  CHECK(f.flags == IP_VS_SVC_F_ONEPACKET);

  Service back;
  std::string error;
  REQUIRE(codec::decode_service(nlmsg_hdr(m.get()), back, error));
  CHECK(back.one_packet);
  CHECK_FALSE(back.sh_port);
  CHECK(back.same_settings(s));

  s.scheduler = "sh";
  s.sh_port = true;
  s.persistent = true;
  s.timeout = 60;
  m = codec::encode_operation(42, Operation::on_service(K::edit_service, s));
  REQUIRE(codec::decode_service(nlmsg_hdr(m.get()), back, error));
  CHECK(back.one_packet);
  CHECK(back.sh_port);
  CHECK(back.persistent);
  CHECK(back.same_settings(s));

  s.one_packet = false;
  m = codec::encode_operation(42, Operation::on_service(K::edit_service, s));
  REQUIRE(codec::decode_service(nlmsg_hdr(m.get()), back, error));
  CHECK_FALSE(back.one_packet);
  CHECK(back.same_settings(s));
}

TEST_CASE("timeouts: SET_CONFIG carries only the ones to change; GET_CONFIG replies decode") {
  auto m = codec::encode_set_config(42, Timeouts{900, 0, 30});
  REQUIRE(m);
  nlmsghdr* h = nlmsg_hdr(m.get());
  CHECK(static_cast<genlmsghdr*>(nlmsg_data(h))->cmd == IPVS_CMD_SET_CONFIG);
  nlattr* a[IPVS_CMD_ATTR_MAX + 1];
  REQUIRE(genlmsg_parse(h, 0, a, IPVS_CMD_ATTR_MAX, nullptr) == 0);
  REQUIRE(a[IPVS_CMD_ATTR_TIMEOUT_TCP]);
  CHECK(nla_get_u32(a[IPVS_CMD_ATTR_TIMEOUT_TCP]) == 900);
  CHECK_FALSE(a[IPVS_CMD_ATTR_TIMEOUT_TCP_FIN]);  // 0: the kernel keeps its value
  REQUIRE(a[IPVS_CMD_ATTR_TIMEOUT_UDP]);
  CHECK(nla_get_u32(a[IPVS_CMD_ATTR_TIMEOUT_UDP]) == 30);

  // A GET_CONFIG reply has the same layout as a full SET_CONFIG request.
  m = codec::encode_set_config(42, Timeouts{7200, 120, 300});
  Timeouts back;
  std::string error;
  REQUIRE(codec::decode_config(nlmsg_hdr(m.get()), back, error));
  CHECK(back == Timeouts{7200, 120, 300});

  // A reply missing one of the three is malformed, not silently 0.
  m = codec::encode_set_config(42, Timeouts{900, 0, 30});
  CHECK_FALSE(codec::decode_config(nlmsg_hdr(m.get()), back, error));
  CHECK(error == "malformed IPVS config reply");
  m = codec::encode_get_config(42);
  REQUIRE(m);
  CHECK(static_cast<genlmsghdr*>(nlmsg_data(nlmsg_hdr(m.get())))->cmd == IPVS_CMD_GET_CONFIG);
  CHECK_FALSE(codec::decode_config(nlmsg_hdr(m.get()), back, error));
}
