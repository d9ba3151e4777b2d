"""The entry point of every netns and lab test file: unittest, plus strict mode.

A test that cannot run here (no UML, no keepalived, FRR or tshark, a binary not built) skips.
On a developer's machine that is a note; in CI it would let a tier that never ran pass as green.
With L4LB_STRICT=1 (scripts/test.sh always sets it) any skip, and a file that ran no test at
all, makes the file exit 1 with one line per cause:

    SKIPPED in strict mode: <test id>: <reason>

Without strict mode a file whose every test skipped exits 77, which ctest reports as
"Skipped" (SKIP_RETURN_CODE in tests/CMakeLists.txt) rather than "Passed".

    if __name__ == "__main__":
        testmain.main()
"""

import os
import sys
import unittest

SKIP_EXIT = 77  # the exit status ctest's SKIP_RETURN_CODE maps to "Skipped"


def strict():
    return os.environ.get("L4LB_STRICT", "0") not in ("", "0")


def main(verbosity=2):
    """Runs the tests of __main__ and exits: 1 on a failure or error (or, in strict mode, on
    any skip or when nothing ran), 77 when every test skipped outside strict mode, else 0."""
    result = unittest.main(module="__main__", verbosity=verbosity, exit=False).result
    sys.stdout.flush()
    if not result.wasSuccessful():
        sys.exit(1)
    causes = [f"{test.id()}: {reason}" for test, reason in result.skipped]
    if result.testsRun == 0:
        causes.append("no test ran")
    if strict() and causes:
        for cause in causes:
            print(f"SKIPPED in strict mode: {cause}", file=sys.stderr)
        sys.exit(1)
    if causes:
        for cause in causes:
            print(f"skipped: {cause}", file=sys.stderr)
        # A skipped setUpClass is not a test of its own: count only the tests that passed.
        skipped_tests = sum(isinstance(t, unittest.TestCase) for t, _ in result.skipped)
        if result.testsRun - skipped_tests == 0:
            sys.exit(SKIP_EXIT)
    sys.exit(0)
