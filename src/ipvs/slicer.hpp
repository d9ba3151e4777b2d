// Sends a plan's operations in pieces of a bounded size (the plan worker: as many as the kernel
// object takes; tests: a few, to see the pieces).
//
// Keeps Programmer::apply's rules across the pieces: every add-service is sent before any
// other operation, and the operations of a service the kernel refused are skipped (reported
// in ApplyResult::skipped), never sent. The add-services and the rest never share a piece.
#pragma once

#include <cstddef>
#include <set>
#include <vector>

#include "ipvs/operation.hpp"
#include "ipvs/programmer.hpp"

namespace l4lb::ipvs {

class Slicer {
 public:
  // `ops` in reconcile()'s order (every add-service first).
  explicit Slicer(std::vector<Operation> ops);

  // Sends at most `max_ops` operations (one Kernel::apply) and returns true once every
  // operation has been sent or skipped. Results accumulate in `result`.
  bool step(Lent& state, ApplyResult& result, std::size_t max_ops);

  bool done() const { return next_ >= ops_.size(); }
  std::size_t total() const { return ops_.size(); }
  std::size_t position() const { return next_; }
  std::size_t steps() const { return steps_; }
  // The operations, for freeing elsewhere (a 90,000-operation vector takes a while to free).
  std::vector<Operation> release() { return std::move(ops_); }

 private:
  std::vector<Operation> ops_;
  std::size_t n_adds_ = 0;  // ops_[0, n_adds_) are the add-services
  std::size_t next_ = 0;
  std::size_t steps_ = 0;
  std::set<ServiceKey> refused_;  // add-services the kernel refused
  std::vector<Operation> kept_;   // a piece without the skipped operations
};

}  // namespace l4lb::ipvs
