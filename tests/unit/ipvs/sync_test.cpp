// The sync-daemon policy (pure), its netlink codec, and the controller against FakeKernel.
#include "ipvs/sync.hpp"

#include <linux/ip_vs.h>
#include <netlink/attr.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include "ipvs/fake_kernel.hpp"
#include "ipvs/netlink_codec.hpp"
#include "ipvs/sync_controller.hpp"

using namespace l4lb;
using namespace l4lb::ipvs;

namespace {

config::SyncDaemon cfg(bool backup_on_master = true) {
  config::SyncDaemon c;
  c.instance = "VI_1";
  c.interface = "eth1";
  c.sync_id = 7;
  c.backup_on_master = backup_on_master;
  return c;
}

SyncDaemon running(SyncRole role, std::string ifname = "eth1", std::uint32_t id = 7) {
  SyncDaemon d;
  d.role = role;
  d.interface = std::move(ifname);
  d.sync_id = id;
  d.maxlen = 1472;  // the kernel fills these in
  d.group = net::Address::parse("224.0.0.81");
  d.port = 8848;
  d.ttl = 1;
  return d;
}

std::vector<SyncStep::Kind> kinds(const std::vector<SyncStep>& steps) {
  std::vector<SyncStep::Kind> out;
  for (const auto& s : steps) out.push_back(s.kind);
  return out;
}

// Runs the loop until the controller's pass (on its own thread) has come back.
void settle(boost::asio::io_context& io, const SyncController& c) {
  io.restart();
  auto work = boost::asio::make_work_guard(io);  // the reply is posted from another thread
  for (int i = 0; i < 2000 && c.busy(); ++i) io.run_one_for(std::chrono::milliseconds(5));
}

std::vector<SyncRole> roles(const std::vector<SyncDaemon>& ds) {
  std::vector<SyncRole> out;
  for (const auto& d : ds) out.push_back(d.role);
  return out;
}

}  // namespace

TEST_CASE("wanted: master runs master (and backup unless told not to), others run backup") {
  CHECK(roles(wanted_sync_daemons(cfg(), true, false)) ==
        std::vector{SyncRole::master, SyncRole::backup});
  CHECK(roles(wanted_sync_daemons(cfg(false), true, false)) == std::vector{SyncRole::master});
  CHECK(roles(wanted_sync_daemons(cfg(), false, false)) == std::vector{SyncRole::backup});
  CHECK(roles(wanted_sync_daemons(cfg(false), false, false)) == std::vector{SyncRole::backup});
  CHECK(wanted_sync_daemons(std::nullopt, true, false).empty());
  CHECK(wanted_sync_daemons(cfg(), true, true).empty());  // stopping
  const auto w = wanted_sync_daemons(cfg(), false, false).front();
  CHECK(w.interface == "eth1");
  CHECK(w.sync_id == 7);
  CHECK(w.port == 8848);
  CHECK(w.ttl == 1);
  CHECK(w.maxlen == 0);  // the kernel's default
  CHECK(w.group == net::Address::parse("224.0.0.81"));
}

TEST_CASE("matches: what the want sets must be equal; unset values are the kernel's") {
  auto want = wanted_sync_daemons(cfg(), false, false).front();
  CHECK(sync_daemon_matches(want, running(SyncRole::backup)));
  CHECK_FALSE(sync_daemon_matches(want, running(SyncRole::master)));
  CHECK_FALSE(sync_daemon_matches(want, running(SyncRole::backup, "eth2")));
  CHECK_FALSE(sync_daemon_matches(want, running(SyncRole::backup, "eth1", 8)));
  want.maxlen = 1000;
  CHECK_FALSE(sync_daemon_matches(want, running(SyncRole::backup)));
  want.maxlen = 0;
  auto other = running(SyncRole::backup);
  other.port = 9000;
  CHECK_FALSE(sync_daemon_matches(want, other));
  other = running(SyncRole::backup);
  other.group = net::Address::parse("239.1.1.1");
  CHECK_FALSE(sync_daemon_matches(want, other));
}

TEST_CASE("plan: transitions switch roles, stops come before starts, nothing when equal") {
  const std::vector<SyncDaemon> none;
  const auto as_master = wanted_sync_daemons(cfg(), true, false);
  const auto as_backup = wanted_sync_daemons(cfg(), false, false);
  const std::vector<SyncDaemon> both{running(SyncRole::master), running(SyncRole::backup)};
  const std::vector<SyncDaemon> backup_only{running(SyncRole::backup)};

  // Start as backup (INIT): start the backup.
  auto p = plan_sync(as_backup, none);
  REQUIRE(p.size() == 1);
  CHECK(p[0].kind == SyncStep::Kind::start);
  CHECK(p[0].daemon.role == SyncRole::backup);
  // BACKUP -> MASTER: start the master, the backup stays.
  p = plan_sync(as_master, backup_only);
  REQUIRE(p.size() == 1);
  CHECK(p[0] == SyncStep{SyncStep::Kind::start, as_master[0]});
  // MASTER -> BACKUP: stop the master only.
  p = plan_sync(as_backup, both);
  REQUIRE(p.size() == 1);
  CHECK(p[0].kind == SyncStep::Kind::stop);
  CHECK(p[0].daemon.role == SyncRole::master);
  // Without backup_on_master: BACKUP -> MASTER swaps them, the stop first.
  p = plan_sync(wanted_sync_daemons(cfg(false), true, false), backup_only);
  CHECK(kinds(p) == std::vector{SyncStep::Kind::stop, SyncStep::Kind::start});
  CHECK(p[0].daemon.role == SyncRole::backup);
  CHECK(p[1].daemon.role == SyncRole::master);
  // Already right: nothing (the kernel's filled-in defaults do not count as a difference).
  CHECK(plan_sync(as_master, both).empty());
  CHECK(plan_sync(as_backup, backup_only).empty());
  // Shutdown: stop everything that runs.
  CHECK(kinds(plan_sync(none, both)) == std::vector{SyncStep::Kind::stop, SyncStep::Kind::stop});
  // A changed parameter (reload, or someone else's daemon adopted): restart that role.
  auto changed = cfg();
  changed.sync_id = 9;
  p = plan_sync(wanted_sync_daemons(changed, true, false), both);
  CHECK(kinds(p) == std::vector{SyncStep::Kind::stop, SyncStep::Kind::stop, SyncStep::Kind::start,
                                SyncStep::Kind::start});
  CHECK(p[2].daemon.role == SyncRole::master);
  CHECK(p[2].daemon.sync_id == 9);
}

TEST_CASE("codec: NEW_DAEMON carries every configured attribute and decodes back") {
  SyncDaemon d = running(SyncRole::master);
  d.maxlen = 1200;
  d.ttl = 3;
  d.port = 9000;
  auto m = codec::encode_new_daemon(42, d);
  REQUIRE(m);
  nlmsghdr* h = nlmsg_hdr(m.get());
  CHECK(static_cast<genlmsghdr*>(nlmsg_data(h))->cmd == IPVS_CMD_NEW_DAEMON);
  nlattr* top[IPVS_CMD_ATTR_MAX + 1];
  REQUIRE(genlmsg_parse(h, 0, top, IPVS_CMD_ATTR_MAX, nullptr) == 0);
  REQUIRE(top[IPVS_CMD_ATTR_DAEMON]);
  nlattr* a[IPVS_DAEMON_ATTR_MAX + 1];
  REQUIRE(nla_parse_nested(a, IPVS_DAEMON_ATTR_MAX, top[IPVS_CMD_ATTR_DAEMON], nullptr) == 0);
  CHECK(nla_get_u32(a[IPVS_DAEMON_ATTR_STATE]) == IP_VS_STATE_MASTER);
  CHECK(std::string(nla_get_string(a[IPVS_DAEMON_ATTR_MCAST_IFN])) == "eth1");
  CHECK(nla_get_u16(a[IPVS_DAEMON_ATTR_MCAST_PORT]) == 9000);  // host order, as the kernel reads it
  const auto* g = static_cast<const std::uint8_t*>(nla_data(a[IPVS_DAEMON_ATTR_MCAST_GROUP]));
  CHECK((g[0] == 224 && g[1] == 0 && g[2] == 0 && g[3] == 81));  // network order
  CHECK_FALSE(a[IPVS_DAEMON_ATTR_MCAST_GROUP6]);
  // A GET_DAEMON reply has the request's layout.
  SyncDaemon back;
  std::string error;
  REQUIRE(codec::decode_daemon(h, back, error));
  CHECK(back == d);

  // Defaults are left to the kernel: no maxlen, port, ttl or group attribute.
  SyncDaemon minimal;
  minimal.interface = "eth0";
  m = codec::encode_new_daemon(42, minimal);
  REQUIRE(m);
  REQUIRE(genlmsg_parse(nlmsg_hdr(m.get()), 0, top, IPVS_CMD_ATTR_MAX, nullptr) == 0);
  REQUIRE(nla_parse_nested(a, IPVS_DAEMON_ATTR_MAX, top[IPVS_CMD_ATTR_DAEMON], nullptr) == 0);
  CHECK(nla_get_u32(a[IPVS_DAEMON_ATTR_STATE]) == IP_VS_STATE_BACKUP);
  CHECK_FALSE(a[IPVS_DAEMON_ATTR_SYNC_MAXLEN]);
  CHECK_FALSE(a[IPVS_DAEMON_ATTR_MCAST_PORT]);
  CHECK_FALSE(a[IPVS_DAEMON_ATTR_MCAST_TTL]);
  CHECK_FALSE(a[IPVS_DAEMON_ATTR_MCAST_GROUP]);

  // IPv6 group; an interface name the kernel cannot hold is refused before sending.
  d.group = net::Address::parse("ff02::81");
  m = codec::encode_new_daemon(42, d);
  REQUIRE(m);
  REQUIRE(codec::decode_daemon(nlmsg_hdr(m.get()), back, error));
  CHECK(back.group == d.group);
  d.interface = "a-name-too-long-for-ifnamsiz";
  CHECK_FALSE(codec::encode_new_daemon(42, d));

  // DEL_DAEMON names the role; the dump request is a dump.
  m = codec::encode_del_daemon(42, SyncRole::backup);
  REQUIRE(m);
  CHECK(static_cast<genlmsghdr*>(nlmsg_data(nlmsg_hdr(m.get())))->cmd == IPVS_CMD_DEL_DAEMON);
  CHECK_FALSE(codec::decode_daemon(nlmsg_hdr(m.get()), back, error));  // no name, no id
  m = codec::encode_daemon_dump(42);
  REQUIRE(m);
  CHECK((nlmsg_hdr(m.get())->nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP);
  CHECK_FALSE(codec::decode_daemon(nlmsg_hdr(m.get()), back, error));
  CHECK(error == "malformed IPVS reply");
}

TEST_CASE("controller: follows the role, adopts, retries failures, stops what it ran") {
  boost::asio::io_context io;
  FakeKernel* fake = nullptr;
  int opens = 0;
  SyncController c(io, [&](std::string&) -> std::unique_ptr<Kernel> {
    ++opens;
    auto k = std::make_unique<FakeKernel>();
    fake = k.get();
    return k;
  });

  // Not configured: the kernel is never even opened.
  c.configure(std::nullopt, true);
  settle(io, c);
  CHECK(opens == 0);
  CHECK_FALSE(c.status().config);

  c.configure(cfg(), false);
  settle(io, c);
  REQUIRE(fake);
  CHECK(roles(fake->running_sync()) == std::vector{SyncRole::backup});
  CHECK(c.status().in_sync);
  CHECK(c.status().starts == 1);

  c.set_master(true);
  settle(io, c);
  CHECK(roles(fake->running_sync()) == std::vector{SyncRole::backup, SyncRole::master});
  CHECK(c.status().role_changes == 1);
  c.set_master(true);  // no transition, no work
  CHECK(c.status().starts == 2);

  c.set_master(false);
  settle(io, c);
  CHECK(roles(fake->running_sync()) == std::vector{SyncRole::backup});
  CHECK(c.status().stops == 1);

  // A reload with another sync id restarts the daemon.
  auto changed = cfg();
  changed.sync_id = 9;
  c.configure(changed, false);
  settle(io, c);
  REQUIRE(fake->running_sync().size() == 1);
  CHECK(fake->running_sync()[0].sync_id == 9);

  // A failure is counted and reported, not fatal; the retry timer repairs it.
  fake->running_sync().clear();
  fake->fail_sync = "Operation not permitted";
  c.set_master(true);
  settle(io, c);
  CHECK(c.status().errors == 1);
  CHECK(c.status().last_error == "Operation not permitted");
  CHECK_FALSE(c.status().in_sync);
  fake->fail_sync.clear();
  io.run_for(std::chrono::milliseconds(5100));  // the retry timer fires
  settle(io, c);
  CHECK(c.status().in_sync);
  CHECK(c.status().last_error.empty());
  CHECK(roles(fake->running_sync()) == std::vector{SyncRole::master, SyncRole::backup});

  // Unconfigured on reload: what it ran is stopped.
  c.configure(std::nullopt, true);
  settle(io, c);
  CHECK(fake->running_sync().empty());
  // Shutdown with nothing running and nothing configured: no work.
  c.stop();
  CHECK(opens == 1);
}

TEST_CASE("controller: a start refused by the kernel (no such interface) keeps retrying") {
  boost::asio::io_context io;
  FakeKernel* fake = nullptr;
  SyncController c(
      io,
      [&](std::string&) -> std::unique_ptr<Kernel> {
        auto k = std::make_unique<FakeKernel>();
        fake = k.get();
        return k;
      },
      Duration(10), Duration(1000));
  auto conf = cfg();
  conf.interface = "eth9";
  c.configure(conf, true);
  settle(io, c);
  CHECK(c.status().errors == 2);  // master and backup both refused
  CHECK(c.status().last_error == "No such device");
  fake->interfaces.insert("eth9");  // the interface appears
  io.run_for(std::chrono::milliseconds(50));
  settle(io, c);
  CHECK(c.status().in_sync);
  CHECK(fake->running_sync().size() == 2);
  // Shutdown stops both and schedules nothing more.
  c.stop();
  CHECK(fake->running_sync().empty());
  io.restart();
  io.run_for(std::chrono::milliseconds(50));  // the retry timer would have fired by now
  CHECK(fake->running_sync().empty());
}
