// Files in state_dir: what l4lbd must remember across restarts (the IPVS services it owns,
// the VIPs it added, drains). A write is all or nothing; a read never follows a symlink and
// never swallows a whole disk. Errors come back as messages that name the file.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace l4lb::state_file {

// Writes `text` to a temporary file beside `path` (created afresh, never through a symlink),
// fsyncs it, checks close, renames it over `path` and fsyncs the directory. On any failure
// (a full disk among them) `path` keeps its previous content and the temporary is removed.
std::optional<std::string> write(const std::string& path, std::string_view text);

struct ReadResult {
  std::optional<std::string> text;  // none: no such file (not an error), or `error` is set
  std::string error;                // a symlink, not a regular file, too large, unreadable
};
inline constexpr std::size_t kMaxStateFileBytes = 64 * 1024 * 1024;
ReadResult read(const std::string& path, std::size_t max_bytes = kMaxStateFileBytes);

// Moves a damaged file out of the way (to PATH.damaged) so that it can be inspected and is
// not overwritten by the next write; returns the new name, or an error message.
std::string set_aside(const std::string& path);

}  // namespace l4lb::state_file
