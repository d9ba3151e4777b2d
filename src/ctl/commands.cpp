#include "ctl/commands.hpp"

#include <unistd.h>

#include <chrono>
#include <iostream>
#include <thread>
#include <variant>

#include "ctl/client.hpp"
#include "ctl/filter.hpp"
#include "ctl/render.hpp"

#ifndef L4LB_VERSION
#error "L4LB_VERSION must be defined by the build"
#endif

namespace l4lb::ctl {
namespace {

using nlohmann::json;

double now_unix() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// The status document, or the exit code and message when there is none.
struct Fetched {
  json status;
  int rc = 0;
  std::string error;
};

Fetched fetch_status(const std::string& socket, const std::string& view, int timeout_seconds = 30) {
  auto r = call(socket, {{"command", "status"}, {"view", view}}, timeout_seconds);
  if (auto* e = std::get_if<ClientError>(&r)) return {json(), 3, e->message};
  auto& response = std::get<json>(r);
  if (!response.is_object() || !response.value("ok", false) || !response.contains("status")) {
    // The daemon's own words, as for every refused request (l4lbctl(8): exit 1).
    const auto it = response.is_object() ? response.find("error") : response.end();
    return {json(), 1,
            "l4lbd refused: " + (it != response.end() && it->is_string()
                                     ? it->get<std::string>()
                                     : std::string("status failed"))};
  }
  return {response["status"], 0, {}};
}

// One screenful: what `status` prints once, or the error; returns the exit code.
int status_once(const std::string& socket, const StatusOptions& o, std::string& out,
                std::string& err) {
  // Text shows what needs a look (cheap at 10,000 services); --json the whole document.
  auto f = fetch_status(socket, !o.view.empty() ? o.view : o.json ? "full" : "summary");
  if (f.rc != 0) {
    err = "l4lbctl: " + f.error + "\n";
    return f.rc;
  }
  auto filtered = filter_status(f.status, o.names);
  for (const auto& n : filtered.unknown)
    err += "l4lbctl: no VRRP instance or service named '" + n + "'\n";
  if (!filtered.unknown.empty()) return 1;
  out = o.json ? filtered.status.dump(2) + "\n" : render_status(filtered.status, now_unix());
  return 0;
}

}  // namespace

int run_status(const std::string& socket, const StatusOptions& o) {
  if (!o.watch_seconds) {
    std::string out, err;
    int rc = status_once(socket, o, out, err);
    std::cout << out << std::flush;
    std::cerr << err;
    return rc;
  }
  const bool tty = ::isatty(STDOUT_FILENO) == 1;
  const auto period = std::chrono::duration<double>(*o.watch_seconds);
  for (;;) {
    std::string out, err;
    int rc = status_once(socket, o, out, err);
    // An unknown name will not appear by waiting; a daemon being restarted will come back.
    if (rc == 1) {
      std::cerr << err;
      return rc;
    }
    // One write per screen, so the terminal never shows half of one.
    std::string screen = tty ? "\033[H\033[2J" : "";
    screen += out;
    std::cout << screen << std::flush;
    std::cerr << err;
    std::this_thread::sleep_for(period);
  }
}

int run_version(const std::string& socket) {
  std::cout << "l4lbctl " << L4LB_VERSION << "\n" << std::flush;
  auto f = fetch_status(socket, "summary");
  if (f.rc != 0) {
    std::cerr << "l4lbd: unknown: " << f.error << "\n";
    return f.rc;
  }
  const json daemon = f.status.value("daemon", json::object());
  std::cout << "l4lbd " << daemon.value("version", std::string("unknown")) << " (node "
            << daemon.value("node", std::string("?")) << ", pid " << daemon.value("pid", 0)
            << ")\n";
  return 0;
}

int run_complete(const std::string& socket, const std::string& what) {
  // Backend addresses need every backend; names are in the summary.
  auto f = fetch_status(socket, what == "backends" ? "full" : "summary", 2);
  if (f.rc != 0) return 0;
  for (const auto& n : completion_names(f.status, what)) std::cout << n << "\n";
  return 0;
}

}  // namespace l4lb::ctl
