// Keeps the kernel's `inet l4lb` table equal to the rendered ruleset: created when the config
// first asks for it, adopted untouched after a restart when it already matches, replaced in
// one transaction when it differs (reload, or someone changed or deleted it: drift), deleted
// when the config no longer needs it. A failed transaction changes nothing in the kernel
// (nftables commits all or nothing) and nothing here but the error and its counter.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "nft/nftables.hpp"
#include "nft/ruleset.hpp"

namespace l4lb::nft {

struct TableStatus {
  bool wanted = false;   // the config asks for a table
  bool present = false;  // the kernel has it (as of the last apply or check)
  bool in_sync = false;  // and it is the wanted one
  std::size_t snat_rules = 0, mark_rules = 0;
  std::string error;  // the last failure; empty after a success
  std::uint64_t applies = 0, apply_errors = 0, repairs = 0, adoptions = 0;
};

class TableManager {
 public:
  explicit TableManager(std::unique_ptr<Backend> backend) : backend_(std::move(backend)) {}

  enum class Why { config, check };
  // Brings the kernel to `want`. `why` = check: a change found is drift (counted as a repair).
  // Nothing on success (including "nothing to do"); else the error (also kept in status()).
  std::optional<std::string> apply(const Ruleset& want, Why why = Why::config);
  const TableStatus& status() const { return status_; }
  const Ruleset& wanted() const { return want_; }

 private:
  bool matches(const Ruleset& want, const Listing& live) const;

  std::unique_ptr<Backend> backend_;
  Ruleset want_;
  bool applied_once_ = false;
  // What the kernel printed right after our last successful apply of `applied_text_`: if nft
  // ever prints a rule differently than rendered, drift checks compare with this instead of
  // replacing the table over and over.
  std::string applied_text_, applied_listing_;
  TableStatus status_;
};

}  // namespace l4lb::nft
