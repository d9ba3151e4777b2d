// Sends a plan's operations in pieces of a bounded size, making each piece's Operations just
// before it goes (from reconcile_refs()' OpRefs): a 90,000-operation plan holds one piece of
// Operations at a time, not 11.5 MB of them. The plan worker sends pieces of 4,096 (the
// kernel object's largest batch); tests send a few, to see the pieces.
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
#include "ipvs/reconciler.hpp"

namespace l4lb::ipvs {

class Slicer {
 public:
  // `ops` in reconcile()'s order (every add-service first); the tables they point into must
  // outlive the Slicer (see OpRef). With `desired` (the table planned from), each added
  // destination's node moves from it into the model (apply_to): the model of a fresh start
  // is the desired table's own nodes, not a copy. An OpRef to a moved node stays valid (a
  // map node keeps its address), and each is made before its piece is sent.
  explicit Slicer(std::vector<OpRef> ops, Table* desired = nullptr);

  // Sends at most `max_ops` operations (one Kernel::apply) and returns true once every
  // operation has been sent or skipped. Results accumulate in `result`.
  bool step(Lent& state, ApplyResult& result, std::size_t max_ops);

  bool done() const { return next_ >= ops_.size(); }
  std::size_t total() const { return ops_.size(); }
  std::size_t position() const { return next_; }
  std::size_t steps() const { return steps_; }

 private:
  void send_piece(Lent& state, std::size_t from, std::size_t to, ApplyResult& result);

  std::vector<OpRef> ops_;
  Table* desired_ = nullptr;
  std::size_t n_adds_ = 0;  // ops_[0, n_adds_) are the add-services
  std::size_t next_ = 0;
  std::size_t steps_ = 0;
  std::set<ServiceKey> refused_;  // add-services the kernel refused
  std::vector<Operation> piece_;  // the piece being sent, made from ops_ (skipped ones left out)
};

}  // namespace l4lb::ipvs
