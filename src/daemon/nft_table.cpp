// l4lbd's nftables table (src/nft/): rendered from the config at start and on reload, and
// checked every kNftCheckInterval so that a table someone deleted or edited is restored.
// libnftables talks netlink synchronously, a list and at most one transaction per call, about
// the size of the table: 60 ms at 1,000 SNAT rules, a second at 10,000 (docs/BENCHMARKS.md).
// Once the loop runs, that work runs on the `l4lb-nft` worker; the loop keeps a copy of the
// table's status, updated by each job's continuation. At start (before the loop runs) and at
// exit the table is written directly. The TableManager is shared by those two paths, hence
// its mutex (never contended in practice: start and exit have no job in flight, or wait for
// the one that is).
#include <chrono>

#include "common/log.hpp"
#include "daemon/daemon.hpp"

namespace l4lb::daemon {
namespace {

constexpr std::chrono::seconds kNftCheckInterval{10};

// What one apply did, as a log line (nothing when nothing happened).
void log_nft_outcome(const nft::TableStatus& before, const nft::TableStatus& after,
                     bool want_empty) {
  const std::string rules =
      fmt::format("{} SNAT rules, {} mark rules", after.snat_rules, after.mark_rules);
  if (after.repairs != before.repairs)
    log::warning("nft: table inet l4lb was changed or deleted outside l4lbd; restored ({})", rules);
  else if (after.applies != before.applies)
    log::notice("nft: table inet l4lb {} ({})",
                want_empty ? "deleted (no longer needed)" : "written", rules);
  else if (after.adoptions != before.adoptions)
    log::notice("nft: table inet l4lb adopted as found ({})", rules);
}

}  // namespace

bool Daemon::open_nft(const nft::Ruleset& want, std::optional<std::string>& error) {
  if (nft_) return true;
  std::string e;
  auto backend = nft::Nftables::open(e);
  if (!backend) {
    // Without nf_tables a config that needs no table is fine; one that needs it is refused.
    if (!want.empty()) error = e;
    return false;
  }
  nft_ = std::make_shared<NftTable>();
  nft_->manager = std::make_unique<nft::TableManager>(std::move(backend));
  schedule_nft_check();
  return true;
}

std::optional<std::string> Daemon::apply_nft_now(const config::Config& next,
                                                 nft::TableManager::Why why) {
  const nft::Ruleset want = nft::render(next);
  std::optional<std::string> error;
  if (!open_nft(want, error)) return error;
  std::lock_guard<PiMutex> lock(nft_->mutex);
  const auto before = nft_->manager->status();
  auto e = nft_->manager->apply(want, why);
  nft_status_ = nft_->manager->status();
  if (!e) log_nft_outcome(before, nft_status_, want.empty());
  return e;
}

void Daemon::apply_nft(std::shared_ptr<const config::Config> next, nft::TableManager::Why why,
                       std::function<void(std::optional<std::string>)> done) {
  {
    // Opening is a socket probe and a libnftables context: cheap, and once.
    std::optional<std::string> error;
    if (!nft_ && !open_nft(nft::render(*next), error)) return done(error);
  }
  const bool write = why != nft::TableManager::Why::check;
  if (write) ++nft_writes_in_flight_;
  nft_worker_.post([this, table = nft_, next = std::move(next), why, write,
                    done = std::move(done)]() mutable -> Worker::Continuation {
    const nft::Ruleset want = nft::render(*next);
    std::lock_guard<PiMutex> lock(table->mutex);
    const auto before = table->manager->status();
    auto e = table->manager->apply(want, why);
    auto after = table->manager->status();
    return [this, e = std::move(e), before, after = std::move(after), empty = want.empty(), write,
            done = std::move(done)] {
      if (write) --nft_writes_in_flight_;
      nft_status_ = after;
      if (!e) log_nft_outcome(before, after, empty);
      done(e);
    };
  });
}

void Daemon::schedule_nft_check() {
  nft_timer_.expires_after(kNftCheckInterval);
  nft_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopping_) return;
    // Only while the config wants a table, or one is left to delete. Not while a reload's
    // table is being written: config_ is still the previous config until that reload commits
    // (or is refused), and a check posted now would run after the write and put the previous
    // table back (seen in the kernel lab: a reload moving SNAT undone 10 ms later).
    if ((!nft_status_.wanted && !nft_status_.present) || nft_writes_in_flight_ > 0)
      return schedule_nft_check();
    apply_nft(config_, nft::TableManager::Why::check, [this](std::optional<std::string> e) {
      if (e) log::err("nft: {}", *e);
      if (!stopping_) schedule_nft_check();
    });
  });
}

void Daemon::remove_nft_table() {
  if (!nft_) return;
  std::lock_guard<PiMutex> lock(nft_->mutex);
  if (nft_->manager->status().present && !nft_->manager->apply(nft::Ruleset{}))
    log::notice("nft table inet l4lb removed on exit (remove_services_on_exit)");
}

nlohmann::json Daemon::nft_status() const {
  using nlohmann::json;
  if (!nft_) return nullptr;
  const auto& s = nft_status_;
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
