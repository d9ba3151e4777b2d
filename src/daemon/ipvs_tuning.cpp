// The namespace-wide IPVS settings of the `ipvs:` config section, kept apart from the
// per-service programming (Programmer / reconcile_ipvs): they are applied at start and on
// reload only, and only when configured, because the kernel's IPVS is shared with others.
#include "common/log.hpp"
#include "daemon/daemon.hpp"

namespace l4lb::daemon {
namespace {

const std::string kSysctlDir(ipvs::kSysctlDir);

nlohmann::json to_json(const ipvs::TuningState& st, const config::Ipvs& want) {
  using nlohmann::json;
  json timeouts = nullptr;
  if (st.timeouts_configured) {
    auto opt = [](const std::optional<std::uint32_t>& v) { return v ? json(*v) : json(); };
    timeouts = {{"configured",
                 {{"tcp", opt(want.timeouts.tcp)},
                  {"tcpfin", opt(want.timeouts.tcpfin)},
                  {"udp", opt(want.timeouts.udp)}}},
                {"kernel", st.timeouts ? json{{"tcp", st.timeouts->tcp},
                                              {"tcpfin", st.timeouts->tcpfin},
                                              {"udp", st.timeouts->udp}}
                                       : json()},
                {"error", st.timeouts_error.empty() ? json() : json(st.timeouts_error)}};
  }
  json sysctls = json::array();
  for (const auto& c : st.sysctls)
    sysctls.push_back({{"name", c.name},
                       {"configured", c.configured},
                       {"value", c.value ? json(*c.value) : json()},
                       {"error", c.error.empty() ? json() : json(c.error)}});
  return {{"timeouts", timeouts}, {"sysctls", sysctls}};
}

}  // namespace

void Daemon::apply_ipvs_tuning(const config::Config& cfg) {
  // `snat:` adds conntrack=1 to what `ipvs:` asks for.
  const config::Ipvs want = ipvs::effective_ipvs(cfg);
  if (want.timeouts.empty() && want.sysctls.empty()) return;
  if (!want.timeouts.empty() && !tuning_kernel_) {
    // Retried on every reload: the module may be loaded later.
    tuning_kernel_ = ipvs::open_netlink_kernel(tuning_kernel_error_);
    if (tuning_kernel_) tuning_kernel_error_.clear();
  }
  // A netlink round trip and a few small /proc writes: short enough for the loop.
  const auto st = ipvs::apply_tuning(want, tuning_kernel_.get(), tuning_kernel_error_, kSysctlDir);
  if (!st.timeouts_error.empty()) log::err("ipvs timeouts: {}", st.timeouts_error);
  for (const auto& c : st.sysctls)
    if (!c.error.empty()) log::err("ipvs sysctl {}: {}", c.name, c.error);
  log::notice("ipvs tuning: {}", ipvs::describe(st));
}

nlohmann::json Daemon::ipvs_tuning_status() const {
  // Read back now, not remembered from the last apply: someone else may have changed them.
  const config::Ipvs want = ipvs::effective_ipvs(*config_);
  const auto st = ipvs::read_tuning(want, tuning_kernel_.get(), tuning_kernel_error_, kSysctlDir);
  return to_json(st, want);
}

}  // namespace l4lb::daemon
