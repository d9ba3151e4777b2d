#include "ctl/commands.hpp"

#include <unistd.h>

#include <chrono>
#include <iostream>
#include <optional>
#include <string_view>
#include <thread>
#include <variant>

#include "ctl/client.hpp"
#include "ctl/filter.hpp"
#include "ctl/pretty.hpp"
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

// The document inside the daemon's reply line {"ok":true,"status":DOCUMENT}\n, as text; nullopt
// for any other answer (an error, another layout).
std::optional<std::string_view> status_text(const std::string& line) {
  static constexpr std::string_view kPrefix = R"({"ok":true,"status":)";
  if (line.size() < kPrefix.size() + 2 || line.compare(0, kPrefix.size(), kPrefix) != 0 ||
      line.compare(line.size() - 2, 2, "}\n") != 0)
    return std::nullopt;
  return std::string_view(line).substr(kPrefix.size(), line.size() - kPrefix.size() - 2);
}

// `status --json` of everything: the daemon's document as it sent it, indented, never parsed
// (143 MB at 10,000 services x 8 backends). Keys keep the daemon's order.
int status_json_raw(const std::string& socket, const std::string& view, std::string& out,
                    std::string& err) {
  auto r = call_raw(socket, {{"command", "status"}, {"view", view}});
  if (auto* e = std::get_if<ClientError>(&r)) {
    err = "l4lbctl: " + e->message + "\n";
    return 3;
  }
  const std::string& line = std::get<std::string>(r);
  const auto doc = status_text(line);
  if (!doc) {
    // Not the envelope this client knows (an error, or another daemon's layout): parse it.
    auto response = json::parse(line, nullptr, false);
    if (response.is_object() && response.value("ok", false) && response.contains("status")) {
      out = response["status"].dump(2) + "\n";
      return 0;
    }
    if (response.is_discarded() || !response.is_object()) {
      err = "l4lbctl: l4lbd sent an answer that is not JSON (version mismatch?)\n";
      return 3;
    }
    const auto it = response.find("error");
    err = "l4lbctl: l4lbd refused: " +
          (it != response.end() && it->is_string() ? it->get<std::string>()
                                                   : std::string("status failed")) +
          "\n";
    return 1;
  }
  out.reserve(line.size() * 2);
  indent_json(out, *doc);
  out += '\n';
  return 0;
}

// One screenful: what `status` prints once, or the error; returns the exit code.
int status_once(const std::string& socket, const StatusOptions& o, std::string& out,
                std::string& err) {
  if (o.json && o.names.empty())
    return status_json_raw(socket, !o.view.empty() ? o.view : "full", out, err);
  // Text shows what needs a look (cheap at 10,000 services); --json the whole document.
  auto f = fetch_status(socket, !o.view.empty() ? o.view : o.json ? "full" : "summary");
  // A large summary leaves out the services that are fine or awaiting their first checks
  // (docs/STATUS.md, "Views"); names may ask for those, so ask again for everything, and keep
  // only what the names need.
  const auto folded = [&f](const char* key) {
    return f.status.contains(key) && f.status[key].is_array() && !f.status[key].empty();
  };
  if (f.rc == 0 && !o.names.empty() &&
      (folded("services_fine") || folded("services_awaiting_checks"))) {
    auto r = call_raw(socket, {{"command", "status"}, {"view", "full"}});
    if (auto* e = std::get_if<ClientError>(&r)) {
      err = "l4lbctl: " + e->message + "\n";
      return 3;
    }
    const std::string& line = std::get<std::string>(r);
    if (auto doc = status_text(line)) {
      f.status = parse_for_names(*doc, o.names);
    } else {  // not the envelope this client knows: parse it whole
      const json reply = json::parse(line, nullptr, false);
      if (!reply.is_object() || !reply.value("ok", false) || !reply.contains("status")) {
        err = "l4lbctl: l4lbd refused the full status\n";
        return 1;
      }
      f.status = reply["status"];
    }
  }
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
