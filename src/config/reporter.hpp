// Collects every diagnostic of one load; the loader sorts them into file order.
// Internal to the config library.
#pragma once

#include <string>
#include <vector>

#include "config/config.hpp"
#include "config/loader.hpp"

namespace l4lb::config {

class Reporter {
 public:
  void error(Location at, std::string message) { add(Severity::error, at, std::move(message)); }
  void warning(Location at, std::string message) { add(Severity::warning, at, std::move(message)); }
  // The same, the message made only if it is kept: a rule that warns for every service (10,000
  // of them) would otherwise format thousands of messages that are only counted.
  template <typename Make>
  void warning_made_by(Location at, Make&& make);
  std::size_t error_count() const { return errors_; }

  // File order (stable, so messages for one spot keep the order they were found in),
  // capped so that a garbage file yields a readable list rather than thousands of lines.
  std::vector<Diagnostic> take(std::string_view file);

 private:
  void add(Severity s, Location at, std::string message);
  std::vector<Diagnostic> items_;
  std::size_t errors_ = 0;
  std::size_t unkept_errors_ = 0;  // found beyond kMaxKeptDiagnostics: only counted
  std::size_t unkept_warnings_ = 0;
};

// Most diagnostics one load reports; the rest are summarised in one line.
inline constexpr std::size_t kMaxDiagnostics = 100;
// Most diagnostics one load keeps in memory to choose those first in file order from; any
// further ones are only counted, so a file with millions of mistakes costs no memory for them.
inline constexpr std::size_t kMaxKeptDiagnostics = 10 * kMaxDiagnostics;

template <typename Make>
void Reporter::warning_made_by(Location at, Make&& make) {
  if (items_.size() >= kMaxKeptDiagnostics)
    ++unkept_warnings_;  // what add() would do with it
  else
    add(Severity::warning, at, make());
}

}  // namespace l4lb::config
