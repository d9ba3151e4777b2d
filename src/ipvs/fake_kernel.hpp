// An in-memory IPVS with the kernel's rules (EEXIST on a duplicate, ESRCH for a missing
// service, ENOENT for an unknown scheduler or missing destination, ERANGE for bad
// weights/thresholds, EINVAL for a cross-family destination not tunnelled), for tests.
#pragma once

#include <optional>
#include <set>
#include <string>

#include "ipvs/kernel.hpp"

namespace l4lb::ipvs {

class FakeKernel : public Kernel {
 public:
  FakeKernel();
  std::optional<Info> info(std::string& error) override;
  bool dump(Table& out, std::string& error) override;
  std::vector<OpFailure> apply(std::span<const Operation> ops) override;
  std::optional<Timeouts> timeouts(std::string& error) override;
  bool set_timeouts(const Timeouts& t, std::string& error) override;
  // The kernel's rules: EEXIST for a second daemon of one role, ENODEV for an interface not
  // in `interfaces`, ESRCH to stop one that does not run; defaults filled in like the kernel.
  std::optional<std::vector<SyncDaemon>> sync_daemons(std::string& error) override;
  bool start_sync_daemon(const SyncDaemon& d, std::string& error) override;
  bool stop_sync_daemon(SyncRole role, std::string& error) override;

  // Test controls.
  Table& table() { return table_; }
  std::set<std::string>& schedulers() { return schedulers_; }
  std::string fail_dump;  // non-empty: dump() fails with this error
  // Set: the next apply() overflows the socket's receive buffer (ENOBUFS) after answering
  // this many operations. The kernel still carries out every operation (as the real one
  // does: only the answers are lost); the rest are reported as EIO, outcome unknown.
  std::optional<std::size_t> nobufs_after;
  Timeouts& kernel_timeouts() { return timeouts_; }
  int set_timeouts_calls = 0;
  std::vector<SyncDaemon>& running_sync() { return sync_; }
  std::set<std::string> interfaces{"eth0", "eth1"};
  std::string fail_sync;  // non-empty: every sync request fails with this error

 private:
  int apply_one(const Operation& op);
  Table table_;
  std::set<std::string> schedulers_;
  Timeouts timeouts_{900, 120, 300};  // the kernel's defaults
  std::vector<SyncDaemon> sync_;
};

}  // namespace l4lb::ipvs
