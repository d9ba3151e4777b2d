// Journald fields from a log line. Call sites already name what a line is about as
// `instance=NAME`, `service=NAME`, `backend=ADDRESS` (log.hpp); under systemd the logger sends
// these along as L4LB_INSTANCE=, L4LB_SERVICE=, L4LB_BACKEND= so that
// `journalctl L4LB_SERVICE=ldap` selects one service's lines. Reading them out of the line keeps
// one logging API and makes the text and the fields agree by construction. Pure functions.
#pragma once

#include <string_view>

namespace l4lb::log {

struct Fields {
  std::string_view instance;  // empty when the line names none
  std::string_view service;
  std::string_view backend;
};

// The first `instance=`, `service=` and `backend=` that start the line or follow a space; the
// value runs to the next space. An empty value counts as absent.
Fields extract_fields(std::string_view line);

// True when $JOURNAL_STREAM ("DEVICE:INODE", decimal, set by systemd for a service whose
// output goes to the journal) names the stream with this device and inode, i.e. stderr is
// still the journal's stream and was not redirected after systemd started us.
bool journal_stream_matches(std::string_view env, unsigned long long dev, unsigned long long ino);

}  // namespace l4lb::log
