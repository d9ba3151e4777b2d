#include "nft/table_manager.hpp"

#include <fmt/format.h>

namespace l4lb::nft {

bool TableManager::matches(const Ruleset& want, const Listing& live) const {
  if (decide(want, live.present, live.text) == Action::none) return true;
  return live.present && !want.empty() && want.text == applied_text_ &&
         normalise(live.text) == normalise(applied_listing_);
}

std::optional<std::string> TableManager::apply(const Ruleset& want, Why why) {
  want_ = want;
  status_.wanted = !want.empty();
  status_.snat_rules = want.snat_rules;
  status_.mark_rules = want.mark_rules;
  auto fail = [&](std::string e) {
    ++status_.apply_errors;
    status_.error = e;
    return std::optional<std::string>(std::move(e));
  };
  Listing live = backend_->list();
  if (!live.error.empty()) {
    // A kernel without nf_tables cannot hold our table either: only an error if we want one.
    status_.present = false;
    status_.in_sync = want.empty();
    if (want.empty()) return std::nullopt;
    return fail("reading table inet l4lb: " + live.error);
  }
  if (live.present && !owned(live.text) && !(applied_once_ && status_.present)) {
    // Someone else's table under our name (a restart never saw it made by l4lbd): reported,
    // never touched, as with IPVS services someone else created.
    status_.present = true;
    status_.in_sync = false;
    return fail(
        fmt::format("table inet l4lb exists but was not created by l4lbd (no comment "
                    "\"{}\"); left alone",
                    kComment));
  }
  if (matches(want, live)) {
    if (!applied_once_ && live.present) ++status_.adoptions;  // a restart: left as it is
    applied_once_ = true;
    status_.present = live.present;
    status_.in_sync = true;
    status_.error.clear();
    return std::nullopt;
  }
  if (auto e = backend_->run(transaction(want))) {
    status_.present = live.present;
    status_.in_sync = false;
    return fail((want.empty() ? "deleting" : "writing") + std::string(" table inet l4lb: ") + *e);
  }
  ++status_.applies;
  if (why == Why::check && applied_once_) ++status_.repairs;
  applied_once_ = true;
  Listing after = backend_->list();
  applied_text_ = want.text;
  applied_listing_ = after.text;
  status_.present = after.present;
  status_.in_sync = after.error.empty() && after.present == !want.empty();
  status_.error.clear();
  return std::nullopt;
}

}  // namespace l4lb::nft
