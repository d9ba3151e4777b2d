// Encoding IPVS requests and decoding IPVS replies (<linux/ip_vs.h> attributes): operations
// are written straight into a batch buffer, the rest through libnl. Pure: no sockets, so it is
// unit-tested and fuzzed on its own.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ipvs/kernel.hpp"
#include "ipvs/operation.hpp"
#include "ipvs/table.hpp"

struct nl_msg;
struct nlmsghdr;

namespace l4lb::ipvs::codec {

struct MsgFree {
  void operator()(nl_msg* m) const;
};
using MsgPtr = std::unique_ptr<nl_msg, MsgFree>;

// Appends one operation's request to a batch of requests sent in one sendmsg: netlink and
// genl headers (NLM_F_REQUEST, `seq`, `port` as the sender; the sender adds NLM_F_ACK to the
// last one), the attributes as libnl writes them, padded to 4 bytes. Written in place: no
// allocation per operation (one libnl message each cost a 1 KiB calloc, a copy and a free,
// 90,000 times for a table of 10,000 services x 8).
void append_operation(std::vector<unsigned char>& batch, int family_id, std::uint32_t seq,
                      std::uint32_t port, const Operation& op);
MsgPtr encode_service_dump(int family_id);
MsgPtr encode_dest_dump(int family_id, const ServiceKey& key);
MsgPtr encode_info_request(int family_id);
MsgPtr encode_get_config(int family_id);
// Only the non-zero timeouts are sent; the kernel keeps the others.
MsgPtr encode_set_config(int family_id, const Timeouts& t);

// The sync daemon: start (every configured attribute; 0 / unset ones left to the kernel),
// stop one role, dump all.
MsgPtr encode_new_daemon(int family_id, const SyncDaemon& d);
MsgPtr encode_del_daemon(int family_id, SyncRole role);
MsgPtr encode_daemon_dump(int family_id);

// Replies. Each returns false and sets `error` for a malformed message; a message must
// never crash the decoder whatever its bytes.
// `stats`, when given, receives the service's traffic totals.
bool decode_service(nlmsghdr* nlh, Service& out, std::string& error, Stats* stats = nullptr);
// `counters`, when given, receives the destination's traffic counters.
bool decode_dest(nlmsghdr* nlh, net::Family service_family, Destination& out, std::string& error,
                 DestCounters* counters = nullptr);
bool decode_info(nlmsghdr* nlh, Info& out, std::string& error);
bool decode_daemon(nlmsghdr* nlh, SyncDaemon& out, std::string& error);
bool decode_config(nlmsghdr* nlh, Timeouts& out, std::string& error);

}  // namespace l4lb::ipvs::codec
