#include "ipvs/plan_worker.hpp"

#include <boost/asio/post.hpp>
#include <set>
#include <utility>
#include <variant>

#include "common/log.hpp"

namespace l4lb::ipvs {

namespace {
using Steady = std::chrono::steady_clock;
double since(Steady::time_point t) {
  return std::chrono::duration<double>(Steady::now() - t).count();
}
const std::vector<config::Service> kNoServices;
}  // namespace

// A job's inputs and outputs; the loop touches it only before the job and in its continuation.
struct PlanWorker::Planned {
  Lent lent;
  ApplyResult result;                       // what was sent, planned and recorded; conflicts
  std::optional<std::string> record_error;  // the first one
  std::size_t adopted = 0;
  bool incremental = false;
};

PlanWorker::PlanWorker(boost::asio::io_context& io, Programmer& programmer, CheckPortFn check_port,
                       Done done, Options options)
    : io_(io),
      programmer_(programmer),
      done_(std::move(done)),
      options_(options),
      states_(std::move(check_port)),
      worker_(io, "l4lb-plan", 0) {}

PlanWorker::~PlanWorker() { *alive_ = false; }

void PlanWorker::note(StateChange change) {
  if (!std::holds_alternative<HealthChange>(change)) full_next_ = true;
  changes_.push_back(std::move(change));
}

void PlanWorker::request(Services services, DrainedFn drained) {
  // The latest request stands for every earlier one that has not started: it carries the
  // newest services and drains, and the plan reads every health change noted until it starts.
  if (pending_) ++stats_.coalesced;
  pending_ = Request{std::move(services), std::move(drained)};
  maybe_start();
}

void PlanWorker::hold() { held_ = true; }

void PlanWorker::release() {
  held_ = false;
  maybe_start();
}

void PlanWorker::maybe_start() {
  if (phase_ != Phase::idle || held_ || !pending_) return;
  // A stale model waits for the re-read (which request()s again), unless we re-read here.
  if (!programmer_.synced() && !options_.resync_on_loop) return;
  Request next = std::move(*pending_);
  pending_.reset();
  start(std::move(next));
}

void PlanWorker::start(Request req) {
  const auto h0 = Steady::now();
  result_ = ApplyResult{};
  if (!programmer_.synced()) {
    // After an error the model may be stale: re-read the kernel first (the error path only).
    std::string error;
    const auto t0 = Steady::now();
    const bool ok = programmer_.resync(error);
    result_.kernel_seconds += since(t0);
    if (!ok) {
      result_.error = "cannot read the kernel's IPVS tables: " + error;
      complete();
      return;
    }
  }
  // Only health changed since the last plan, against the same services and a model nobody
  // else replaced: plan just the services those checks belong to.
  const bool full = std::exchange(full_next_, false) || adopt_ ||
                    req.services != planned_services_ || programmer_.generation() != gen_done_;
  planned_services_ = req.services;
  phase_ = Phase::running;
  auto p = std::make_shared<Planned>();
  p->lent = programmer_.lend();
  auto changes = std::make_shared<std::vector<StateChange>>(std::move(changes_));
  changes_.clear();
  const bool adopt = std::exchange(adopt_, false);
  worker_.post([this, p, changes, adopt, full, req = std::move(req)]() -> Worker::Continuation {
    plan_and_send(*p, *changes, adopt, full, req);
    return [this, p] { finished(*p); };
  });
  note_handler(h0);
}

// Worker thread: only `p`, `changes`, `req` and the worker's members are touched here.
void PlanWorker::plan_and_send(Planned& p, const std::vector<StateChange>& changes, bool adopt,
                               bool full, const Request& req) {
  const auto t0 = Steady::now();
  states_.apply(changes);
  const auto& services = req.services ? *req.services : kNoServices;
  if (adopt) p.adopted = states_.adopt(services, p.lent.model, p.lent.owned);
  const BackendStateFn state = [&](const config::Service& s, std::uint16_t port,
                                   const config::Backend& b) {
    BackendState st;
    st.health = states_.health(s, port, b);
    st.drained = req.drained && req.drained(s.name, b.address);
    return st;
  };
  // The operations point into `desired` and the model (or, for a partial plan, `part`), so
  // all three live until the last piece is sent.
  Table desired, part;
  RefPlan plan;
  if (full) {
    desired = desired_table(services, state);
    plan = reconcile_refs(desired, p.lent.model, p.lent.owned);
    conflicts_.clear();
    for (const auto& c : plan.conflicts) conflicts_.push_back(c.to_string());
  } else {
    p.incremental = true;
    plan_services(req.services, changes, state, p.lent, desired, part);
    plan = reconcile_refs(desired, part, p.lent.owned);
  }
  ApplyResult& r = p.result;
  r.plan_seconds = since(t0);
  r.conflicts = conflicts_;  // a health change neither makes nor settles a conflict
  // Claimed before created, so a crash in between leaves at worst a stale claim.
  claim(plan.ops, p.lent);
  p.record_error = save_record(p.lent, r.record_seconds);
  if (plan.ops.empty()) return;
  Slicer slicer(std::move(plan.ops), &desired);
  while (!slicer.step(p.lent, r, options_.batch_ops)) {
  }
  auto again = save_record(p.lent, r.record_seconds);
  if (!p.record_error) p.record_error = std::move(again);
}  // the plan's tables are freed here, not on the loop

// Worker thread. The desired table of the services named in `changes` only, and their part
// of the model: reconciled, they give the same operations a whole plan would find, since
// nothing else changed (PlanWorker::start decides that).
void PlanWorker::plan_services(const Services& services, const std::vector<StateChange>& changes,
                               const BackendStateFn& state, const Lent& lent, Table& desired,
                               Table& part) {
  if (!services) return;
  if (indexed_ != services) {
    index_.clear();
    index_.reserve(services->size());
    for (std::size_t i = 0; i < services->size(); ++i) index_.emplace((*services)[i].name, i);
    indexed_ = services;
  }
  std::set<std::size_t> touched;
  for (const auto& change : changes)
    if (const auto* h = std::get_if<HealthChange>(&change))
      if (auto it = index_.find(h->service); it != index_.end()) touched.insert(it->second);
  std::vector<config::Service> subset;
  subset.reserve(touched.size());
  for (auto i : touched) subset.push_back((*services)[i]);
  desired = desired_table(subset, state);
  for (const auto& [key, svc] : desired.services)
    if (auto it = lent.model.services.find(key); it != lent.model.services.end())
      part.services.emplace(key, it->second);
}

void PlanWorker::finished(Planned& p) {
  const auto h0 = Steady::now();
  programmer_.give_back(std::move(p.lent));
  if (p.incremental) ++stats_.incremental;
  ApplyResult& r = p.result;
  stats_.last_plan_seconds = r.plan_seconds;
  stats_.last_send_seconds = r.kernel_seconds;
  r.kernel_seconds += result_.kernel_seconds;  // a re-read at the start, if there was one
  result_ = std::move(r);
  if (p.adopted) {
    stats_.adopted = p.adopted;
    log::notice("ipvs adopted {} live backend(s) from the kernel; kept until their first check",
                p.adopted);
  }
  note_record_error(p.record_error, result_);
  complete();
  note_handler(h0);
}

void PlanWorker::note_handler(Steady::time_point t0) {
  stats_.max_handler_seconds = std::max(stats_.max_handler_seconds, since(t0));
}

void PlanWorker::complete() {
  phase_ = Phase::idle;
  ++stats_.plans;
  // The next plan may be a partial one only if this one left the model exactly as planned.
  gen_done_ = programmer_.generation();
  if (!result_.failed.empty() || !result_.skipped.empty() || !result_.error.empty())
    full_next_ = true;
  if (result_.issued > 0)
    log::info(
        "ipvs apply: {} operations, {} applied, {} failed, {} skipped, {} conflicts; on the plan "
        "worker: plan {:.1f} ms, netlink {:.1f} ms",
        result_.issued, result_.applied, result_.failed.size(), result_.skipped.size(),
        result_.conflicts.size(), result_.plan_seconds * 1000, result_.kernel_seconds * 1000);
  ApplyResult result = std::move(result_);
  result_ = ApplyResult{};
  if (done_) done_(result);  // may hold() (a drift check waiting for this plan to end)
  maybe_start();
}

void PlanWorker::finish() {
  pending_.reset();
  // The worker finishes the plan in flight; its continuation runs here (and would start a
  // queued request, which there is none of now).
  while (phase_ != Phase::idle) worker_.wait_idle();
}

}  // namespace l4lb::ipvs
