// The l4lbctl commands that read the status document: status (with NAME filters and --watch),
// version, and the hidden __complete used by the shell completion (shell/l4lbctl.bash).
// Exit codes as in l4lbctl(8): 0 ok, 1 refused / unknown name, 3 daemon unreachable.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace l4lb::ctl {

struct StatusOptions {
  std::vector<std::string> names;  // instances or services; empty: everything
  bool json = false;
  // "full" or "summary" (docs/STATUS.md); empty: summary for text, full for --json.
  std::string view;
  std::optional<double> watch_seconds;  // repeat every so often until interrupted
};

int run_status(const std::string& socket, const StatusOptions& options);
int run_version(const std::string& socket);
// Prints one name per line; prints nothing (exit 0) when the daemon cannot be reached, so a
// shell completing a word never shows an error.
int run_complete(const std::string& socket, const std::string& what);

}  // namespace l4lb::ctl
