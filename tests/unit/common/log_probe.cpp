// Logs each argument as one notice line through l4lb::log, for tests/netns/test_journal.py,
// which runs it with a fake journald socket to see the fields log.cpp sends.
#include "common/log.hpp"

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) l4lb::log::notice("{}", argv[i]);
  return 0;
}
