// l4lbd's nftables table (src/nft/): rendered from the config at start and on reload, and
// checked every kNftCheckInterval so that a table someone deleted or edited is restored.
// libnftables talks netlink synchronously: a list and at most one transaction per call, about
// the size of the table (one rule per SNAT service and port run), on the loop like the IPVS
// tuning writes. Measured in docs/BENCHMARKS.md.
#include <chrono>

#include "common/log.hpp"
#include "daemon/daemon.hpp"

namespace l4lb::daemon {
namespace {

constexpr std::chrono::seconds kNftCheckInterval{10};

}  // namespace

std::optional<std::string> Daemon::apply_nft(const config::Config& next,
                                             nft::TableManager::Why why) {
  const nft::Ruleset want = nft::render(next);
  if (!nft_) {
    std::string error;
    auto backend = nft::Nftables::open(error);
    if (!backend) return want.empty() ? std::nullopt : std::optional<std::string>(error);
    nft_ = std::make_unique<nft::TableManager>(std::move(backend));
    schedule_nft_check();
  }
  const auto before = nft_->status();
  auto e = nft_->apply(want, why);
  const auto& after = nft_->status();
  if (e) return e;
  const std::string rules =
      fmt::format("{} SNAT rules, {} mark rules", after.snat_rules, after.mark_rules);
  if (after.repairs != before.repairs)
    log::warning("nft: table inet l4lb was changed or deleted outside l4lbd; restored ({})", rules);
  else if (after.applies != before.applies)
    log::notice("nft: table inet l4lb {} ({})",
                want.empty() ? "deleted (no longer needed)" : "written", rules);
  else if (after.adoptions != before.adoptions)
    log::notice("nft: table inet l4lb adopted as found ({})", rules);
  return std::nullopt;
}

void Daemon::schedule_nft_check() {
  nft_timer_.expires_after(kNftCheckInterval);
  nft_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopping_) return;
    // Only while the config wants a table, or one is left to delete.
    if (nft_->status().wanted || nft_->status().present)
      if (auto e = apply_nft(config_, nft::TableManager::Why::check)) log::err("nft: {}", *e);
    schedule_nft_check();
  });
}

nlohmann::json Daemon::nft_status() const {
  using nlohmann::json;
  if (!nft_) return nullptr;
  const auto& s = nft_->status();
  return {{"table", fmt::format("{} {}", nft::kFamily, nft::kName)},
          {"wanted", s.wanted},
          {"present", s.present},
          {"in_sync", s.in_sync},
          {"snat_rules", s.snat_rules},
          {"mark_rules", s.mark_rules},
          {"error", s.error.empty() ? json() : json(s.error)},
          {"applies_total", s.applies},
          {"apply_errors_total", s.apply_errors},
          {"repairs_total", s.repairs},
          {"adoptions_total", s.adoptions}};
}

}  // namespace l4lb::daemon
