#!/bin/sh
# Build the libFuzzer harnesses with clang in build-fuzz and run every fuzz_* binary
# for SECONDS each, seeded with the example config and the config corpus.
# Fails (exit 1) when any harness finds a crash; the reproducer is left in
# build-fuzz/crashes/<harness>/.
# Usage: scripts/fuzz.sh [SECONDS]   (default 60)
#        scripts/fuzz.sh --build-unit-tests   configure build-fuzz and build the unit tests
#                                             there (ASan+UBSan, clang), nothing else
# The unit tests share this build's instrumented libraries: scripts/test.sh runs them here
# under ASan+UBSan instead of compiling every library once more for a separate sanitizer build.
set -eu
seconds=${1:-60}
src=$(cd "$(dirname "$0")/.." && pwd)
build="$src/build-fuzz"
# Build and run as many at once as there are cores (L4LB_JOBS overrides): the harnesses are
# single-threaded, each still gets its full SECONDS.
jobs=${L4LB_JOBS:-$(nproc)}

# The libraries get coverage instrumentation too (fuzzer-no-link), or libFuzzer
# would only see the harness itself and fuzz blind. No jemalloc: ASan's runtime is the malloc.
san="-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer"
CC=clang CXX=clang++ cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DL4LB_FUZZ=ON -DL4LB_WERROR=OFF -DL4LB_JEMALLOC=OFF -DCMAKE_C_FLAGS="$san" \
  -DCMAKE_CXX_FLAGS="$san" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" >/dev/null
if [ "$seconds" = --build-unit-tests ]; then
  exec cmake --build "$build" -j"$jobs" --target unit_tests
fi
targets=$(cmake --build "$build" --target help | sed -n 's/^\(fuzz_[A-Za-z0-9_]*\):.*/\1/p' | sort -u)
if [ -z "$targets" ]; then
  echo "fuzz.sh: no fuzz_* targets configured" >&2
  exit 1
fi
status=0
broken=""
# All harnesses in one build (-k 0: keep going past a broken one), so both cores stay busy to
# the end instead of idling while one harness links; then each target alone again, which only
# redoes what failed, to tell which harness does not build.
# shellcheck disable=SC2086
if ! cmake --build "$build" -j"$jobs" --target $targets -- -k 0 >"$build/build.log" 2>&1; then
  for name in $targets; do
    if ! cmake --build "$build" -j"$jobs" --target "$name" >"$build/$name.build.log" 2>&1; then
      echo "fuzz.sh: $name does not build; see $build/$name.build.log" >&2
      grep -m 5 'error' "$build/$name.build.log" >&2 || true
      broken="$broken $name"
      status=1
    fi
  done
  [ -n "$broken" ] || { echo "fuzz.sh: the build failed; see $build/build.log" >&2; tail -n 20 "$build/build.log" >&2; exit 1; }
fi

# fuzz_one NAME BIN: one harness for SECONDS; its exit status is the harness's.
fuzz_one() {
  name=$1
  bin=$2
  corpus="$build/corpus/$name"
  crashes="$build/crashes/$name"
  mkdir -p "$corpus" "$crashes"
  # Seeds: the shipped example and the broken-config corpus (copied: libFuzzer
  # writes new inputs into the first corpus directory).
  cp "$src"/etc/*.yaml "$corpus"/ 2>/dev/null || true
  cp "$src"/tests/unit/config/corpus/*.yaml "$corpus"/ 2>/dev/null || true
  # A harness may bring seeds of its own in fuzz/seeds/<name>/.
  if [ -d "$src/fuzz/seeds/$name" ]; then cp -r "$src/fuzz/seeds/$name"/. "$corpus"/; fi
  dict=""
  [ -f "$src/fuzz/$name.dict" ] && dict="-dict=$src/fuzz/$name.dict"
  # shellcheck disable=SC2086
  "$bin" $dict -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$crashes/" -print_final_stats=1 "$corpus" 2>"$build/$name.log"
}
# report NAME RC: the harness's verdict and final stats, printed in the order they were started.
report() {
  if [ "$2" != 0 ]; then
    echo "fuzz.sh: $1 FAILED; see $build/$1.log and $build/crashes/$1/" >&2
    tail -n 40 "$build/$1.log" >&2
    status=1
  fi
  grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$build/$1.log" || true
}

# Batches of $jobs harnesses: all run for the same SECONDS, so a batch ends nearly together.
batch=""
run_batch() {
  pids=""
  for name in $batch; do
    bin=$(find "$build" -type f -name "$name" -perm -u+x | head -n 1)
    if [ -z "$bin" ]; then echo "fuzz.sh: $name was not built" >&2; status=1; continue; fi
    echo "== $name: ${seconds}s"
    fuzz_one "$name" "$bin" &
    pids="$pids $name:$!"
  done
  for entry in $pids; do
    rc=0
    wait "${entry#*:}" || rc=$?
    report "${entry%%:*}" "$rc"
  done
  batch=""
}
n=0
for name in $targets; do
  case " $broken " in *" $name "*) continue ;; esac
  batch="$batch $name"
  n=$((n + 1))
  if [ $((n % jobs)) = 0 ]; then run_batch; fi
done
run_batch
exit $status
