#include <fmt/format.h>
#include <linux/ip_vs.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <string>
#include <vector>

#include "helpers.hpp"
#include "ipvs/netlink_codec.hpp"

using namespace l4lb;
using namespace l4lb::ipvs;
using namespace l4lb::ipvs::test;
using K = Operation::Kind;

namespace {

// One operation's request, alone in its buffer (the batch the sender builds holds many).
std::vector<unsigned char> encoded(const Operation& op) {
  std::vector<unsigned char> out;
  codec::append_operation(out, 42, 7, 99, op);
  return out;
}
nlmsghdr* hdr(std::vector<unsigned char>& v) { return reinterpret_cast<nlmsghdr*>(v.data()); }

std::string hex(const std::vector<unsigned char>& v) {
  std::string out;
  for (unsigned char c : v) out += fmt::format("{:02x}", c);
  return out;
}

}  // namespace

// A NEW_SERVICE / NEW_DEST request has the same attribute layout as a dump reply, so
// encoding then decoding must give back what went in.
TEST_CASE("service and destination attributes round trip") {
  auto s = service("2001:db8::1", 443, "sh", Protocol::tcp);
  s.sh_fallback = true;
  s.persistent = true;
  s.timeout = 300;
  s.netmask = 64;
  auto m = encoded(Operation::on_service(K::add_service, s));
  REQUIRE(!m.empty());
  nlmsghdr* h = hdr(m);
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
  m = encoded(Operation::on_service(K::edit_service, v4));
  REQUIRE(codec::decode_service(hdr(m), back, error));
  CHECK(back.key == v4.key);
  CHECK(back.netmask == 24);
  CHECK(static_cast<genlmsghdr*>(nlmsg_data(hdr(m)))->cmd == IPVS_CMD_SET_SERVICE);

  auto d = dest("2001:db8:1::7", 8443, 12, Forward::tunnel);
  d.upper_threshold = 100;
  d.lower_threshold = 5;
  m = encoded(Operation::on_dest(K::edit_dest, s, d));
  Destination dback;
  REQUIRE(codec::decode_dest(hdr(m), net::Family::v6, dback, error));
  CHECK(dback.key() == d.key());
  CHECK(dback.same_settings(d));

  auto mark = Service{};
  mark.key = ServiceKey::mark(net::Family::v4, 7);
  m = encoded(Operation::on_service(K::add_service, mark));
  REQUIRE(codec::decode_service(hdr(m), back, error));
  CHECK(back.key == mark.key);
}

TEST_CASE("malformed replies are errors") {
  auto info_request = codec::encode_info_request(42);  // no service attribute at all
  Service s;
  Destination d;
  Info info;
  std::string error;
  CHECK_FALSE(codec::decode_service(nlmsg_hdr(info_request.get()), s, error));
  CHECK_FALSE(codec::decode_dest(nlmsg_hdr(info_request.get()), net::Family::v4, d, error));
  CHECK_FALSE(codec::decode_info(nlmsg_hdr(info_request.get()), info, error));
  CHECK_FALSE(error.empty());
  // A delete carries only the key: decoding it as a destination lacks fields but
  // must not crash; a service key alone is fine.
  auto svc = service("10.0.0.1", 80);
  auto m = encoded(Operation::on_service(K::del_service, svc));
  CHECK(codec::decode_service(hdr(m), s, error));
  CHECK_FALSE(codec::decode_dest(hdr(m), net::Family::v4, d, error));
}

TEST_CASE("one-packet scheduling is the ONEPACKET service flag, alone or with others") {
  auto s = service("10.0.0.1", 162, "rr", Protocol::udp);
  s.one_packet = true;
  auto m = encoded(Operation::on_service(K::add_service, s));
  REQUIRE(!m.empty());
  // The flag on the wire is exactly IP_VS_SVC_F_ONEPACKET (what ipvsadm shows as "ops").
  nlattr* top[IPVS_CMD_ATTR_MAX + 1];
  REQUIRE(genlmsg_parse(hdr(m), 0, top, IPVS_CMD_ATTR_MAX, nullptr) == 0);
  nlattr* svc[IPVS_SVC_ATTR_MAX + 1];
  REQUIRE(nla_parse_nested(svc, IPVS_SVC_ATTR_MAX, top[IPVS_CMD_ATTR_SERVICE], nullptr) == 0);
  REQUIRE(svc[IPVS_SVC_ATTR_FLAGS]);
  ip_vs_flags f;
  std::memcpy(&f, nla_data(svc[IPVS_SVC_ATTR_FLAGS]), sizeof(f));
  CHECK(f.flags == IP_VS_SVC_F_ONEPACKET);

  Service back;
  std::string error;
  REQUIRE(codec::decode_service(hdr(m), back, error));
  CHECK(back.one_packet);
  CHECK_FALSE(back.sh_port);
  CHECK(back.same_settings(s));

  s.scheduler = "sh";
  s.sh_port = true;
  s.persistent = true;
  s.timeout = 60;
  m = encoded(Operation::on_service(K::edit_service, s));
  REQUIRE(codec::decode_service(hdr(m), back, error));
  CHECK(back.one_packet);
  CHECK(back.sh_port);
  CHECK(back.persistent);
  CHECK(back.same_settings(s));

  s.one_packet = false;
  m = encoded(Operation::on_service(K::edit_service, s));
  REQUIRE(codec::decode_service(hdr(m), back, error));
  CHECK_FALSE(back.one_packet);
  CHECK(back.same_settings(s));
}

// What libnl 3.7 (nla_put, nla_nest_start/end, genlmsg_put) wrote for these operations before
// they were written in place; the kernel has accepted exactly these bytes since the first
// release. Headers: length, type 42, NLM_F_REQUEST, seq 7, port 99; then cmd, version 1.
TEST_CASE("operations are written byte for byte as libnl wrote them") {
  auto s = service("10.0.0.1", 80, "rr", Protocol::tcp);
  s.persistent = true;
  s.timeout = 300;
  s.netmask = 24;
  auto d = dest("2001:db8::7", 8443, 12, Forward::tunnel);
  d.upper_threshold = 100;
  d.lower_threshold = 5;
  ServiceSettings mark;
  mark.key = ServiceKey::mark(net::Family::v6, 7);
  mark.scheduler = "sh";
  mark.sh_port = true;
  mark.one_packet = true;
  mark.netmask = 128;
  // Headers after the length: type 42, NLM_F_REQUEST, seq 7, port 99.
  const std::string header = "2a0001000700000063000000";
  CHECK(hex(encoded(Operation::on_service(K::add_service, s))) ==
        "68000000" + header +
            "010100005400018006000100020000000600020006000000140003000a00000100000000000000000000"
            "0000060004000050000007000600727200000c00070001000000ffffffff080008002c01000008000900"
            "ffffff00");
  CHECK(hex(encoded(Operation::on_dest(K::add_dest, s, d))) ==
        "8c000000" + header +
            "050100003000018006000100020000000600020006000000140003000a00000100000000000000000000"
            "00000600040000500000480002801400010020010db80000000000000000000000070600020020fb0000"
            "06000b000a0000000800030002000000080004000c00000008000500640000000800060005000000");
  CHECK(hex(encoded(Operation::on_dest(K::del_dest, s, d))) ==
        "6c000000" + header +
            "070100003000018006000100020000000600020006000000140003000a00000100000000000000000000"
            "00000600040000500000280002801400010020010db80000000000000000000000070600020020fb0000"
            "06000b000a000000");
  CHECK(hex(encoded(Operation::on_service(K::edit_service, mark))) ==
        "4c000000" + header +
            "0201000038000180060001000a000000080005000700000007000600736800000c00070014000000ffff"
            "ffff08000800000000000800090080000000");
  CHECK(hex(encoded(Operation::on_service(K::del_service, mark))) ==
        "28000000" + header + "0301000014000180060001000a0000000800050007000000");
}

TEST_CASE("operations appended to one batch each stand alone, aligned") {
  std::vector<unsigned char> batch;
  auto s = service("10.0.0.1", 80, "wlc", Protocol::tcp);
  codec::append_operation(batch, 42, 1, 0, Operation::on_service(K::add_service, s));
  for (int i = 0; i < 3; ++i)
    codec::append_operation(batch, 42, 2 + i, 0,
                            Operation::on_dest(K::add_dest, s, dest("10.1.0.1", 80 + i, 1)));
  int left = static_cast<int>(batch.size());
  int n = 0;
  for (auto* h = reinterpret_cast<nlmsghdr*>(batch.data()); nlmsg_ok(h, left);
       h = nlmsg_next(h, &left), ++n) {
    CHECK(h->nlmsg_seq == static_cast<std::uint32_t>(n + 1));
    CHECK(h->nlmsg_len % NLMSG_ALIGNTO == 0);
    std::string error;
    if (n == 0) {
      Service back;
      CHECK(codec::decode_service(h, back, error));
      CHECK(back.scheduler == "wlc");
    } else {
      Destination back;
      CHECK(codec::decode_dest(h, net::Family::v4, back, error));
      CHECK(back.port == 80 + n - 1);
    }
  }
  CHECK(n == 4);
  CHECK(left == 0);
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
