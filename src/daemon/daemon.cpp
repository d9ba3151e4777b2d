#include "daemon/daemon.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <string_view>
#include <unordered_set>

#include "common/log.hpp"
#include "config/diff.hpp"
#include "config/loader.hpp"
#include "daemon/metrics.hpp"

namespace l4lb::daemon {
namespace {

double now_unix() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::optional<std::string> make_dir(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) return "cannot create " + path + ": " + ec.message();
  return std::nullopt;
}

}  // namespace

Daemon::Daemon(boost::asio::io_context& io, std::string config_path)
    : io_(io),
      config_path_(std::move(config_path)),
      signals_(io),
      systemd_(io),
      notify_(io),
      control_(io, [this](const nlohmann::json& r,
                          ControlServer::Reply reply) { handle(r, std::move(reply)); }),
      metrics_(io, [this](std::function<void(std::string)> done) {
        status([done = std::move(done)](nlohmann::json doc) { done(render_metrics(doc)); });
      }) {}

Daemon::~Daemon() = default;

bool Daemon::start() {
  started_at_ = now_unix();
  const auto t0 = std::chrono::steady_clock::now();
  const auto ms_since = [](std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
  };
  auto loaded = config::load_file(config_path_);
  log::info("start: config loaded in {:.0f} ms", ms_since(t0));
  for (const auto& d : loaded.diagnostics)
    (d.severity == config::Severity::error ? log::err("{}", d.to_string())
                                           : log::warning("{}", d.to_string()));
  if (!loaded.ok()) {
    log::err("config={} rejected with {} error(s); not starting", config_path_,
             loaded.error_count());
    return false;
  }
  const config::Config& cfg = *loaded.config;
  if (auto e = make_dir(cfg.state_dir)) {
    log::err("{}", *e);
    return false;
  }
  if (auto e = make_dir(std::filesystem::path(cfg.control.socket).parent_path().string())) {
    log::err("{}", *e);
    return false;
  }
  if (auto e = drains_.load(cfg.state_dir)) log::warning("drains ignored: {}", *e);
  if (auto e = control_.listen(cfg.control.socket, cfg.control.group)) {
    log::err("{}", *e);
    return false;
  }
  if (cfg.metrics.listen) {
    if (auto e = metrics_.listen(*cfg.metrics.listen)) {
      log::err("{}", *e);
      return false;
    }
    metrics_listening_ = true;
  }

  vrrp_ = std::make_unique<vrrp::Runtime>(
      io_, vrrp::Hooks{[this](const std::string& i, net::Family f, vrrp::State from,
                              vrrp::State to) { on_vrrp_transition(i, f, from, to); }});
  vrrp_->set_state_dir(cfg.state_dir);
  health_ = std::make_unique<health::Monitor>(
      io_, [this](const health::BackendKey& k, health::Status s) { on_health_change(k, s); });

  config_ = cfg;
  generation_ = 1;
  const auto t1 = std::chrono::steady_clock::now();
  apply(cfg);
  log::info("start: applied in {:.0f} ms (IPVS is planned and sent after this)", ms_since(t1));
  wait_signals();
  systemd_.start_watchdog();
  const std::string summary = config::summary(cfg);
  log::notice("l4lbd started node={} config={} {}", cfg.node_name, config_path_, summary);
  systemd_.ready(summary);
  return true;
}

void Daemon::apply(const config::Config& next) {
  // Order matters: VRRP first (instances and their tracked services), then health checks (new
  // backends start as unknown), then the kernel table computed from both, then quorum.
  vrrp_->apply(next.vrrp);
  health_->apply(next.services);
  if (!next.services.empty() && !ipvs_ && !ipvs_error_) {
    std::string error;
    auto kernel = ipvs::open_netlink_kernel(error);
    if (kernel) {
      ipvs_ = std::make_unique<ipvs::Programmer>(std::move(kernel), next.state_dir);
      ipvs_sliced_ = std::make_unique<ipvs::SlicedProgrammer>(
          io_, *ipvs_, [this](const ipvs::ApplyResult& r) { ipvs_applied(r); });
      // IPVS opened on a reload: the checks may already have results that the planner
      // has not seen (at start there are none yet).
      if (health_->stats().probes_finished > 0) {
        for (const auto& [key, h] : health_->snapshot())
          if (h.status != health::Status::unknown)
            ipvs_sliced_->note(ipvs::HealthChange{
                key.service, key.address,
                h.status == health::Status::up ? ipvs::Health::up : ipvs::Health::down});
      }
      // A second socket for status dumps, read by a thread of their own.
      if (auto reader_kernel = ipvs::open_netlink_kernel(error))
        table_reader_ = std::make_unique<ipvs::TableReader>(io_, std::move(reader_kernel));
      else
        log::warning("ipvs: no second netlink socket for status ({}); status reads on the loop",
                     error);
    } else {
      ipvs_error_ = error;
      log::err("ipvs unavailable: {}; services are not programmed (VRRP continues)", error);
    }
  }
  if (ipvs_sliced_) {
    // The planner's immutable copy of this generation (the one copy of the services it makes).
    ipvs_services_ = std::make_shared<const std::vector<config::Service>>(next.services);
    ipvs_sliced_->note(ipvs::ConfigChange{ipvs_services_});
  }
  {
    // One set of names, not a scan of every service per entry: that was 10^8 string
    // comparisons for a reload at 10,000 services.
    std::unordered_set<std::string_view> names;
    names.reserve(next.services.size());
    for (const auto& s : next.services) names.insert(s.name);
    for (auto it = below_quorum_.begin(); it != below_quorum_.end();)
      it = names.count(it->first) ? std::next(it) : below_quorum_.erase(it);
  }
  reconcile_ipvs();
  update_quorum();
}

nlohmann::json Daemon::reload() {
  systemd_.reloading("reloading " + config_path_);
  nlohmann::json result = {{"ok", false},
                           {"errors", nlohmann::json::array()},
                           {"warnings", nlohmann::json::array()},
                           {"changes", nlohmann::json::array()}};
  auto loaded = config::load_file(config_path_);
  for (const auto& d : loaded.diagnostics) {
    if (d.severity == config::Severity::error) {
      log::err("reload {}", d.to_string());
      result["errors"].push_back(d.to_string());
    } else {
      log::warning("reload {}", d.to_string());
      result["warnings"].push_back(d.to_string());
    }
  }
  if (loaded.ok() && (loaded.config->state_dir != config_.state_dir ||
                      loaded.config->control.socket != config_.control.socket ||
                      loaded.config->metrics.listen != config_.metrics.listen)) {
    // These are bound at start; changing them on the fly would orphan the ownership record or
    // the socket operators use. Refuse rather than half-apply.
    result["errors"].push_back(config_path_ +
                               ": error: state_dir, control.socket and metrics.listen take effect "
                               "only on restart (systemctl restart l4lbd)");
    loaded.config.reset();
  }
  if (!loaded.config) {
    ++reloads_failed_;
    result["error"] = "invalid config";
    last_reload_ = {{"ok", false}, {"time", now_unix()}, {"errors", result["errors"]}};
    log::err("reload rejected config={} errors={}: running configuration unchanged", config_path_,
             result["errors"].size());
    systemd_.ready("reload rejected; running previous configuration");
    return result;
  }
  auto changes = config::diff(config_, *loaded.config);
  for (const auto& line : changes.describe()) {
    log::notice("reload change: {}", line);
    result["changes"].push_back(line);
  }
  // IPVS that could not be opened before (module not loaded yet) is retried on every reload.
  const bool retry_ipvs = !ipvs_ && ipvs_error_.has_value();
  if (retry_ipvs) ipvs_error_.reset();
  if (!changes.empty()) {
    config_ = *loaded.config;
    ++generation_;
    apply(config_);
  } else if (retry_ipvs) {
    apply(config_);
  }
  ++reloads_ok_;
  result["ok"] = true;
  last_reload_ = {{"ok", true}, {"time", now_unix()}, {"changes", result["changes"]}};
  log::notice("reload applied config={} generation={} changes={}", config_path_, generation_,
              result["changes"].size());
  systemd_.ready(config::summary(config_));
  return result;
}

int Daemon::healthy_backends(const config::Service& service) const {
  int healthy = 0;
  for (const auto& b : service.backends) {
    if (drains_.is_drained(service.name, b.address)) continue;
    if (service.health.type == config::HealthType::none) {
      ++healthy;
      continue;
    }
    auto h = health_->get(health::BackendKey{service.name, b.address});
    if (h && h->status == health::Status::up) ++healthy;
  }
  return healthy;
}

void Daemon::reconcile_ipvs() {
  if (!ipvs_sliced_) return;
  // The planner runs on its own thread: it gets its own copy of the drains (a small set).
  ipvs_sliced_->request(ipvs_services_,
                        [drains = drains_](const std::string& s, const net::Address& a) {
                          return drains.is_drained(s, a);
                        });
}

void Daemon::ipvs_applied(const ipvs::ApplyResult& result) {
  ipvs_operations_ += result.issued;
  ipvs_operation_errors_ += result.failed.size();
  for (const auto& f : result.failed) log::err("ipvs operation failed: {}", f);
  for (const auto& s : result.skipped) log::err("ipvs operation skipped: {}", s);
  if (!result.error.empty()) log::err("ipvs: {}", result.error);
  if (result.issued > 0)
    log::info("ipvs applied={}/{} kernel_ms={:.1f}", result.applied, result.issued,
              result.kernel_seconds * 1000);
  ipvs_conflicts_ = result.conflicts;
  for (const auto& c : result.conflicts) log::warning("ipvs conflict: {}", c);
}

void Daemon::update_quorum() {
  for (const auto& s : config_.services) {
    const int healthy = healthy_backends(s);
    const bool below = healthy < s.quorum;
    auto [it, inserted] = below_quorum_.emplace(s.name, below);
    if (!inserted && it->second == below) continue;
    it->second = below;
    if (below || !inserted)
      log::notice("service={} quorum={} healthy={} {}", s.name, s.quorum, healthy,
                  below ? "BELOW QUORUM" : "quorum restored");
    vrrp_->set_service_below_quorum(s.name, below);
  }
}

void Daemon::on_health_change(const health::BackendKey& key, health::Status status) {
  if (ipvs_sliced_)  // from now on the check decides (an adopted backend stops being one)
    ipvs_sliced_->note(ipvs::HealthChange{key.service, key.address,
                                          status == health::Status::up ? ipvs::Health::up
                                          : status == health::Status::down
                                              ? ipvs::Health::down
                                              : ipvs::Health::unknown});
  log::notice("health service={} backend={} status={}", key.service, key.address.to_string(),
              status == health::Status::up     ? "up"
              : status == health::Status::down ? "down"
                                               : "unknown");
  reconcile_ipvs();
  update_quorum();
}

void Daemon::on_vrrp_transition(const std::string& instance, net::Family family, vrrp::State from,
                                vrrp::State to) {
  // The VRRP runtime logs the transition itself; here it only drives notify scripts.
  for (const auto& i : config_.vrrp) {
    if (i.name != instance || !i.notify) continue;
    // keepalived's argument convention, so existing notify scripts keep working.
    notify_.run({*i.notify, "INSTANCE", instance, std::string(vrrp::to_string(to)),
                 std::to_string(i.priority)},
                {"L4LB_INSTANCE=" + instance, "L4LB_STATE=" + std::string(vrrp::to_string(to)),
                 "L4LB_FROM_STATE=" + std::string(vrrp::to_string(from)),
                 "L4LB_FAMILY=" + std::string(net::family_name(family))},
                i.notify_timeout);
  }
}

void Daemon::handle(const nlohmann::json& request, ControlServer::Reply reply) {
  const std::string command = request.value("command", std::string());
  if (command == "status")
    return status([reply = std::move(reply)](nlohmann::json doc) {
      reply({{"ok", true}, {"status", std::move(doc)}});
    });
  if (command == "reload") return reply(reload());
  if (command == "drain") return reply(drain(request, true));
  if (command == "undrain") return reply(drain(request, false));
  reply({{"ok", false}, {"error", "unknown command '" + command + "'"}});
}

nlohmann::json Daemon::drain(const nlohmann::json& request, bool add) {
  const std::string text = request.value("backend", std::string());
  const std::string service = request.value("service", std::string());
  auto address = net::Address::parse(text);
  if (!address) return {{"ok", false}, {"error", "'" + text + "' is not an IP address"}};
  bool known = false;
  for (const auto& s : config_.services) {
    if (!service.empty() && s.name != service) continue;
    for (const auto& b : s.backends) known |= b.address == *address;
  }
  if (!service.empty()) {
    bool service_known = false;
    for (const auto& s : config_.services) service_known |= s.name == service;
    if (!service_known) return {{"ok", false}, {"error", "no service named '" + service + "'"}};
  }
  if (add && !known)
    return {{"ok", false},
            {"error", "backend " + text + " is not in " +
                          (service.empty() ? std::string("any service") : "service " + service)}};
  const bool changed = add ? drains_.add(*address, service) : drains_.remove(*address, service);
  if (!changed)
    return {{"ok", false},
            {"error", "backend " + text + (add ? " is already drained" : " is not drained") +
                          (service.empty() ? std::string() : " in service " + service)}};
  if (auto e = drains_.save(config_.state_dir)) log::warning("drains not saved: {}", *e);
  log::notice("{} backend={} service={}", add ? "drain" : "undrain", text,
              service.empty() ? "*" : service);
  reconcile_ipvs();
  update_quorum();
  return {{"ok", true},
          {"message", std::string(add ? "drained " : "undrained ") + text +
                          (service.empty() ? " in every service" : " in service " + service)}};
}

void Daemon::wait_signals() {
  signals_.add(SIGHUP);
  signals_.add(SIGTERM);
  signals_.add(SIGINT);
  signals_.async_wait([this](const boost::system::error_code& ec, int signo) {
    if (ec) return;
    if (signo == SIGHUP) {
      log::notice("SIGHUP: reloading config={}", config_path_);
      reload();
      wait_signals();
    } else {
      log::notice("signal {}: shutting down", signo == SIGTERM ? "SIGTERM" : "SIGINT");
      shutdown();
    }
  });
}

void Daemon::shutdown() {
  if (stopping_) return;
  stopping_ = true;
  systemd_.stopping("stopping: handing VIPs over");
  control_.close();
  metrics_.close();
  health_->shutdown();
  // IPVS services are left in place (a restart adopts them) unless asked otherwise.
  if (ipvs_ && config_.remove_services_on_exit) {
    if (ipvs_sliced_) ipvs_sliced_->finish();  // the plan in flight holds the model
    ipvs_->apply(ipvs::Table{});
    log::notice("ipvs services removed on exit (remove_services_on_exit)");
  }
  vrrp_->shutdown([this] {
    log::notice("l4lbd stopped");
    signals_.cancel();
    io_.stop();
  });
}

}  // namespace l4lb::daemon
