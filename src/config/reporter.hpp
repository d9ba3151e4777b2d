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

}  // namespace l4lb::config
