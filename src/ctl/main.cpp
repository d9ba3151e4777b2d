// l4lbctl: the operator's view of a running l4lbd, over its control socket.
// Exit codes: 0 ok, 1 the daemon answered with an error (a rejected reload, a malformed or
// refused request, permission denied, too many sessions) or the config is invalid,
// 2 usage error, 3 the daemon cannot be reached or sent no answer.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>
#include <variant>

#include "config/loader.hpp"
#include "ctl/client.hpp"
#include "ctl/commands.hpp"
#include "ctl/filter.hpp"

namespace {

using nlohmann::json;
using namespace l4lb;

int print_diagnostics(const config::LoadResult& result) {
  for (const auto& d : result.diagnostics) std::cerr << d.to_string() << "\n";
  if (!result.ok()) {
    std::cerr << result.error_count() << " error(s)\n";
    return 1;
  }
  std::cout << config::summary(*result.config) << "\n";
  return 0;
}

int request(const std::string& socket, const json& req, json& response) {
  auto r = ctl::call(socket, req);
  if (auto* e = std::get_if<ctl::ClientError>(&r)) {
    std::cerr << "l4lbctl: " << e->message << "\n";
    return 3;
  }
  response = std::get<json>(r);
  return 0;
}

// An error reply of the daemon, as it phrased it ("permission denied: 'reload' needs root...").
int refused(const json& r, const char* fallback) {
  const auto it = r.find("error");
  std::cerr << "l4lbctl: l4lbd refused: "
            << (it != r.end() && it->is_string() ? it->get<std::string>() : std::string(fallback))
            << "\n";
  return 1;
}

int print_reload(const json& r) {
  // Refused before the file was read (permission, a malformed request): no error list.
  if (!r.value("ok", false) && !r.contains("errors")) return refused(r, "reload refused");
  for (const auto& w : r.value("warnings", json::array()))
    std::cerr << w.get<std::string>() << "\n";
  if (!r.value("ok", false)) {
    for (const auto& e : r.value("errors", json::array()))
      std::cerr << e.get<std::string>() << "\n";
    std::cerr << "l4lbctl: reload rejected: " << r.value("error", std::string("invalid config"))
              << "; the running configuration is unchanged\n";
    return 1;
  }
  auto changes = r.value("changes", json::array());
  if (changes.empty())
    std::cout << "reloaded: no changes\n";
  else {
    std::cout << "reloaded: " << changes.size() << " change(s)\n";
    for (const auto& c : changes) std::cout << "  " << c.get<std::string>() << "\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"l4lbctl: inspect and control a running l4lbd"};
  app.require_subcommand(1);
  const char* env_socket = std::getenv("L4LB_SOCKET");
  std::string socket = env_socket ? env_socket : "/run/l4lb/l4lbd.sock";
  app.add_option("-s,--socket", socket, "control socket of l4lbd (env L4LB_SOCKET)")
      ->capture_default_str();

  auto* status = app.add_subcommand("status", "show VRRP instances, services and backends");
  ctl::StatusOptions status_options;
  status->add_flag("--json", status_options.json,
                   "the full status document (schema: docs/STATUS.md)");
  status->add_option("NAME", status_options.names, "only these VRRP instances or services");
  status
      ->add_option("--view", status_options.view,
                   "full: every backend and check; summary: only backends that need a look "
                   "(default: summary, full with --json)")
      ->check(CLI::IsMember({"full", "summary"}));
  std::string watch;
  auto* watch_opt =
      status->add_option("--watch", watch, "print again every SECONDS (default 2) until ^C")
          ->expected(0, 1)
          ->type_name("[SECONDS]");

  app.add_subcommand("version", "print the version of l4lbctl and of the running l4lbd");
  // For shell/l4lbctl.bash: the running daemon's names, one per line. Hidden (no group).
  std::string complete_what;
  auto* complete = app.add_subcommand("__complete", "")->group("");
  complete->add_option("WHAT", complete_what, "instances, services or backends")->required();

  app.add_subcommand("reload", "re-read the config file; print the changes or every error");

  std::string backend, service;
  auto* drain = app.add_subcommand("drain", "set a backend's weight to 0 (kept across reloads)");
  drain->add_option("BACKEND", backend, "backend address")->required();
  drain->add_option("--service", service, "only in this service (default: every service)");
  auto* undrain = app.add_subcommand("undrain", "give a drained backend its weight back");
  undrain->add_option("BACKEND", backend, "backend address")->required();
  undrain->add_option("--service", service, "only in this service");

  std::string file;
  auto* check = app.add_subcommand("check-config", "validate a config file (no daemon needed)");
  check->add_option("FILE", file, "config file")->required();

  // CLI11 would only say "A subcommand is required" for a mistyped command; name it instead.
  int first = 1;
  while (first < argc && argv[first][0] == '-') {
    const std::string opt = argv[first];
    first += (opt == "-s" || opt == "--socket") ? 2 : 1;
  }
  if (first < argc) {
    const std::string word = argv[first];
    bool known = false;
    for (const auto* sub : app.get_subcommands({})) known |= sub->get_name() == word;
    if (!known) {
      std::cerr << "l4lbctl: unknown command '" << word
                << "' (commands: status, reload, drain, undrain, check-config, version; see "
                   "--help)\n";
      return 2;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }

  if (check->parsed()) return print_diagnostics(config::load_file(file));

  json response;
  if (status->parsed()) {
    if (watch_opt->count() > 0) {
      auto arg = ctl::parse_watch_arg(watch);
      if (!arg.error.empty()) {
        std::cerr << "l4lbctl: " << arg.error << "\n";
        return 2;
      }
      if (!arg.name.empty()) status_options.names.insert(status_options.names.begin(), arg.name);
      status_options.watch_seconds = arg.seconds;
    }
    return ctl::run_status(socket, status_options);
  }
  if (app.got_subcommand("version")) return ctl::run_version(socket);
  if (complete->parsed()) return ctl::run_complete(socket, complete_what);
  if (app.got_subcommand("reload")) {
    if (int rc = request(socket, {{"command", "reload"}}, response)) return rc;
    return print_reload(response);
  }
  for (auto* sub : {drain, undrain}) {
    if (!sub->parsed()) continue;
    json req = {{"command", sub->get_name()}, {"backend", backend}};
    if (!service.empty()) req["service"] = service;
    if (int rc = request(socket, req, response)) return rc;
    if (!response.value("ok", false)) return refused(response, "refused");
    std::cout << response.value("message", std::string("ok")) << "\n";
    return 0;
  }
  return 2;
}
