// YAML text in, a typed and validated Config out — or every error at once.
// Pure: no I/O except load_file, which only reads the file.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"

namespace l4lb::config {

enum class Severity { error, warning };

struct Diagnostic {
  Severity severity = Severity::error;
  std::string file;
  int line = 0;    // 1-based; 0 when the problem has no position (e.g. unreadable file)
  int column = 0;  // 1-based
  std::string message;

  // "FILE:LINE:COLUMN: error: message" (or "FILE: error: message" without position)
  std::string to_string() const;
};

struct LoadResult {
  std::optional<Config> config;         // set only when there are no errors
  std::vector<Diagnostic> diagnostics;  // errors and warnings, in file order

  bool ok() const { return config.has_value(); }
  std::size_t error_count() const;
  std::size_t warning_count() const;
};

// Largest file accepted; anything bigger is rejected before parsing. 8 MiB: a
// 10,000-service x 8-backend config (the IPVS benchmark's) is about 3.4 MB in block
// style, and a 10 MB file must still be refused.
inline constexpr std::size_t kMaxConfigBytes = 8 * 1024 * 1024;

// `file_name` is used only in messages. `default_node_name` fills node_name when absent.
LoadResult load_text(std::string_view text, std::string_view file_name,
                     std::string_view default_node_name = "localhost");
LoadResult load_file(const std::string& path);  // node_name defaults to the hostname

// One line: "ok: 1 vrrp instance, 2 services (8 virtual services), 5 backends".
std::string summary(const Config& config);

}  // namespace l4lb::config
