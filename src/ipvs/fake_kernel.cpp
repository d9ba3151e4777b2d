#include "ipvs/fake_kernel.hpp"

#include <cerrno>
#include <limits>
#include <utility>

namespace l4lb::ipvs {

FakeKernel::FakeKernel()
    : schedulers_{"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh",
                  "sh", "sed", "nq", "fo",  "ovf",  "mh"} {}

std::optional<Info> FakeKernel::info(std::string&) { return Info{0x010201, 4096}; }

bool FakeKernel::dump(Table& out, std::string& error) {
  ++counters_.dumps;
  if (!fail_dump.empty()) {
    error = fail_dump;
    return false;
  }
  out = table_;
  return true;
}

std::optional<Timeouts> FakeKernel::timeouts(std::string&) { return timeouts_; }

bool FakeKernel::set_timeouts(const Timeouts& t, std::string& error) {
  ++set_timeouts_calls;
  // The kernel's limit: jiffies in an int (HZ = 1000 here).
  constexpr std::uint32_t kMax = std::numeric_limits<int>::max() / 1000;
  if (t.tcp > kMax || t.tcpfin > kMax || t.udp > kMax) {
    error = "Invalid argument";
    return false;
  }
  if (t.tcp) timeouts_.tcp = t.tcp;
  if (t.tcpfin) timeouts_.tcpfin = t.tcpfin;
  if (t.udp) timeouts_.udp = t.udp;
  return true;
}

std::optional<std::vector<SyncDaemon>> FakeKernel::sync_daemons(std::string& error) {
  if (!fail_sync.empty()) {
    error = fail_sync;
    return std::nullopt;
  }
  return sync_;
}

bool FakeKernel::start_sync_daemon(const SyncDaemon& d, std::string& error) {
  if (!fail_sync.empty()) {
    error = fail_sync;
    return false;
  }
  if (!interfaces.count(d.interface)) {
    error = "No such device";
    return false;
  }
  for (const auto& r : sync_)
    if (r.role == d.role) {
      error = "File exists";
      return false;
    }
  SyncDaemon x = d;
  if (!x.maxlen) x.maxlen = 1472;
  if (!x.group) x.group = net::Address::parse("224.0.0.81");
  if (!x.port) x.port = 8848;
  if (!x.ttl) x.ttl = 1;
  sync_.push_back(x);
  return true;
}

bool FakeKernel::stop_sync_daemon(SyncRole role, std::string& error) {
  if (!fail_sync.empty()) {
    error = fail_sync;
    return false;
  }
  for (auto it = sync_.begin(); it != sync_.end(); ++it)
    if (it->role == role) {
      sync_.erase(it);
      return true;
    }
  error = "No such process";
  return false;
}

std::vector<OpFailure> FakeKernel::apply(std::span<const Operation> ops) {
  std::vector<OpFailure> failures;
  if (!ops.empty()) ++counters_.batches;
  const std::optional<std::size_t> lost = std::exchange(nobufs_after, std::nullopt);
  if (lost && *lost < ops.size()) ++counters_.nobufs;
  for (std::size_t i = 0; i < ops.size(); ++i) {
    ++counters_.operations;
    const int error = apply_one(ops[i]);
    if (lost && i >= *lost) {
      failures.push_back({i, EIO, "no answer from the kernel (Out of memory); outcome unknown"});
    } else if (error) {
      ++counters_.failed;
      failures.push_back({i, error, explain_error(ops[i], error)});
    }
  }
  return failures;
}

int FakeKernel::apply_one(const Operation& op) {
  using K = Operation::Kind;
  auto it = table_.services.find(op.service.key);
  switch (op.kind) {
    case K::add_service:
    case K::edit_service: {
      if (op.kind == K::add_service && it != table_.services.end()) return EEXIST;
      if (op.kind == K::edit_service && it == table_.services.end()) return ESRCH;
      if (!schedulers_.count(op.service.scheduler)) return ENOENT;
      if (op.kind == K::add_service) {
        Service svc;
        static_cast<ServiceSettings&>(svc) = op.service;
        table_.services.emplace(op.service.key, std::move(svc));
      } else {
        static_cast<ServiceSettings&>(it->second) = op.service;
      }
      return 0;
    }
    case K::del_service:
      if (it == table_.services.end()) return ESRCH;
      table_.services.erase(it);
      return 0;
    case K::add_dest:
    case K::edit_dest:
    case K::del_dest: {
      if (it == table_.services.end()) return ESRCH;
      auto& dests = it->second.destinations;
      auto d = dests.find(op.dest.key());
      if (op.kind == K::del_dest) {
        if (d == dests.end()) return ENOENT;
        dests.erase(d);
        return 0;
      }
      if (op.dest.weight > static_cast<std::uint32_t>(std::numeric_limits<int>::max()))
        return ERANGE;
      if (op.dest.lower_threshold > op.dest.upper_threshold) return ERANGE;
      if (op.dest.address.family() != op.service.key.family() && op.dest.forward != Forward::tunnel)
        return EINVAL;
      if (op.kind == K::add_dest) {
        if (d != dests.end()) return EEXIST;
        Destination nd;
        static_cast<DestSettings&>(nd) = op.dest;
        dests.emplace(op.dest.key(), nd);
      } else {
        if (d == dests.end()) return ENOENT;
        static_cast<DestSettings&>(d->second) = op.dest;
      }
      return 0;
    }
  }
  return EINVAL;
}

}  // namespace l4lb::ipvs
