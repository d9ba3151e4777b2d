#!/usr/bin/env bash
# The one command that installs what is missing, builds, and runs every test tier:
#   unit tests (plain and under ASan+UBSan), the fuzzers for a bounded time,
#   network-namespace tests (root) and the User-Mode Linux kernel lab with real IPVS (root).
# Usage: sudo scripts/test.sh            (FUZZ_SECONDS=N to change the fuzzing budget per harness)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
if [ "$(id -u)" != 0 ]; then echo "scripts/test.sh: run as root (namespaces, raw sockets, UML)" >&2; exit 2; fi

"$root/scripts/install-deps.sh"

echo "== build (ASan+UBSan) and unit tests under sanitizers"
BUILD_TARGET=unit_tests "$root/scripts/build.sh" "$root/build-asan" -DCMAKE_BUILD_TYPE=Debug -DL4LB_SANITIZE=ON
ctest --test-dir "$root/build-asan" -L unit --output-on-failure

echo "== fuzzing (${FUZZ_SECONDS:-30}s per harness)"
"$root/scripts/fuzz.sh" "${FUZZ_SECONDS:-30}"

echo "== build and all tiers: unit, netns, lab"
"$root/scripts/build.sh" "$root/build"
ctest --test-dir "$root/build" --output-on-failure

# The Debian package: built with dpkg-buildpackage, lintian-clean, installed into a clean
# Debian 12 root (debootstrap, cached in /var/tmp/l4lb-pkgtest), upgraded, removed and purged.
# L4LB_SKIP_PACKAGE=1 leaves it out.
if [ "${L4LB_SKIP_PACKAGE:-0}" != 1 ]; then
  echo "== Debian package: build, lintian, install/upgrade/purge in a clean Debian 12 root"
  "$root/scripts/package.sh"
  "$root/scripts/test-package.sh"
fi
