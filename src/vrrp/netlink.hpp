// rtnetlink adapter for VRRP: a live view of links and addresses fed by RTNLGRP_LINK /
// RTNLGRP_IPV4_IFADDR / RTNLGRP_IPV6_IFADDR events (libnl cache manager, no polling), and
// synchronous address add/delete for VIPs (a local-kernel round trip).
#pragma once

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/address.hpp"

struct nl_sock;
struct nl_cache;
struct nl_cache_mngr;

namespace l4lb::vrrp {

struct LinkAddress {
  net::Prefix prefix;
  bool secondary = false;
  bool tentative = false;  // IPv6 DAD not finished: not usable as a source yet
};

struct LinkInfo {
  int ifindex = 0;
  std::string name;
  bool up = false;  // administratively up and with carrier (IFF_UP && IFF_RUNNING)
  std::array<std::uint8_t, 6> mac{};
  std::vector<LinkAddress> addresses;
};

// What VIP handling needs from the kernel; faked in unit tests.
class AddressTable {
 public:
  enum class Result { ok, exists, missing, error };
  virtual ~AddressTable() = default;
  virtual Result add(int ifindex, const net::Prefix& p, std::string& error) = 0;
  virtual Result remove(int ifindex, const net::Prefix& p, std::string& error) = 0;
};

// Links by name, as the kernel reports them now; faked in unit tests (vrrp::decide_links).
class LinkView {
 public:
  virtual ~LinkView() = default;
  virtual std::optional<LinkInfo> link(const std::string& name) const = 0;
  // How many complete re-reads of the kernel's links and addresses the view has made. A
  // re-read that ended after something was done to the kernel shows its effect, whatever
  // events were lost on the way.
  virtual std::uint64_t rereads() const = 0;
};

class Netlink : public AddressTable, public LinkView {
 public:
  // The event socket's receive buffer. A burst of link/address events larger than the buffer
  // is lost (ENOBUFS) and answered with a full re-read; a large buffer makes that rare.
  static constexpr int kDefaultEventBuffer = 4 * 1024 * 1024;

  // Throws std::runtime_error when netlink is unusable (no point running VRRP then).
  explicit Netlink(boost::asio::io_context& io, int event_buffer = kDefaultEventBuffer);
  ~Netlink() override;
  Netlink(const Netlink&) = delete;
  Netlink& operator=(const Netlink&) = delete;

  std::optional<LinkInfo> link(const std::string& name) const override;
  std::uint64_t rereads() const override { return stats_.resyncs; }
  // Called (on the io_context) after a batch of link/address events was applied.
  void on_change(std::function<void()> cb) { on_change_ = std::move(cb); }

  struct Stats {
    std::uint64_t overflows = 0;      // event stream errors (ENOBUFS: events were lost)
    std::uint64_t resyncs = 0;        // full re-reads of links and addresses that succeeded
    std::uint64_t resync_errors = 0;  // re-reads that failed (retried)
    // Re-reads put off because every dump of the try was cut by changes (retried).
    std::uint64_t resync_interrupted = 0;
  };
  Stats stats() const { return stats_; }

  Result add(int ifindex, const net::Prefix& p, std::string& error) override;
  Result remove(int ifindex, const net::Prefix& p, std::string& error) override;

 private:
  // Bounds the work of one drain (each read returns up to 16 KiB of events).
  static constexpr int kMaxDrainReads = 4096;
  // Bounds one re-read: dumps of a table that keeps changing (the kernel marks them
  // inconsistent) are tried again at most this many times, then after a pause.
  static constexpr int kMaxDumpPasses = 4;

  void wait();
  std::optional<LinkInfo> read_link(const std::string& name) const;  // from the caches
  bool drain_events();
  bool resync();
  void retry_resync();

  boost::asio::posix::stream_descriptor events_;
  boost::asio::steady_timer retry_;
  Stats stats_;
  nl_cache_mngr* mngr_ = nullptr;
  nl_cache* links_ = nullptr;
  nl_cache* addrs_ = nullptr;
  nl_sock* req_ = nullptr;  // requests (address add/delete, resync)
  std::function<void()> on_change_;
  // link() answers since the caches last changed: every router asks after each batch of
  // events, and each answer is a walk over every address of the host.
  mutable std::map<std::string, std::optional<LinkInfo>> views_;
};

}  // namespace l4lb::vrrp
