// Writes one state file on a thread of its own, so that the caller never waits for the disk.
// A state_file::write fsyncs the file and its directory: about a millisecond on an idle disk,
// tens or hundreds on a busy one. The VRRP thread recorded each VIP it added that way, one
// write per VIP: a node taking over 1,024 VIPs held that thread 0.47-0.87 s and its adverts
// went out up to 1.03 s apart at a 100 ms interval (docs/BENCHMARKS.md, "VIP record").
//
// The latest text wins: texts given while a write runs are coalesced into the next one, so a
// burst of changes costs two writes, not one per change. Errors are logged here.
#pragma once

#include <condition_variable>
#include <optional>
#include <string>
#include <thread>

#include "common/pi_mutex.hpp"

namespace l4lb {

class StateWriter {
 public:
  // `what` names the file's content in log lines ("VIP ownership").
  StateWriter(std::string path, std::string what);
  ~StateWriter();  // writes what is still pending, then stops
  StateWriter(const StateWriter&) = delete;
  StateWriter& operator=(const StateWriter&) = delete;

  // Any thread; returns at once (a priority-inheritance lock, never held across I/O).
  void write(std::string text);
  // Waits until every text given before the call is on disk (or failed and was logged).
  void flush();
  // Writes done so far, failed ones included (tests, and how often the disk was touched).
  std::uint64_t writes() const;

 private:
  void run();

  const std::string path_, what_;
  mutable PiMutex mutex_;
  std::condition_variable_any wake_, done_;
  std::optional<std::string> pending_;
  std::uint64_t given_ = 0, written_ = 0;  // texts given; texts covered by a finished write
  std::uint64_t writes_ = 0;
  bool stop_ = false;
  std::thread thread_;  // last: starts once everything above exists
};

}  // namespace l4lb
