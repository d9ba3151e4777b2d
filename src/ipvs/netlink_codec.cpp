#include "ipvs/netlink_codec.hpp"

#include <arpa/inet.h>
#include <linux/ip_vs.h>
#include <netlink/attr.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>

#include <bit>
#include <cstddef>
#include <cstring>
#include <vector>

namespace l4lb::ipvs::codec {

void MsgFree::operator()(nl_msg* m) const { nlmsg_free(m); }

namespace {

// Attribute policies: lengths are checked by libnl before we read anything.
nla_policy svc_policy[IPVS_SVC_ATTR_MAX + 1];
nla_policy dest_policy[IPVS_DEST_ATTR_MAX + 1];
nla_policy stats_policy[IPVS_STATS_ATTR_MAX + 1];
nla_policy info_policy[IPVS_INFO_ATTR_MAX + 1];
nla_policy cmd_policy[IPVS_CMD_ATTR_MAX + 1];
nla_policy daemon_policy[IPVS_DAEMON_ATTR_MAX + 1];

struct PolicyInit {
  PolicyInit() {
    svc_policy[IPVS_SVC_ATTR_AF].type = NLA_U16;
    svc_policy[IPVS_SVC_ATTR_PROTOCOL].type = NLA_U16;
    svc_policy[IPVS_SVC_ATTR_ADDR].minlen = 4;
    svc_policy[IPVS_SVC_ATTR_PORT].type = NLA_U16;
    svc_policy[IPVS_SVC_ATTR_FWMARK].type = NLA_U32;
    svc_policy[IPVS_SVC_ATTR_SCHED_NAME].type = NLA_STRING;
    svc_policy[IPVS_SVC_ATTR_FLAGS].minlen = sizeof(ip_vs_flags);
    svc_policy[IPVS_SVC_ATTR_TIMEOUT].type = NLA_U32;
    svc_policy[IPVS_SVC_ATTR_NETMASK].type = NLA_U32;
    svc_policy[IPVS_SVC_ATTR_STATS].type = NLA_NESTED;
    svc_policy[IPVS_SVC_ATTR_STATS64].type = NLA_NESTED;
    dest_policy[IPVS_DEST_ATTR_ADDR].minlen = 4;
    dest_policy[IPVS_DEST_ATTR_PORT].type = NLA_U16;
    dest_policy[IPVS_DEST_ATTR_FWD_METHOD].type = NLA_U32;
    dest_policy[IPVS_DEST_ATTR_WEIGHT].type = NLA_U32;
    dest_policy[IPVS_DEST_ATTR_U_THRESH].type = NLA_U32;
    dest_policy[IPVS_DEST_ATTR_L_THRESH].type = NLA_U32;
    dest_policy[IPVS_DEST_ATTR_ACTIVE_CONNS].type = NLA_U32;
    dest_policy[IPVS_DEST_ATTR_INACT_CONNS].type = NLA_U32;
    dest_policy[IPVS_DEST_ATTR_PERSIST_CONNS].type = NLA_U32;
    dest_policy[IPVS_DEST_ATTR_STATS].type = NLA_NESTED;
    dest_policy[IPVS_DEST_ATTR_STATS64].type = NLA_NESTED;
    dest_policy[IPVS_DEST_ATTR_ADDR_FAMILY].type = NLA_U16;
    for (int i = IPVS_STATS_ATTR_CONNS; i <= IPVS_STATS_ATTR_OUTBPS; ++i)
      stats_policy[i].type = NLA_U64;
    info_policy[IPVS_INFO_ATTR_VERSION].type = NLA_U32;
    info_policy[IPVS_INFO_ATTR_CONN_TAB_SIZE].type = NLA_U32;
    cmd_policy[IPVS_CMD_ATTR_SERVICE].type = NLA_NESTED;
    cmd_policy[IPVS_CMD_ATTR_DEST].type = NLA_NESTED;
    cmd_policy[IPVS_CMD_ATTR_TIMEOUT_TCP].type = NLA_U32;
    cmd_policy[IPVS_CMD_ATTR_TIMEOUT_TCP_FIN].type = NLA_U32;
    cmd_policy[IPVS_CMD_ATTR_TIMEOUT_UDP].type = NLA_U32;
    cmd_policy[IPVS_CMD_ATTR_DAEMON].type = NLA_NESTED;
    // As the kernel's ip_vs_daemon_policy (ip_vs_ctl.c) describes them.
    daemon_policy[IPVS_DAEMON_ATTR_STATE].type = NLA_U32;
    daemon_policy[IPVS_DAEMON_ATTR_MCAST_IFN].type = NLA_STRING;
    daemon_policy[IPVS_DAEMON_ATTR_MCAST_IFN].maxlen = IP_VS_IFNAME_MAXLEN;
    daemon_policy[IPVS_DAEMON_ATTR_SYNC_ID].type = NLA_U32;
    daemon_policy[IPVS_DAEMON_ATTR_SYNC_MAXLEN].type = NLA_U16;
    daemon_policy[IPVS_DAEMON_ATTR_MCAST_GROUP].type = NLA_U32;
    daemon_policy[IPVS_DAEMON_ATTR_MCAST_GROUP6].minlen = 16;
    daemon_policy[IPVS_DAEMON_ATTR_MCAST_PORT].type = NLA_U16;
    daemon_policy[IPVS_DAEMON_ATTR_MCAST_TTL].type = NLA_U8;
  }
} policy_init;

std::uint32_t v4_mask(std::uint8_t prefix) {
  const std::uint32_t host = prefix >= 32 ? 0xffffffffu : prefix == 0 ? 0u : ~0u << (32 - prefix);
  return htonl(host);
}

std::uint8_t v4_prefix(std::uint32_t be_mask) {
  return static_cast<std::uint8_t>(std::countl_one(ntohl(be_mask)));
}

// Writes netlink attributes in place at the end of a batch buffer, as libnl's nla_put and
// nla_nest_start/end would into a message of their own (nested attributes flagged
// NLA_F_NESTED, every attribute padded to 4 bytes with zeros).
class AttrWriter {
 public:
  explicit AttrWriter(std::vector<unsigned char>& out) : out_(out) {}

  std::size_t put(int type, const void* data, std::size_t len) {
    const std::size_t at = out_.size();
    out_.resize(at + NLA_ALIGN(NLA_HDRLEN + len));  // the padding is zeroed
    const nlattr a{static_cast<std::uint16_t>(NLA_HDRLEN + len), static_cast<std::uint16_t>(type)};
    std::memcpy(out_.data() + at, &a, sizeof a);
    if (len) std::memcpy(out_.data() + at + NLA_HDRLEN, data, len);
    return at;
  }
  template <class T>
  void put_value(int type, T v) {
    put(type, &v, sizeof v);
  }
  void put_string(int type, const std::string& v) { put(type, v.c_str(), v.size() + 1); }
  void put_addr(int type, const net::Address& a) {
    std::uint8_t buf[16] = {};  // union nf_inet_addr
    std::memcpy(buf, a.data(), a.size());
    put(type, buf, sizeof buf);
  }
  std::size_t begin_nest(int type) { return put(NLA_F_NESTED | type, nullptr, 0); }
  void end_nest(std::size_t at) {
    const auto len = static_cast<std::uint16_t>(out_.size() - at);
    std::memcpy(out_.data() + at + offsetof(nlattr, nla_len), &len, sizeof len);
  }

 private:
  std::vector<unsigned char>& out_;
};

void put_service_key(AttrWriter& w, const ServiceKey& k) {
  w.put_value(IPVS_SVC_ATTR_AF, static_cast<std::uint16_t>(net::to_af(k.family())));
  if (k.protocol == Protocol::fwmark) return w.put_value(IPVS_SVC_ATTR_FWMARK, k.fwmark);
  w.put_value(IPVS_SVC_ATTR_PROTOCOL, static_cast<std::uint16_t>(k.protocol));
  w.put_addr(IPVS_SVC_ATTR_ADDR, k.address);
  w.put_value(IPVS_SVC_ATTR_PORT, htons(k.port));
}

void put_service(AttrWriter& w, const ServiceSettings& s, bool full) {
  const std::size_t nest = w.begin_nest(IPVS_CMD_ATTR_SERVICE);
  put_service_key(w, s.key);
  if (full) {
    ip_vs_flags flags{};
    flags.flags = (s.persistent ? IP_VS_SVC_F_PERSISTENT : 0) |
                  (s.sh_fallback ? IP_VS_SVC_F_SCHED_SH_FALLBACK : 0) |
                  (s.sh_port ? IP_VS_SVC_F_SCHED_SH_PORT : 0) |
                  (s.one_packet ? IP_VS_SVC_F_ONEPACKET : 0);
    flags.mask = ~0u;
    const std::uint32_t mask = s.key.family() == net::Family::v4 ? v4_mask(s.netmask) : s.netmask;
    w.put_string(IPVS_SVC_ATTR_SCHED_NAME, s.scheduler);
    w.put(IPVS_SVC_ATTR_FLAGS, &flags, sizeof flags);
    w.put_value(IPVS_SVC_ATTR_TIMEOUT, s.timeout);
    w.put_value(IPVS_SVC_ATTR_NETMASK, mask);
  }
  w.end_nest(nest);
}

void put_dest(AttrWriter& w, const DestSettings& d, bool full) {
  const std::size_t nest = w.begin_nest(IPVS_CMD_ATTR_DEST);
  w.put_addr(IPVS_DEST_ATTR_ADDR, d.address);
  w.put_value(IPVS_DEST_ATTR_PORT, htons(d.port));
  w.put_value(IPVS_DEST_ATTR_ADDR_FAMILY,
              static_cast<std::uint16_t>(net::to_af(d.address.family())));
  if (full) {
    w.put_value(IPVS_DEST_ATTR_FWD_METHOD, static_cast<std::uint32_t>(d.forward));
    w.put_value(IPVS_DEST_ATTR_WEIGHT, d.weight);
    w.put_value(IPVS_DEST_ATTR_U_THRESH, d.upper_threshold);
    w.put_value(IPVS_DEST_ATTR_L_THRESH, d.lower_threshold);
  }
  w.end_nest(nest);
}

// The same attributes through libnl, for the requests that are not batched (a dump's service
// key): one encoding of the attributes, in AttrWriter, copied into the libnl message.
int put_service_libnl(nl_msg* m, const ServiceSettings& s, bool full) {
  std::vector<unsigned char> attrs;
  AttrWriter w(attrs);
  put_service(w, s, full);
  void* room = nlmsg_reserve(m, attrs.size(), NLA_ALIGNTO);
  if (!room) return -1;
  std::memcpy(room, attrs.data(), attrs.size());
  return 0;
}

MsgPtr new_request(int family_id, std::uint8_t cmd, int flags) {
  MsgPtr m(nlmsg_alloc());
  if (!m) return nullptr;
  if (!genlmsg_put(m.get(), NL_AUTO_PORT, NL_AUTO_SEQ, family_id, 0, flags, cmd, IPVS_GENL_VERSION))
    return nullptr;
  return m;
}

std::uint8_t command_of(Operation::Kind k) {
  using K = Operation::Kind;
  switch (k) {
    case K::add_service:
      return IPVS_CMD_NEW_SERVICE;
    case K::edit_service:
      return IPVS_CMD_SET_SERVICE;
    case K::del_service:
      return IPVS_CMD_DEL_SERVICE;
    case K::add_dest:
      return IPVS_CMD_NEW_DEST;
    case K::edit_dest:
      return IPVS_CMD_SET_DEST;
    case K::del_dest:
      return IPVS_CMD_DEL_DEST;
  }
  return IPVS_CMD_UNSPEC;
}

bool decode_stats(nlattr* nest, Stats& s, std::string& error) {
  nlattr* a[IPVS_STATS_ATTR_MAX + 1];
  if (nla_parse_nested(a, IPVS_STATS_ATTR_MAX, nest, stats_policy) < 0) {
    error = "malformed stats";
    return false;
  }
  auto get = [&](int i) { return a[i] ? nla_get_u64(a[i]) : 0; };
  s.conns = get(IPVS_STATS_ATTR_CONNS);
  s.inpkts = get(IPVS_STATS_ATTR_INPKTS);
  s.outpkts = get(IPVS_STATS_ATTR_OUTPKTS);
  s.inbytes = get(IPVS_STATS_ATTR_INBYTES);
  s.outbytes = get(IPVS_STATS_ATTR_OUTBYTES);
  s.cps = get(IPVS_STATS_ATTR_CPS);
  s.inpps = get(IPVS_STATS_ATTR_INPPS);
  s.outpps = get(IPVS_STATS_ATTR_OUTPPS);
  s.inbps = get(IPVS_STATS_ATTR_INBPS);
  s.outbps = get(IPVS_STATS_ATTR_OUTBPS);
  return true;
}

bool get_addr(nlattr* a, net::Family f, net::Address& out) {
  const std::size_t need = f == net::Family::v4 ? 4 : 16;
  if (!a || static_cast<std::size_t>(nla_len(a)) < need) return false;
  out = net::Address::from_bytes(f, static_cast<const std::uint8_t*>(nla_data(a)));
  return true;
}

bool family_of(std::uint16_t af, net::Family& f) {
  if (af == AF_INET)
    f = net::Family::v4;
  else if (af == AF_INET6)
    f = net::Family::v6;
  else
    return false;
  return true;
}

// The nested attribute `which` of a genl reply.
nlattr* top_attr(nlmsghdr* nlh, int which, std::string& error) {
  nlattr* a[IPVS_CMD_ATTR_MAX + 1];
  if (!genlmsg_valid_hdr(nlh, 0) || genlmsg_parse(nlh, 0, a, IPVS_CMD_ATTR_MAX, cmd_policy) < 0 ||
      !a[which]) {
    error = "malformed IPVS reply";
    return nullptr;
  }
  return a[which];
}

}  // namespace

void append_operation(std::vector<unsigned char>& batch, int family_id, std::uint32_t seq,
                      std::uint32_t port, const Operation& op) {
  const std::size_t start = batch.size();
  batch.resize(start + NLMSG_HDRLEN + GENL_HDRLEN);  // headers first, zeroed; length below
  nlmsghdr h{};
  h.nlmsg_type = static_cast<std::uint16_t>(family_id);
  h.nlmsg_flags = NLM_F_REQUEST;
  h.nlmsg_seq = seq;
  h.nlmsg_pid = port;
  genlmsghdr g{};
  g.cmd = command_of(op.kind);
  g.version = IPVS_GENL_VERSION;
  std::memcpy(batch.data() + start + NLMSG_HDRLEN, &g, sizeof g);
  AttrWriter w(batch);
  using K = Operation::Kind;
  put_service(w, op.service, op.kind == K::add_service || op.kind == K::edit_service);
  if (!op.is_service_op()) put_dest(w, op.dest, op.kind != K::del_dest);
  h.nlmsg_len = static_cast<std::uint32_t>(batch.size() - start);  // attributes end aligned
  std::memcpy(batch.data() + start, &h, sizeof h);
}

MsgPtr encode_service_dump(int family_id) {
  return new_request(family_id, IPVS_CMD_GET_SERVICE, NLM_F_DUMP);
}

MsgPtr encode_dest_dump(int family_id, const ServiceKey& key) {
  MsgPtr m = new_request(family_id, IPVS_CMD_GET_DEST, NLM_F_DUMP);
  Service s;
  s.key = key;
  if (!m || put_service_libnl(m.get(), s, false) < 0) return nullptr;
  return m;
}

MsgPtr encode_info_request(int family_id) { return new_request(family_id, IPVS_CMD_GET_INFO, 0); }

MsgPtr encode_get_config(int family_id) { return new_request(family_id, IPVS_CMD_GET_CONFIG, 0); }

MsgPtr encode_set_config(int family_id, const Timeouts& t) {
  MsgPtr m = new_request(family_id, IPVS_CMD_SET_CONFIG, 0);
  if (!m) return nullptr;
  int err = 0;
  if (t.tcp) err = nla_put_u32(m.get(), IPVS_CMD_ATTR_TIMEOUT_TCP, t.tcp);
  if (t.tcpfin && !err) err = nla_put_u32(m.get(), IPVS_CMD_ATTR_TIMEOUT_TCP_FIN, t.tcpfin);
  if (t.udp && !err) err = nla_put_u32(m.get(), IPVS_CMD_ATTR_TIMEOUT_UDP, t.udp);
  return err ? nullptr : std::move(m);
}

MsgPtr encode_new_daemon(int family_id, const SyncDaemon& d) {
  MsgPtr m = new_request(family_id, IPVS_CMD_NEW_DAEMON, 0);
  if (!m || d.interface.empty() || d.interface.size() >= IP_VS_IFNAME_MAXLEN) return nullptr;
  nlattr* nest = nla_nest_start(m.get(), IPVS_CMD_ATTR_DAEMON);
  if (!nest) return nullptr;
  nl_msg* x = m.get();
  int err = nla_put_u32(x, IPVS_DAEMON_ATTR_STATE, static_cast<std::uint32_t>(d.role));
  err = err ? err : nla_put_string(x, IPVS_DAEMON_ATTR_MCAST_IFN, d.interface.c_str());
  err = err ? err : nla_put_u32(x, IPVS_DAEMON_ATTR_SYNC_ID, d.sync_id);
  if (d.maxlen && !err) err = nla_put_u16(x, IPVS_DAEMON_ATTR_SYNC_MAXLEN, d.maxlen);
  if (d.group && !err) {
    // The kernel reads MCAST_GROUP as an in_addr (network order) and GROUP6 as an in6_addr.
    if (d.group->family() == net::Family::v4)
      err = nla_put(x, IPVS_DAEMON_ATTR_MCAST_GROUP, 4, d.group->data());
    else
      err = nla_put(x, IPVS_DAEMON_ATTR_MCAST_GROUP6, 16, d.group->data());
  }
  // The port is in host order: the kernel adds the thread index to it before htons.
  if (d.port && !err) err = nla_put_u16(x, IPVS_DAEMON_ATTR_MCAST_PORT, d.port);
  if (d.ttl && !err) err = nla_put_u8(x, IPVS_DAEMON_ATTR_MCAST_TTL, d.ttl);
  nla_nest_end(x, nest);
  return err ? nullptr : std::move(m);
}

MsgPtr encode_del_daemon(int family_id, SyncRole role) {
  MsgPtr m = new_request(family_id, IPVS_CMD_DEL_DAEMON, 0);
  if (!m) return nullptr;
  nlattr* nest = nla_nest_start(m.get(), IPVS_CMD_ATTR_DAEMON);
  if (!nest) return nullptr;
  int err = nla_put_u32(m.get(), IPVS_DAEMON_ATTR_STATE, static_cast<std::uint32_t>(role));
  nla_nest_end(m.get(), nest);
  return err ? nullptr : std::move(m);
}

MsgPtr encode_daemon_dump(int family_id) {
  return new_request(family_id, IPVS_CMD_GET_DAEMON, NLM_F_DUMP);
}

bool decode_daemon(nlmsghdr* nlh, SyncDaemon& out, std::string& error) {
  nlattr* nest = top_attr(nlh, IPVS_CMD_ATTR_DAEMON, error);
  if (!nest) return false;
  nlattr* a[IPVS_DAEMON_ATTR_MAX + 1];
  if (nla_parse_nested(a, IPVS_DAEMON_ATTR_MAX, nest, daemon_policy) < 0 ||
      !a[IPVS_DAEMON_ATTR_STATE] || !a[IPVS_DAEMON_ATTR_MCAST_IFN] ||
      !a[IPVS_DAEMON_ATTR_SYNC_ID]) {
    error = "malformed sync daemon attributes";
    return false;
  }
  const auto state = nla_get_u32(a[IPVS_DAEMON_ATTR_STATE]);
  if (state != IP_VS_STATE_MASTER && state != IP_VS_STATE_BACKUP) {
    error = "sync daemon in an unknown state " + std::to_string(state);
    return false;
  }
  out = SyncDaemon{};
  out.role = static_cast<SyncRole>(state);
  // NLA_STRING may lack its NUL: copy at most the attribute's bytes, up to the first NUL.
  const auto* name = static_cast<const char*>(nla_data(a[IPVS_DAEMON_ATTR_MCAST_IFN]));
  out.interface.assign(
      name, ::strnlen(name, static_cast<std::size_t>(nla_len(a[IPVS_DAEMON_ATTR_MCAST_IFN]))));
  out.sync_id = nla_get_u32(a[IPVS_DAEMON_ATTR_SYNC_ID]);
  if (a[IPVS_DAEMON_ATTR_SYNC_MAXLEN]) out.maxlen = nla_get_u16(a[IPVS_DAEMON_ATTR_SYNC_MAXLEN]);
  if (a[IPVS_DAEMON_ATTR_MCAST_GROUP])
    out.group = net::Address::from_bytes(
        net::Family::v4,
        static_cast<const std::uint8_t*>(nla_data(a[IPVS_DAEMON_ATTR_MCAST_GROUP])));
  else if (a[IPVS_DAEMON_ATTR_MCAST_GROUP6])
    out.group = net::Address::from_bytes(
        net::Family::v6,
        static_cast<const std::uint8_t*>(nla_data(a[IPVS_DAEMON_ATTR_MCAST_GROUP6])));
  if (a[IPVS_DAEMON_ATTR_MCAST_PORT]) out.port = nla_get_u16(a[IPVS_DAEMON_ATTR_MCAST_PORT]);
  if (a[IPVS_DAEMON_ATTR_MCAST_TTL]) out.ttl = nla_get_u8(a[IPVS_DAEMON_ATTR_MCAST_TTL]);
  return true;
}

bool decode_service(nlmsghdr* nlh, Service& out, std::string& error, Stats* stats) {
  nlattr* nest = top_attr(nlh, IPVS_CMD_ATTR_SERVICE, error);
  if (!nest) return false;
  nlattr* a[IPVS_SVC_ATTR_MAX + 1];
  if (nla_parse_nested(a, IPVS_SVC_ATTR_MAX, nest, svc_policy) < 0 || !a[IPVS_SVC_ATTR_AF]) {
    error = "malformed service attributes";
    return false;
  }
  net::Family fam;
  if (!family_of(nla_get_u16(a[IPVS_SVC_ATTR_AF]), fam)) {
    error = "service with an unknown address family";
    return false;
  }
  out = Service{};
  if (a[IPVS_SVC_ATTR_FWMARK] && nla_get_u32(a[IPVS_SVC_ATTR_FWMARK]) != 0) {
    out.key = ServiceKey::mark(fam, nla_get_u32(a[IPVS_SVC_ATTR_FWMARK]));
  } else {
    if (!a[IPVS_SVC_ATTR_PROTOCOL] || !a[IPVS_SVC_ATTR_PORT] ||
        !get_addr(a[IPVS_SVC_ATTR_ADDR], fam, out.key.address)) {
      error = "service without protocol, address or port";
      return false;
    }
    const auto proto = nla_get_u16(a[IPVS_SVC_ATTR_PROTOCOL]);
    if (proto != static_cast<std::uint16_t>(Protocol::tcp) &&
        proto != static_cast<std::uint16_t>(Protocol::udp)) {
      error = "service with an unsupported protocol " + std::to_string(proto);
      return false;
    }
    out.key.protocol = static_cast<Protocol>(proto);
    out.key.port = ntohs(nla_get_u16(a[IPVS_SVC_ATTR_PORT]));
  }
  if (a[IPVS_SVC_ATTR_SCHED_NAME]) out.scheduler = nla_get_string(a[IPVS_SVC_ATTR_SCHED_NAME]);
  if (a[IPVS_SVC_ATTR_FLAGS]) {
    ip_vs_flags f;
    std::memcpy(&f, nla_data(a[IPVS_SVC_ATTR_FLAGS]), sizeof(f));
    out.persistent = f.flags & IP_VS_SVC_F_PERSISTENT;
    out.sh_fallback = f.flags & IP_VS_SVC_F_SCHED_SH_FALLBACK;
    out.sh_port = f.flags & IP_VS_SVC_F_SCHED_SH_PORT;
    out.one_packet = f.flags & IP_VS_SVC_F_ONEPACKET;
  }
  if (a[IPVS_SVC_ATTR_TIMEOUT]) out.timeout = nla_get_u32(a[IPVS_SVC_ATTR_TIMEOUT]);
  out.netmask = fam == net::Family::v4 ? 32 : 128;
  if (a[IPVS_SVC_ATTR_NETMASK]) {
    const auto m = nla_get_u32(a[IPVS_SVC_ATTR_NETMASK]);
    out.netmask =
        fam == net::Family::v4 ? v4_prefix(m) : static_cast<std::uint8_t>(std::min(m, 128u));
  }
  nlattr* st = a[IPVS_SVC_ATTR_STATS64] ? a[IPVS_SVC_ATTR_STATS64] : nullptr;
  Stats ignored;
  if (st && !decode_stats(st, stats ? *stats : ignored, error)) return false;
  return true;
}

bool decode_dest(nlmsghdr* nlh, net::Family service_family, Destination& out, std::string& error,
                 DestCounters* counters) {
  nlattr* nest = top_attr(nlh, IPVS_CMD_ATTR_DEST, error);
  if (!nest) return false;
  nlattr* a[IPVS_DEST_ATTR_MAX + 1];
  if (nla_parse_nested(a, IPVS_DEST_ATTR_MAX, nest, dest_policy) < 0) {
    error = "malformed destination attributes";
    return false;
  }
  net::Family fam = service_family;
  if (a[IPVS_DEST_ATTR_ADDR_FAMILY] &&
      !family_of(nla_get_u16(a[IPVS_DEST_ATTR_ADDR_FAMILY]), fam)) {
    error = "destination with an unknown address family";
    return false;
  }
  out = Destination{};
  if (!get_addr(a[IPVS_DEST_ATTR_ADDR], fam, out.address) || !a[IPVS_DEST_ATTR_PORT]) {
    error = "destination without address or port";
    return false;
  }
  out.port = ntohs(nla_get_u16(a[IPVS_DEST_ATTR_PORT]));
  auto get = [&](int i) { return a[i] ? nla_get_u32(a[i]) : 0u; };
  out.forward = static_cast<Forward>(get(IPVS_DEST_ATTR_FWD_METHOD) & IP_VS_CONN_F_FWD_MASK);
  out.weight = get(IPVS_DEST_ATTR_WEIGHT);
  out.upper_threshold = get(IPVS_DEST_ATTR_U_THRESH);
  out.lower_threshold = get(IPVS_DEST_ATTR_L_THRESH);
  DestCounters c;
  c.active_conns = get(IPVS_DEST_ATTR_ACTIVE_CONNS);
  c.inactive_conns = get(IPVS_DEST_ATTR_INACT_CONNS);
  c.persist_conns = get(IPVS_DEST_ATTR_PERSIST_CONNS);
  if (a[IPVS_DEST_ATTR_STATS64] && !decode_stats(a[IPVS_DEST_ATTR_STATS64], c.stats, error))
    return false;
  if (counters) *counters = c;
  return true;
}

bool decode_info(nlmsghdr* nlh, Info& out, std::string& error) {
  nlattr* a[IPVS_INFO_ATTR_MAX + 1];
  if (!genlmsg_valid_hdr(nlh, 0) || genlmsg_parse(nlh, 0, a, IPVS_INFO_ATTR_MAX, info_policy) < 0 ||
      !a[IPVS_INFO_ATTR_VERSION]) {
    error = "malformed IPVS info reply";
    return false;
  }
  out.version = nla_get_u32(a[IPVS_INFO_ATTR_VERSION]);
  out.conn_table_size =
      a[IPVS_INFO_ATTR_CONN_TAB_SIZE] ? nla_get_u32(a[IPVS_INFO_ATTR_CONN_TAB_SIZE]) : 0;
  return true;
}

bool decode_config(nlmsghdr* nlh, Timeouts& out, std::string& error) {
  nlattr* a[IPVS_CMD_ATTR_MAX + 1];
  if (!genlmsg_valid_hdr(nlh, 0) || genlmsg_parse(nlh, 0, a, IPVS_CMD_ATTR_MAX, cmd_policy) < 0 ||
      !a[IPVS_CMD_ATTR_TIMEOUT_TCP] || !a[IPVS_CMD_ATTR_TIMEOUT_TCP_FIN] ||
      !a[IPVS_CMD_ATTR_TIMEOUT_UDP]) {
    error = "malformed IPVS config reply";
    return false;
  }
  out.tcp = nla_get_u32(a[IPVS_CMD_ATTR_TIMEOUT_TCP]);
  out.tcpfin = nla_get_u32(a[IPVS_CMD_ATTR_TIMEOUT_TCP_FIN]);
  out.udp = nla_get_u32(a[IPVS_CMD_ATTR_TIMEOUT_UDP]);
  return true;
}

}  // namespace l4lb::ipvs::codec
