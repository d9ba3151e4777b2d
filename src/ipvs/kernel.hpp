// The narrow interface to the kernel's IPVS tables. NetlinkKernel speaks the "IPVS"
// generic netlink family; FakeKernel is an in-memory model with the kernel's rules.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ipvs/operation.hpp"
#include "ipvs/table.hpp"

namespace l4lb::ipvs {

struct Info {
  std::uint32_t version = 0;  // 0x010201 = 1.2.1
  std::uint32_t conn_table_size = 0;
  std::string version_string() const;
};

// IPVS connection timeouts of the network namespace, in seconds (ipvsadm --set): established
// TCP, TCP after FIN, UDP. In a set request 0 means "leave this one as it is".
struct Timeouts {
  std::uint32_t tcp = 0, tcpfin = 0, udp = 0;
  bool operator==(const Timeouts&) const = default;
};

// The kernel's connection-synchronisation daemon (ipvsadm --start-daemon): one per role and
// network namespace. A master multicasts the state of the connections IPVS handles here; a
// backup creates the connections it hears of, so that they survive a failover to this node.
enum class SyncRole : std::uint32_t { master = 1, backup = 2 };  // IP_VS_STATE_MASTER / _BACKUP
std::string_view to_string(SyncRole r);

struct SyncDaemon {
  SyncRole role = SyncRole::backup;
  std::string interface;      // the multicast interface
  std::uint32_t sync_id = 0;  // 0..255 in the protocol
  // 0 (or unset) in a start request: the kernel's default. A dump reports the kernel's values.
  std::uint16_t maxlen = 0;           // UDP payload bytes; the kernel clamps it to the MTU
  std::optional<net::Address> group;  // default 224.0.0.81
  std::uint16_t port = 0;             // default 8848
  std::uint8_t ttl = 0;               // default 1
  bool operator==(const SyncDaemon&) const = default;
};

// Traffic counters of one Kernel: what the "exactly one operation" promises are checked by.
struct KernelCounters {
  std::uint64_t operations = 0;  // change messages sent (one per Operation)
  std::uint64_t failed = 0;      // of which the kernel refused
  std::uint64_t batches = 0;     // write round trips (sendmsg of one or more operations)
  std::uint64_t dumps = 0;       // dump requests (one for services, one per service for dests)
  // The socket's receive buffer overflowed (ENOBUFS): answers were lost, so the outcome of
  // the operations in flight is unknown and the model must be re-read.
  std::uint64_t nobufs = 0;
  std::uint64_t dumps_interrupted = 0;  // NLM_F_DUMP_INTR: the table changed during a dump
};

class Kernel {
 public:
  virtual ~Kernel() = default;
  virtual std::optional<Info> info(std::string& error) = 0;
  // Every virtual service with its destinations and counters. False + error on failure
  // (then `out` is unspecified).
  virtual bool dump(Table& out, std::string& error) = 0;
  // Applies every operation in order; one failing does not stop the others. Returns the
  // failed ones by ascending index (empty: all applied).
  virtual std::vector<OpFailure> apply(std::span<const Operation> ops) = 0;
  // IPVS_CMD_GET_CONFIG / IPVS_CMD_SET_CONFIG. Not every Kernel speaks them: the default
  // says so rather than pretending.
  virtual std::optional<Timeouts> timeouts(std::string& error) {
    error = "this IPVS interface cannot read timeouts";
    return std::nullopt;
  }
  virtual bool set_timeouts(const Timeouts&, std::string& error) {
    error = "this IPVS interface cannot set timeouts";
    return false;
  }
  // IPVS_CMD_GET_DAEMON (every running sync daemon), IPVS_CMD_NEW_DAEMON, IPVS_CMD_DEL_DAEMON.
  virtual std::optional<std::vector<SyncDaemon>> sync_daemons(std::string& error) {
    error = "this IPVS interface cannot read sync daemons";
    return std::nullopt;
  }
  virtual bool start_sync_daemon(const SyncDaemon&, std::string& error) {
    error = "this IPVS interface cannot start sync daemons";
    return false;
  }
  virtual bool stop_sync_daemon(SyncRole, std::string& error) {
    error = "this IPVS interface cannot stop sync daemons";
    return false;
  }
  const KernelCounters& counters() const { return counters_; }

 protected:
  KernelCounters counters_;
};

// nullptr and a clear `error` ("IPVS is not available: module ip_vs not loaded",
// "... no CAP_NET_ADMIN") when IPVS cannot be used. `rcvbuf` > 0 shrinks the socket's
// receive buffer to that many bytes (testing only: l4lbd --ipvs-rcvbuf, to provoke ENOBUFS).
std::unique_ptr<Kernel> open_netlink_kernel(std::string& error, int rcvbuf = 0);

}  // namespace l4lb::ipvs
