// The thin adapter between l4lbd's table (ruleset.hpp) and the kernel: libnftables, which
// speaks nf_tables netlink and parses/prints the same language as the `nft` command. It only
// ever names l4lbd's own table (`inet l4lb`); other tables are never listed or changed.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "nft/ruleset.hpp"

struct nft_ctx;

namespace l4lb::nft {

struct Listing {
  bool present = false;
  std::string text;   // `nft list table inet l4lb`, when present
  std::string error;  // empty: read
};

// What the table manager needs from the kernel; Nftables is the real one, tests use a fake.
class Backend {
 public:
  virtual ~Backend() = default;
  // Runs an nft script as one transaction; nothing on success, else the error message.
  virtual std::optional<std::string> run(const std::string& script) = 0;
  // l4lbd's table as the kernel holds it.
  virtual Listing list() = 0;
};

class Nftables final : public Backend {
 public:
  // Nothing (and `error`) when libnftables cannot make a context.
  static std::unique_ptr<Nftables> open(std::string& error);
  ~Nftables();
  Nftables(const Nftables&) = delete;
  Nftables& operator=(const Nftables&) = delete;

  // Runs an nft script as one transaction; nothing on success, else libnftables' message
  // (what the kernel or the parser refused, with the offending line).
  std::optional<std::string> run(const std::string& script) override;
  Listing list() override;

 private:
  explicit Nftables(nft_ctx* ctx) : ctx_(ctx) {}
  nft_ctx* ctx_;
};

}  // namespace l4lb::nft
