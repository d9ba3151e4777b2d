// Owns the Kernel and the ownership record; turns a desired table into the fewest kernel
// operations. apply() works from a model of the kernel (seeded by one dump at start and
// kept up to date with every applied operation), so an unchanged table costs no netlink
// traffic at all and one backend changing state costs exactly one message.
#pragma once

#include <fmt/format.h>

#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "ipvs/desired.hpp"
#include "ipvs/kernel.hpp"
#include "ipvs/reconciler.hpp"

namespace l4lb::ipvs {

struct FailedOp {
  std::string operation;  // Operation::to_string()
  int error = 0;          // errno from the kernel
  std::string message;    // explain_error()
  std::string to_string() const { return operation + ": " + message; }
};

struct ApplyResult {
  std::size_t issued = 0;   // operations sent
  std::size_t applied = 0;  // of which the kernel accepted
  std::vector<FailedOp> failed;
  std::vector<std::string> skipped;    // not sent because the service they need failed
  std::vector<std::string> conflicts;  // Conflict::to_string(): never touched
  std::string error;                   // the kernel could not be read, or the record not written
  double plan_seconds = 0;             // reconcile
  double kernel_seconds = 0;           // netlink round trips (and a re-read, if one was needed)
  double record_seconds = 0;           // ownership record writes
  double model_seconds = 0;            // bookkeeping of the applied operations
  bool ok() const {
    return failed.empty() && skipped.empty() && conflicts.empty() && error.empty();
  }
};

// What a plan is computed from and its operations are sent with, lent to the plan worker for
// the time it takes (moved, never copied: a copy of a 10,000 x 8 model would hold the loop for
// milliseconds). The kernel comes with it: while lent, only the borrower sends operations.
struct Lent {
  Table model;                 // the kernel as l4lbd believes it is
  std::set<ServiceKey> owned;  // services l4lbd created
  // `owned` differs from the ownership record on disk. A flag, not a copy of the set as
  // written: at 10,000 services the copy was 160 pages first touched at every start.
  bool owned_unsaved = false;
  std::string record_path;
  Kernel* kernel = nullptr;  // the Programmer's: its netlink socket and counters
  bool stale = false;        // an answer showed the model no longer matches the kernel
};

// Sends `ops` in order through `state.kernel` (Kernel::apply batches them) and updates the model
// and the owned set from the answers; failures go to `result`, and an answer that shows the
// model is stale sets `state.stale`. Any thread, while it holds the Lent. The caller keeps
// reconcile()'s order (see Slicer). Added destinations are moved from `donor` (apply_to).
void send(Lent& state, std::span<const Operation> ops, ApplyResult& result, Table* donor = nullptr);

// Writes the ownership record if `owned` differs from what was last written. Any thread.
// Returns the error message, or nullopt.
std::optional<std::string> save_record(Lent& state, double& seconds);
// Logs a save_record() error and reports it in `result` (the first error stands).
void note_record_error(const std::optional<std::string>& error, ApplyResult& result);

class Programmer {
 public:
  // Reads <state_dir>/ipvs-owned.json and adopts the live kernel state (one dump).
  Programmer(std::unique_ptr<Kernel> kernel, std::string state_dir);

  // Plans, sends every operation and writes the record, all at once (tests, the lab driver,
  // shutdown). The daemon uses PlanWorker, which does the same work in pieces.
  ApplyResult apply(const Table& desired);

  // Hands the model, the ownership state and the kernel to a plan worker; until give_back()
  // the Programmer holds an empty model and must not plan, send or dump. give_back() marks
  // the model stale if the borrower found it so.
  Lent lend();
  void give_back(Lent state);
  bool lent() const { return lent_; }
  // A fresh dump with counters, for status and metrics (the model if the dump fails; an empty
  // table while lent: the socket is the borrower's).
  Table current();
  // Re-reads the kernel into the model (after someone else changed the tables).
  bool resync(std::string& error);
  // Takes a dump made elsewhere (ipvs::TableReader, off the loop) as the model: the checked
  // resync after drift or a failed operation. Only valid if generation() has not moved since
  // the dump was asked for (otherwise operations applied meanwhile are missing from it).
  // Returns the previous model, for the caller to free off the loop.
  Table adopt(Table kernel);
  // Moves with every batch of operations sent, every re-read of the kernel, and every lend
  // and give-back (a dump begun before or during a plan cannot be compared with its model).
  std::uint64_t generation() const { return generation_; }
  // False when the model is known to be stale (a failed operation, a failed dump).
  bool synced() const { return synced_; }

  const std::set<ServiceKey>& owned() const { return owned_; }
  // What l4lbd believes is in the kernel (no traffic counters): the model apply() works from.
  const Table& model() const { return model_; }
  // The kernel's counters as of the last give_back() while lent (the borrower moves them).
  const KernelCounters& counters() const { return lent_ ? counters_ : kernel_->counters(); }
  const std::string& record_path() const { return record_path_; }
  Kernel& kernel() { return *kernel_; }  // not while lent

 private:
  std::unique_ptr<Kernel> kernel_;
  std::string record_path_;
  std::set<ServiceKey> owned_;
  bool owned_unsaved_ = false;  // owned_ differs from the file
  Table model_;
  bool synced_ = false;
  bool lent_ = false;
  KernelCounters counters_;  // a copy taken at lend(), read while lent
  std::uint64_t generation_ = 0;
};

// Records the services `ops` are about to create (reconcile()'s leading add-services) as
// owned: claimed before they are created, so a crash in between leaves at worst a stale claim
// (dropped at the next start), never an orphan.
void claim(const std::vector<OpRef>& ops, Lent& state);

// Applies one successful operation to a table (the model of the kernel). An added
// destination's node is moved from `donor` when it holds one with that key (the table the
// operation was planned from; its settings are the operation's), else made.
void apply_to(Table& t, const Operation& op, Table* donor = nullptr);

}  // namespace l4lb::ipvs

template <>
struct fmt::formatter<l4lb::ipvs::FailedOp> : fmt::formatter<std::string_view> {
  template <typename Ctx>
  auto format(const l4lb::ipvs::FailedOp& f, Ctx& ctx) const {
    return fmt::formatter<std::string_view>::format(f.to_string(), ctx);
  }
};
