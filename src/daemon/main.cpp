// l4lbd: runs in the foreground under systemd (Type=notify); no forking, no pid file.
//   l4lbd -c /etc/l4lb.yaml            run
//   l4lbd --check-config -c FILE       validate and exit (0 valid, 1 invalid)
#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <iostream>

#include "common/log.hpp"
#include "config/loader.hpp"
#include "daemon/allocator.hpp"
#include "daemon/daemon.hpp"

int main(int argc, char** argv) {
  using namespace l4lb;
  CLI::App app{"l4lbd: high-availability Layer-4 load balancer (VRRPv3 + IPVS + health checks)"};
  std::string config_path = "/etc/l4lb.yaml";
  bool check_only = false;
  bool version = false;
  std::string level = "info";
  app.add_option("-c,--config", config_path, "config file")->capture_default_str();
  app.add_flag("--check-config", check_only, "validate the config file and exit");
  app.add_flag("-V,--version", version, "print the version and exit");
  int netlink_rcvbuf = l4lb::vrrp::Netlink::kDefaultEventBuffer;
  app.add_option("--netlink-rcvbuf", netlink_rcvbuf,
                 "receive buffer of the rtnetlink event socket, bytes (a larger burst of "
                 "link/address events is lost and answered with a full re-read)")
      ->check(CLI::Range(1024, 1 << 30))
      ->capture_default_str();
  int ipvs_rcvbuf = 0;
  app.add_option("--ipvs-rcvbuf", ipvs_rcvbuf,
                 "testing: receive buffer of the IPVS netlink socket, bytes (0: 16 MiB); a "
                 "tiny one loses answers (ENOBUFS), which l4lbd answers with a checked resync")
      ->check(CLI::Range(0, 1 << 30))
      ->group("");
  app.add_option("--log-level", level, "err, warning, notice, info or debug")
      ->check(CLI::IsMember({"err", "warning", "notice", "info", "debug"}))
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  if (version) {
    std::cout << "l4lbd " << L4LB_VERSION << "\n";
    return 0;
  }
  if (check_only) {
    auto result = config::load_file(config_path);
    for (const auto& d : result.diagnostics) std::cerr << d.to_string() << "\n";
    if (!result.ok()) {
      std::cerr << result.error_count() << " error(s) in " << config_path << "\n";
      return 1;
    }
    std::cout << config_path << ": " << config::summary(*result.config) << "\n";
    return 0;
  }

  const std::pair<const char*, log::Level> levels[] = {{"err", log::Level::err},
                                                       {"warning", log::Level::warning},
                                                       {"notice", log::Level::notice},
                                                       {"info", log::Level::info},
                                                       {"debug", log::Level::debug}};
  for (const auto& [name, l] : levels)
    if (level == name) log::set_max_level(l);

  if (const char* e = daemon::tune_allocator()) log::warning("allocator: {}", e);
  log::info("allocator: {}", daemon::allocator_name());

  // Absolute, so logs and status say which file, and a reload reads the same one.
  std::error_code ec;
  if (auto abs = std::filesystem::absolute(config_path, ec); !ec) config_path = abs.string();

  boost::asio::io_context io(1);
  daemon::Daemon d(io, config_path);
  d.set_netlink_event_buffer(netlink_rcvbuf);
  d.set_ipvs_rcvbuf(ipvs_rcvbuf);
  if (!d.start()) return 1;
  io.run();
  return 0;
}
