// Kernel over the "IPVS" generic netlink family (libnl-genl-3). Synchronous round trips
// to the local kernel: changes are sent many messages per sendmsg, and only the last
// message of a chunk asks for an ACK — the kernel answers errors individually, each
// carrying the sequence number of the message that caused it.
#pragma once

#include <cstddef>
#include <functional>
#include <string>

#include "ipvs/kernel.hpp"

struct nl_sock;
struct nl_msg;
struct nlmsghdr;

namespace l4lb::ipvs {

class NetlinkKernel : public Kernel {
 public:
  ~NetlinkKernel() override;
  // nullptr + error when the family is missing or the socket cannot be set up.
  static std::unique_ptr<NetlinkKernel> open(std::string& error, int rcvbuf = 0);

  std::optional<Info> info(std::string& error) override;
  bool dump(Table& out, std::string& error) override;
  std::vector<OpFailure> apply(std::span<const Operation> ops) override;
  std::optional<Timeouts> timeouts(std::string& error) override;
  bool set_timeouts(const Timeouts& t, std::string& error) override;
  std::optional<std::vector<SyncDaemon>> sync_daemons(std::string& error) override;
  bool start_sync_daemon(const SyncDaemon& d, std::string& error) override;
  bool stop_sync_daemon(SyncRole role, std::string& error) override;

  std::size_t max_batch() const { return max_batch_; }

 private:
  NetlinkKernel() = default;
  // Sends one request and feeds every reply message to `on_reply` until the request is
  // done (NLMSG_DONE for dumps, the ACK otherwise). Returns 0 or a positive errno.
  int request(nl_msg* msg, bool dump, const std::function<bool(nlmsghdr*)>& on_reply,
              std::string& error);
  void send_chunk(std::span<const Operation> ops, std::size_t begin, std::size_t end,
                  std::vector<OpFailure>& failures);

  nl_sock* sock_ = nullptr;
  int family_ = 0;
  std::size_t max_batch_ = 64;
  std::size_t max_batch_bytes_ = 64 * 1024;
  std::vector<unsigned char> encode_buf_;  // send_chunk's, reused
};

}  // namespace l4lb::ipvs
