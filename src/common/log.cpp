#include "common/log.hpp"

#include <sys/stat.h>
#include <sys/uio.h>
#include <syslog.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>

#define SD_JOURNAL_SUPPRESS_LOCATION  // CODE_FILE= would always name this file
#include <systemd/sd-journal.h>

#include "common/log_fields.hpp"

namespace l4lb::log {
namespace {
Level g_max = Level::info;

// Under systemd with stderr on the journal, lines go to journald natively, with fields.
// Decided once: the answer cannot change while the process runs (a later dup2 onto stderr
// is not something this code base does).
bool to_journal() {
  static const bool yes = [] {
    const char* env = std::getenv("JOURNAL_STREAM");
    struct stat st {};
    if (env == nullptr || ::fstat(STDERR_FILENO, &st) != 0) return false;
    return journal_stream_matches(env, st.st_dev, st.st_ino);
  }();
  return yes;
}

bool send_to_journal(Level level, std::string_view line) {
  const Fields f = extract_fields(line);
  // Field values go as iovecs, never through a format string. An absent field is not sent
  // (an empty "L4LB_SERVICE=" would match `journalctl L4LB_SERVICE=`).
  std::string fields[6] = {"MESSAGE=" + std::string(line),
                           "PRIORITY=" + std::to_string(static_cast<int>(level)),
                           std::string("SYSLOG_IDENTIFIER=") + program_invocation_short_name,
                           f.instance.empty() ? "" : "L4LB_INSTANCE=" + std::string(f.instance),
                           f.service.empty() ? "" : "L4LB_SERVICE=" + std::string(f.service),
                           f.backend.empty() ? "" : "L4LB_BACKEND=" + std::string(f.backend)};
  iovec iov[6];
  int n = 0;
  for (auto& field : fields)
    if (!field.empty()) iov[n++] = {field.data(), field.size()};
  return sd_journal_sendv(iov, n) >= 0;
}

}  // namespace

void set_max_level(Level level) { g_max = level; }
bool enabled(Level level) { return static_cast<int>(level) <= static_cast<int>(g_max); }

void write(Level level, std::string_view line) {
  if (to_journal() && send_to_journal(level, line)) return;
  // A single write(2) per line keeps lines whole when several processes share a pipe.
  std::string out;
  out.reserve(line.size() + 5);
  out += '<';
  out += static_cast<char>('0' + static_cast<int>(level));
  out += '>';
  out += line;
  out += '\n';
  [[maybe_unused]] auto n = ::write(STDERR_FILENO, out.data(), out.size());
}

}  // namespace l4lb::log
