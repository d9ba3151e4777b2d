// Test-only executable: runs vrrp::Runtime from a config file, without the rest of the
// daemon, for netns experiments while l4lbd is not buildable. Not installed.
//   vrrp_driver CONFIG [STATUS_JSON]   SIGTERM: graceful shutdown; SIGHUP: reload.
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "common/log.hpp"
#include "config/loader.hpp"
#include "vrrp/runtime.hpp"

using namespace l4lb;

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: vrrp_driver CONFIG [STATUS_JSON]\n");
    return 2;
  }
  log::set_max_level(log::Level::debug);
  auto loaded = config::load_file(argv[1]);
  for (const auto& d : loaded.diagnostics) std::fprintf(stderr, "%s\n", d.to_string().c_str());
  if (!loaded.ok()) return 1;
  boost::asio::io_context io;
  vrrp::Runtime rt(io, {});
  std::error_code ec;
  std::filesystem::create_directories(loaded.config->state_dir, ec);
  rt.set_state_dir(loaded.config->state_dir);
  rt.apply(loaded.config->vrrp);
  std::string status_path = argc > 2 ? argv[2] : "";
  boost::asio::steady_timer t(io);
  std::function<void()> tick = [&] {
    if (!status_path.empty()) {
      nlohmann::json doc = nlohmann::json::array();
      for (const auto& s : rt.status()) {
        nlohmann::json drops = nlohmann::json::object();
        for (const auto& [r, n] : s.drops) drops[r] = n;
        doc.push_back({{"name", s.name},
                       {"family", std::string(net::family_name(s.family))},
                       {"state", std::string(vrrp::to_string(s.state))},
                       {"priority", s.priority_effective},
                       {"master", s.master_address ? s.master_address->to_string() : ""},
                       {"master_adver_interval_ms", s.master_adver_interval.count()},
                       {"adverts_sent", s.adverts_sent},
                       {"transitions", s.transitions},
                       {"adverts_received", s.adverts_received},
                       {"drops", drops}});
      }
      std::ofstream(status_path + ".tmp") << doc.dump();
      std::rename((status_path + ".tmp").c_str(), status_path.c_str());
    }
    t.expires_after(std::chrono::milliseconds(50));
    t.async_wait([&](auto ec) {
      if (!ec) tick();
    });
  };
  tick();
  boost::asio::signal_set sigs(io, SIGTERM, SIGINT, SIGHUP);
  std::function<void()> wait_sig = [&] {
    sigs.async_wait([&](auto ec, int sig) {
      if (ec) return;
      if (sig == SIGHUP) {
        auto again = config::load_file(argv[1]);
        if (again.ok()) rt.apply(again.config->vrrp);
        wait_sig();
        return;
      }
      rt.shutdown([&] { io.stop(); });
    });
  };
  wait_sig();
  io.run();
  return 0;
}
