#!/usr/bin/env bash
# The one command that installs what is missing, builds, and runs every test tier:
#   unit tests (plain and under ASan+UBSan), the fuzzers for a bounded time,
#   network-namespace tests (root) and the User-Mode Linux kernel lab with real IPVS (root).
# Usage: sudo scripts/test.sh            (FUZZ_SECONDS=N to change the fuzzing budget per harness)
#
# Strict: a tier that did not run is a failure. L4LB_STRICT=1 makes any skipped netns or lab test
# fail its file ("SKIPPED in strict mode: <reason>", tests/pylib/testmain.py), and every tier must
# hold at least one test. Every tier runs even when an earlier one failed; the exit status is 1
# if anything failed. Elapsed seconds are printed per phase and summed up at the end.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
if [ "$(id -u)" != 0 ]; then echo "scripts/test.sh: run as root (namespaces, raw sockets, UML)" >&2; exit 2; fi
export L4LB_STRICT=1

start=$SECONDS
summary=()
failed=()
# phase NAME CMD...: runs CMD, records its time and result, never stops the script.
phase() {
  local name=$1 t=$SECONDS rc=0
  shift
  echo "== $name"
  "$@" || rc=$?
  local line
  line=$(printf '%-44s %5ds  %s' "$name" $((SECONDS - t)) "$([ $rc = 0 ] && echo ok || echo "FAILED (exit $rc)")")
  echo "== $line"
  summary+=("$line")
  [ $rc = 0 ] || failed+=("$name")
  return 0
}
finish() {
  echo "== summary (elapsed seconds per phase)"
  printf '%s\n' "${summary[@]}"
  printf '%-44s %5ds\n' "total" $((SECONDS - start))
  if ((${#failed[@]})); then
    echo "scripts/test.sh: FAILED: ${failed[*]}" >&2
    exit 1
  fi
  echo "scripts/test.sh: all phases passed"
}
passed() { # passed NAME: phase NAME ran and succeeded
  local f
  for f in "${failed[@]}"; do [ "$f" = "$1" ] && return 1; done
  return 0
}
# required NAME: stops here (with the summary) when phase NAME failed; later phases need it.
required() {
  passed "$1" || finish
}

# Every netns/lab test file must go through testmain.main(), or its skips would pass as green.
check_test_mains() {
  local f bad=0
  for f in tests/netns/test_*.py tests/lab/test_*.py; do
    if ! grep -q '^\s*testmain\.main()' "$f" || grep -q 'unittest\.main(' "$f"; then
      echo "scripts/test.sh: $f must end with testmain.main() (not unittest.main())" >&2
      bad=1
    fi
  done
  return $bad
}

# tier_counts BUILD LABEL...: every LABEL holds at least one test.
tier_counts() {
  local build=$1 label n
  shift
  for label in "$@"; do
    n=$(ctest --test-dir "$build" -N -L "^$label\$" | sed -n 's/^Total Tests: //p')
    echo "tier $label: ${n:-0} tests"
    if [ "${n:-0}" -eq 0 ]; then echo "scripts/test.sh: no tests with label $label in $build" >&2; return 1; fi
  done
}
# every_test_in_a_tier BUILD: the unit, netns and lab tiers together hold every test (a test with
# another label, or none, would not run at all: the tiers run by label).
every_test_in_a_tier() {
  local build=$1 sum=0 total label
  tier_counts "$build" unit netns lab || return 1
  for label in unit netns lab; do
    sum=$((sum + $(ctest --test-dir "$build" -N -L "^$label\$" | sed -n 's/^Total Tests: //p')))
  done
  total=$(ctest --test-dir "$build" -N | sed -n 's/^Total Tests: //p')
  if [ "$total" -ne "$sum" ]; then
    echo "scripts/test.sh: $build has $total tests but the unit, netns and lab tiers hold $sum" >&2
    return 1
  fi
}

phase "install dependencies" "$root/scripts/install-deps.sh"
required "install dependencies"
phase "test files use testmain (strict skips)" check_test_mains

# The unit tests under ASan+UBSan are built in the fuzzers' build (clang, every library
# instrumented with ASan, UBSan and libFuzzer's coverage), not in a build of their own: one
# sanitizer build of the libraries instead of two. Measured on a clean clone it costs about
# what the two did (822 s against 562 + ~240 s); it stays for clang's UBSan over the unit tests.
# halt_on_error: UBSan's checks are recoverable there (the fuzzers' flags); a finding must
# still fail the test.
phase "build: unit tests under ASan+UBSan (clang, in build-fuzz)" \
  "$root/scripts/fuzz.sh" --build-unit-tests
asan_units() {
  tier_counts "$root/build-fuzz" unit &&
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
    UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1} \
    ctest --test-dir "$root/build-fuzz" -L '^unit$' --output-on-failure
}
passed "build: unit tests under ASan+UBSan (clang, in build-fuzz)" &&
  phase "unit tests under ASan+UBSan" asan_units

phase "fuzzing (${FUZZ_SECONDS:-30}s per harness)" "$root/scripts/fuzz.sh" "${FUZZ_SECONDS:-30}"

phase "build" "$root/scripts/build.sh" "$root/build"
required "build"
phase "every tier holds tests (unit, netns, lab)" every_test_in_a_tier "$root/build"
# Lab tests each boot their own guest (own directory, own namespaces) and, under QEMU software
# emulation, keep one core busy for minutes: run as many at once as there are cores, up to 3
# (L4LB_LAB_JOBS overrides). Their timeouts are stretched by lab.time_scale() for this.
lab_jobs=${L4LB_LAB_JOBS:-$(nproc)}
[ "$lab_jobs" -gt 3 ] && lab_jobs=3
for tier in unit netns lab; do
  jobs=1
  [ "$tier" = lab ] && jobs=$lab_jobs
  phase "tier $tier" ctest --test-dir "$root/build" -L "^$tier\$" --output-on-failure -j "$jobs"
done
# The Debian package: built with dpkg-buildpackage, lintian-clean, installed into a clean
# Debian 12 root (debootstrap, cached in /var/tmp/l4lb-pkgtest), upgraded, removed and purged.
package_tier() { "$root/scripts/package.sh" && "$root/scripts/test-package.sh"; }
phase "Debian package: build, lintian, install/upgrade/purge in a clean Debian 12 root" package_tier
finish
