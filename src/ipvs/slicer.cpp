#include "ipvs/slicer.hpp"

#include <algorithm>
#include <span>

namespace l4lb::ipvs {

Slicer::Slicer(std::vector<Operation> ops) : ops_(std::move(ops)) {
  while (n_adds_ < ops_.size() && ops_[n_adds_].kind == Operation::Kind::add_service) ++n_adds_;
}

bool Slicer::step(Lent& state, ApplyResult& result, std::size_t max_ops) {
  if (done()) return true;
  ++steps_;
  max_ops = std::max<std::size_t>(1, max_ops);
  const std::span<const Operation> all(ops_);
  if (next_ < n_adds_) {
    const std::size_t n = std::min(max_ops, n_adds_ - next_);
    const std::size_t failed_before = result.failed.size();
    const auto piece = all.subspan(next_, n);
    send(state, piece, result);
    if (result.failed.size() != failed_before) {
      for (const auto& op : piece)
        if (!state.model.services.count(op.service.key)) refused_.insert(op.service.key);
    }
    next_ += n;
    return done();
  }
  const std::size_t n = std::min(max_ops, ops_.size() - next_);
  const auto piece = all.subspan(next_, n);
  next_ += n;
  if (refused_.empty()) {
    send(state, piece, result);
    return done();
  }
  kept_.clear();
  for (const auto& op : piece) {
    if (refused_.count(op.service.key))
      result.skipped.push_back(op.to_string() + ": skipped, its virtual service was refused");
    else
      kept_.push_back(op);
  }
  send(state, kept_, result);
  return done();
}

}  // namespace l4lb::ipvs
