#include "ipvs/slicer.hpp"

#include <algorithm>

namespace l4lb::ipvs {

Slicer::Slicer(std::vector<OpRef> ops, Table* desired) : ops_(std::move(ops)), desired_(desired) {
  while (n_adds_ < ops_.size() && ops_[n_adds_].kind == Operation::Kind::add_service) ++n_adds_;
}

void Slicer::send_piece(Lent& state, std::size_t from, std::size_t to, ApplyResult& result) {
  piece_.clear();
  piece_.reserve(to - from);
  for (std::size_t i = from; i < to; ++i) {
    const OpRef& r = ops_[i];
    if (!refused_.empty() && refused_.count(r.service->key)) {
      result.skipped.push_back(r.make().to_string() + ": skipped, its virtual service was refused");
      continue;
    }
    piece_.push_back(r.make());
  }
  send(state, piece_, result, desired_);
}

bool Slicer::step(Lent& state, ApplyResult& result, std::size_t max_ops) {
  if (done()) return true;
  ++steps_;
  max_ops = std::max<std::size_t>(1, max_ops);
  if (next_ < n_adds_) {
    const std::size_t end = next_ + std::min(max_ops, n_adds_ - next_);
    const std::size_t failed_before = result.failed.size();
    send_piece(state, next_, end, result);
    if (result.failed.size() != failed_before) {
      for (const auto& op : piece_)
        if (!state.model.services.count(op.service.key)) refused_.insert(op.service.key);
    }
    next_ = end;
  } else {
    const std::size_t end = next_ + std::min(max_ops, ops_.size() - next_);
    send_piece(state, next_, end, result);
    next_ = end;
  }
  if (done()) piece_ = {};  // the last piece's memory goes now, not with the Slicer
  return done();
}

}  // namespace l4lb::ipvs
