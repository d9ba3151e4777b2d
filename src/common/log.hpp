// Line-oriented logging to stderr with sd-daemon priority prefixes ("<6>"), so that
// journald keeps the level. One line per event; callers name the instance, service
// or backend in the message ("vrrp instance=ingress state=MASTER ..."). Under systemd
// (stderr is the stream $JOURNAL_STREAM names) lines go to journald natively instead, with
// those names as the fields L4LB_INSTANCE, L4LB_SERVICE, L4LB_BACKEND (log_fields.hpp).
#pragma once

#include <fmt/format.h>

#include <string_view>

namespace l4lb::log {

enum class Level { err = 3, warning = 4, notice = 5, info = 6, debug = 7 };

void set_max_level(Level level);
bool enabled(Level level);
void write(Level level, std::string_view line);

template <typename... Args>
void err(fmt::format_string<Args...> f, Args&&... args) {
  if (enabled(Level::err)) write(Level::err, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void warning(fmt::format_string<Args...> f, Args&&... args) {
  if (enabled(Level::warning)) write(Level::warning, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void notice(fmt::format_string<Args...> f, Args&&... args) {
  if (enabled(Level::notice)) write(Level::notice, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void info(fmt::format_string<Args...> f, Args&&... args) {
  if (enabled(Level::info)) write(Level::info, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void debug(fmt::format_string<Args...> f, Args&&... args) {
  if (enabled(Level::debug)) write(Level::debug, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace l4lb::log
