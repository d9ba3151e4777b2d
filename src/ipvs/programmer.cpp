#include "ipvs/programmer.hpp"

#include <cerrno>
#include <chrono>
#include <limits>
#include <utility>

#include "common/log.hpp"
#include "ipvs/ownership.hpp"
#include "ipvs/slicer.hpp"

namespace l4lb::ipvs {

namespace {
double since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}
}  // namespace

void apply_to(Table& t, const Operation& op, Table* donor) {
  using K = Operation::Kind;
  auto it = t.services.find(op.service.key);
  switch (op.kind) {
    case K::add_service: {
      Service svc;
      static_cast<ServiceSettings&>(svc) = op.service;
      t.services[op.service.key] = std::move(svc);
      return;
    }
    case K::edit_service:
      if (it != t.services.end()) {
        static_cast<ServiceSettings&>(it->second) = op.service;
      }
      return;
    case K::del_service:
      if (it != t.services.end()) t.services.erase(it);
      return;
    case K::add_dest:
      if (it == t.services.end()) return;
      if (donor) {
        // The destination's own node from the table the operation was planned from: moved,
        // not copied, so a fresh model does not allocate (or first touch) a second table.
        if (auto from = donor->services.find(op.service.key); from != donor->services.end()) {
          if (auto node = from->second.destinations.extract(op.dest.key()); !node.empty()) {
            auto placed = it->second.destinations.insert(std::move(node));
            static_cast<DestSettings&>(placed.position->second) = op.dest;
            return;
          }
        }
      }
      static_cast<DestSettings&>(it->second.destinations[op.dest.key()]) = op.dest;
      return;
    case K::edit_dest:
      if (it != t.services.end())
        static_cast<DestSettings&>(it->second.destinations[op.dest.key()]) = op.dest;
      return;
    case K::del_dest:
      if (it != t.services.end()) it->second.destinations.erase(op.dest.key());
      return;
  }
}

Programmer::Programmer(std::unique_ptr<Kernel> kernel, std::string state_dir)
    : kernel_(std::move(kernel)), record_path_(state_dir + "/" + kOwnedFileName) {
  std::string error;
  owned_ = load_owned(record_path_, error);
  if (!error.empty()) {
    log::err("ipvs ownership record unreadable, owning nothing: {}", error);
  }
  if (!resync(error)) log::err("ipvs cannot read the kernel tables: {}", error);
}

bool Programmer::resync(std::string& error) {
  Table t;
  if (!kernel_->dump(t, error)) {
    synced_ = false;
    return false;
  }
  adopt(std::move(t));
  return true;
}

Table Programmer::adopt(Table kernel) {
  ++generation_;
  // A model has no traffic counters: the dump's go (its services' and destinations' indexes then
  // point past the end, which reads as none).
  std::vector<DestCounters>().swap(kernel.dest_counters);
  std::vector<Stats>().swap(kernel.service_stats);
  Table old = std::exchange(model_, std::move(kernel));
  synced_ = true;
  // Adopt what is still there; forget owned services that disappeared meanwhile.
  std::size_t adopted = 0;
  for (auto it = owned_.begin(); it != owned_.end();) {
    if (model_.services.count(*it)) {
      ++adopted;
      ++it;
    } else {
      it = owned_.erase(it);
      owned_unsaved_ = true;
    }
  }
  log::info("ipvs kernel holds {} services, {} destinations; {} owned by l4lbd",
            model_.services.size(), model_.destination_count(), adopted);
  return old;
}

Table Programmer::current() {
  if (lent_) return model_;  // empty: the kernel socket is with the plan worker
  Table t;
  std::string error;
  if (kernel_->dump(t, error)) return t;
  log::warning("ipvs dump failed: {}", error);
  return model_;
}

std::optional<std::string> save_record(Lent& state, double& seconds) {
  if (!state.owned_unsaved) return std::nullopt;
  const auto t0 = std::chrono::steady_clock::now();
  std::string error;
  const bool ok = save_owned(state.record_path, state.owned, error);
  if (ok) state.owned_unsaved = false;
  seconds += since(t0);
  if (ok) return std::nullopt;
  return error;
}

Lent Programmer::lend() {
  lent_ = true;
  ++generation_;
  counters_ = kernel_->counters();
  Lent l{std::move(model_), std::move(owned_), std::exchange(owned_unsaved_, false), record_path_,
         kernel_.get()};
  model_ = Table{};
  owned_.clear();
  return l;
}

void Programmer::give_back(Lent state) {
  model_ = std::move(state.model);
  owned_ = std::move(state.owned);
  owned_unsaved_ = state.owned_unsaved;
  if (state.stale) synced_ = false;
  lent_ = false;
  ++generation_;
}

void note_record_error(const std::optional<std::string>& error, ApplyResult& result) {
  if (!error) return;
  log::err("ipvs cannot write the ownership record: {}", *error);
  if (result.error.empty()) result.error = "ownership record: " + *error;
}

void send(Lent& state, std::span<const Operation> ops, ApplyResult& result, Table* donor) {
  if (ops.empty()) return;
  const auto t0 = std::chrono::steady_clock::now();
  const auto failures = state.kernel->apply(ops);
  result.kernel_seconds += since(t0);
  result.issued += ops.size();
  const auto t1 = std::chrono::steady_clock::now();
  bool drift = false;
  auto failure = failures.begin();
  for (std::size_t i = 0; i < ops.size(); ++i) {
    const Operation& op = ops[i];
    while (failure != failures.end() && failure->index < i) ++failure;  // (ascending)
    if (failure == failures.end() || failure->index != i) {
      ++result.applied;
      apply_to(state.model, op, donor);
      if (op.kind == Operation::Kind::del_service && state.owned.erase(op.service.key))
        state.owned_unsaved = true;
      continue;
    }
    const OpFailure& r = *failure;
    result.failed.push_back({op.to_string(), r.error, r.message});
    log::err("ipvs {}: {}", op.to_string(), r.message);
    // The kernel disagreeing about existence means our model is stale.
    // EIO: the answer was lost, so the outcome is unknown.
    if (r.error == EEXIST || r.error == ESRCH || r.error == EIO ||
        (r.error == ENOENT && !op.is_service_op()))
      drift = true;
    // A refused creation gives the claim up; one whose answer was lost (EIO: ENOBUFS, no
    // answer) keeps it: the kernel may well hold the service now, and one l4lbd created but
    // no longer claimed would count as someone else's for good. The resync that EIO forces
    // drops the claim if the service is not there.
    if (op.kind == Operation::Kind::add_service && r.error != EIO &&
        state.owned.erase(op.service.key))
      state.owned_unsaved = true;
  }
  if (drift) state.stale = true;
  result.model_seconds += since(t1);
}

ApplyResult Programmer::apply(const Table& desired) {
  ApplyResult result;
  if (!synced_) {
    std::string error;
    const auto t0 = std::chrono::steady_clock::now();
    const bool ok = resync(error);
    result.kernel_seconds += since(t0);
    if (!ok) {
      result.error = "cannot read the kernel's IPVS tables: " + error;
      return result;
    }
  }
  // The same path as a plan worker's: the state lent, the operations sent through it.
  Lent state = lend();
  const auto t0 = std::chrono::steady_clock::now();
  RefPlan plan = reconcile_refs(desired, state.model, state.owned);
  result.plan_seconds = since(t0);
  for (const auto& c : plan.conflicts) result.conflicts.push_back(c.to_string());
  // Claim the services about to be created before creating them, so a crash in between
  // leaves at worst a stale claim (dropped at the next start), never an orphan. With nothing
  // to send the record may still change: a re-read may have dropped services that vanished.
  claim(plan.ops, state);
  note_record_error(save_record(state, result.record_seconds), result);
  if (!plan.ops.empty()) {
    // Services first (one batch), so destinations of a service the kernel refused are not
    // sent at all; then everything else as one batch.
    Slicer slicer(std::move(plan.ops));
    while (!slicer.step(state, result, std::numeric_limits<std::size_t>::max())) {
    }
    note_record_error(save_record(state, result.record_seconds), result);
    log::info("ipvs apply: {} operations, {} applied, {} failed, {} skipped, {} conflicts",
              result.issued, result.applied, result.failed.size(), result.skipped.size(),
              result.conflicts.size());
  }
  give_back(std::move(state));
  return result;
}

void claim(const std::vector<OpRef>& ops, Lent& state) {
  // reconcile_refs() puts every add-service first.
  for (const auto& op : ops) {
    if (op.kind != Operation::Kind::add_service) break;
    if (state.owned.insert(op.service->key).second) state.owned_unsaved = true;
  }
}

}  // namespace l4lb::ipvs
