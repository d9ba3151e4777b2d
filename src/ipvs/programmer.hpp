// Owns the Kernel and the ownership record; turns a desired table into the fewest kernel
// operations. apply() works from a model of the kernel (seeded by one dump at start and
// kept up to date with every applied operation), so an unchanged table costs no netlink
// traffic at all and one backend changing state costs exactly one message.
#pragma once

#include <fmt/format.h>

#include <memory>
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

class Programmer {
 public:
  // Reads <state_dir>/ipvs-owned.json and adopts the live kernel state (one dump).
  Programmer(std::unique_ptr<Kernel> kernel, std::string state_dir);

  ApplyResult apply(const Table& desired);
  // A fresh dump with counters, for status and metrics (the model if the dump fails).
  Table current();
  // Re-reads the kernel into the model (after someone else changed the tables).
  bool resync(std::string& error);
  // Takes a dump made elsewhere (ipvs::TableReader, off the loop) as the model: the checked
  // resync after drift or a failed operation. Only valid if generation() has not moved since
  // the dump was asked for (otherwise operations applied meanwhile are missing from it).
  // Returns the previous model, for the caller to free off the loop.
  Table adopt(Table kernel);
  // Moves with every batch of operations sent and every re-read of the kernel.
  std::uint64_t generation() const { return generation_; }
  // False when the model is known to be stale (a failed operation, a failed dump).
  bool synced() const { return synced_; }

  const std::set<ServiceKey>& owned() const { return owned_; }
  // What l4lbd believes is in the kernel (no traffic counters): the model apply() works from.
  const Table& model() const { return model_; }
  const KernelCounters& counters() const { return kernel_->counters(); }
  const std::string& record_path() const { return record_path_; }
  Kernel& kernel() { return *kernel_; }

 private:
  void run_batch(std::span<const Operation> ops, ApplyResult& result);
  void save_record(ApplyResult* result);

  std::unique_ptr<Kernel> kernel_;
  std::string record_path_;
  std::set<ServiceKey> owned_;
  std::set<ServiceKey> saved_owned_;  // what the file says
  Table model_;
  bool synced_ = false;
  std::uint64_t generation_ = 0;
};

// Applies one successful operation to a table (the model of the kernel).
void apply_to(Table& t, const Operation& op);

}  // namespace l4lb::ipvs

template <>
struct fmt::formatter<l4lb::ipvs::FailedOp> : fmt::formatter<std::string_view> {
  template <typename Ctx>
  auto format(const l4lb::ipvs::FailedOp& f, Ctx& ctx) const {
    return fmt::formatter<std::string_view>::format(f.to_string(), ctx);
  }
};
