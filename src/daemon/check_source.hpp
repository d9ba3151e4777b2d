// Where a status or metrics rendering reads the health checks: a few hundred at a time, while
// it writes, so that no copy of the whole table is held for the seconds that a rendering is
// paced by its readers (docs/ARCHITECTURE.md, "Status and metrics").
//
// The document is not one instant: each run of services and each slice of checks is read when
// it is written (as the checks section of `ss` or `ipvsadm -L` is); the quorum counts and
// everything else come from the snapshot taken at the start.
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "health/monitor.hpp"

namespace l4lb {
class Worker;
}

namespace l4lb::daemon {

using CheckCopies = health::Monitor::Copies;
// The order of checks everywhere: by key.
inline bool by_key(const health::Monitor::Copy& a, const health::Monitor::Copy& b) {
  return a.first < b.first;
}

class CheckSource {
 public:
  virtual ~CheckSource() = default;
  // Appends the checks of these services (each service's in key order, the services in the
  // order given). The caller bounds a request by the services it names.
  virtual void services(const std::vector<std::string>& names, CheckCopies& out) = 0;
  // Appends up to `max` checks after `cursor` (from the first when empty) in key order and
  // moves `cursor` to the last one. Returns true when none is left after it.
  virtual bool next(std::optional<health::BackendKey>& cursor, std::size_t max,
                    CheckCopies& out) = 0;
};

// Checks held in memory, ordered by key: for tests and small documents.
class CheckList final : public CheckSource {
 public:
  CheckList() = default;
  explicit CheckList(CheckCopies checks);  // sorted here
  void services(const std::vector<std::string>& names, CheckCopies& out) override;
  bool next(std::optional<health::BackendKey>& cursor, std::size_t max, CheckCopies& out) override;
  const CheckCopies& checks() const { return checks_; }

 private:
  CheckCopies checks_;
};

// A monitor on the loop, read from the render worker: each request is a message to the loop
// (Worker::send_to_loop) that copies what it asks for, and the worker waits for the answer;
// next() reads the following slice ahead while its caller writes the one it got.
// The loop never waits for the worker, so this cannot deadlock while the loop runs; when it
// stops (the daemon ends), abort() ends the wait and fails the rendering with
// TextStream::Aborted, as the streams' own abort does.
class LoopChecks final : public CheckSource {
 public:
  // `monitor` runs on the loop, at each request: the running monitor, or null (no checks).
  LoopChecks(Worker& worker, std::function<const health::Monitor*()> monitor);
  void services(const std::vector<std::string>& names, CheckCopies& out) override;
  bool next(std::optional<health::BackendKey>& cursor, std::size_t max, CheckCopies& out) override;
  // Any thread: the waiting request, and every later one, fail.
  std::function<void()> abort_handle() const;

 private:
  struct Exchange;
  using Read = std::function<void(const health::Monitor*, Exchange&)>;
  // Sends `read` to the loop (room for `expected` checks made first); what it reads goes into
  // the exchange, never into the worker's own objects (a read may still run after the worker
  // gave up). One read is in flight at a time.
  void send(std::size_t expected, Read read);
  void wait();                  // for the read in flight
  void take(CheckCopies& out);  // its checks, appended
  static Read slice(const std::optional<health::BackendKey>& from, std::size_t max);

  Worker& worker_;
  std::function<const health::Monitor*()> monitor_;
  std::shared_ptr<Exchange> exchange_;
  bool in_flight_ = false;
  // The slice read ahead by next() (from, max): the one the next call asks for, in a pass.
  std::optional<std::pair<std::optional<health::BackendKey>, std::size_t>> prefetched_;
};

}  // namespace l4lb::daemon
