// l4lbd's core: owns every component on one io_context and wires them together.
//   config ──► vrrp::Runtime           (VIP ownership)
//         ──► health::Monitor ──► quorum ──► vrrp priority
//                             ──► ipvs::desired_table ──► ipvs::Programmer (netlink)
// Reload is a transaction: load + validate the whole file first; on any error nothing is touched.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>

#include "config/config.hpp"
#include "daemon/control_server.hpp"
#include "daemon/drains.hpp"
#include "daemon/metrics_server.hpp"
#include "daemon/notify_runner.hpp"
#include "daemon/systemd.hpp"
#include "health/monitor.hpp"
#include "ipvs/desired.hpp"
#include "ipvs/programmer.hpp"
#include "ipvs/sliced_programmer.hpp"
#include "ipvs/table_reader.hpp"
#include "vrrp/runtime.hpp"

namespace l4lb::daemon {

class Daemon {
 public:
  Daemon(boost::asio::io_context& io, std::string config_path);
  ~Daemon();

  // Loads the config and starts everything. Returns false (after logging every error) if the
  // daemon cannot start; the caller then exits non-zero.
  bool start();

  // The reload transaction. Returns {ok, errors[], warnings[], changes[]}.
  nlohmann::json reload();
  // The status document (docs/STATUS.md). The kernel's table (traffic counters) is read off
  // the loop when the reader is available; `done` runs on the loop.
  void status(std::function<void(nlohmann::json)> done);

 private:
  void handle(const nlohmann::json& request, ControlServer::Reply reply);
  nlohmann::json status_document(const ipvs::Table& kernel);
  nlohmann::json drain(const nlohmann::json& request, bool add);
  void apply(const config::Config& next);
  void reconcile_ipvs();
  void ipvs_applied(const ipvs::ApplyResult& result);
  void update_quorum();
  void on_health_change(const health::BackendKey& key, health::Status status);
  void on_vrrp_transition(const std::string& instance, net::Family family, vrrp::State from,
                          vrrp::State to);
  int healthy_backends(const config::Service& service) const;
  void wait_signals();
  void shutdown();

  boost::asio::io_context& io_;
  std::string config_path_;
  config::Config config_;
  boost::asio::signal_set signals_;
  Systemd systemd_;
  NotifyRunner notify_;
  Drains drains_;
  std::unique_ptr<vrrp::Runtime> vrrp_;
  std::unique_ptr<health::Monitor> health_;
  std::unique_ptr<ipvs::Programmer> ipvs_;
  // Plans off the loop and sends in slices (declared after ipvs_: it goes first).
  std::unique_ptr<ipvs::SlicedProgrammer> ipvs_sliced_;
  ipvs::Services ipvs_services_;  // the config generation being programmed (immutable)
  std::unique_ptr<ipvs::TableReader> table_reader_;  // null: status reads on the loop
  std::optional<std::string> ipvs_error_;            // why IPVS could not be opened (reported once)
  std::uint64_t ipvs_operations_ = 0;
  std::uint64_t ipvs_operation_errors_ = 0;
  std::vector<std::string> ipvs_conflicts_;
  std::map<std::string, bool> below_quorum_;  // per service
  ControlServer control_;
  MetricsServer metrics_;
  bool metrics_listening_ = false;

  double started_at_ = 0;
  std::uint64_t generation_ = 0;
  std::uint64_t reloads_ok_ = 0;
  std::uint64_t reloads_failed_ = 0;
  nlohmann::json last_reload_;
  bool stopping_ = false;
};

}  // namespace l4lb::daemon
