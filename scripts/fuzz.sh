#!/bin/sh
# Build the libFuzzer harnesses with clang in build-fuzz and run every fuzz_* binary
# for SECONDS each, seeded with the example config and the config corpus.
# Fails (exit 1) when any harness finds a crash; the reproducer is left in
# build-fuzz/crashes/<harness>/.
# Usage: scripts/fuzz.sh [SECONDS]   (default 60)
set -eu
seconds=${1:-60}
src=$(cd "$(dirname "$0")/.." && pwd)
build="$src/build-fuzz"
jobs=${L4LB_JOBS:-2}

# The libraries get coverage instrumentation too (fuzzer-no-link), or libFuzzer
# would only see the harness itself and fuzz blind.
san="-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer"
CC=clang CXX=clang++ cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DL4LB_FUZZ=ON -DL4LB_WERROR=OFF -DCMAKE_C_FLAGS="$san" -DCMAKE_CXX_FLAGS="$san" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" >/dev/null
targets=$(cmake --build "$build" --target help | sed -n 's/^\(fuzz_[A-Za-z0-9_]*\):.*/\1/p' | sort -u)
if [ -z "$targets" ]; then
  echo "fuzz.sh: no fuzz_* targets configured" >&2
  exit 1
fi
status=0
for name in $targets; do
  # One target at a time, so that one area's build break does not stop the others.
  if ! cmake --build "$build" -j"$jobs" --target "$name" >"$build/$name.build.log" 2>&1; then
    echo "fuzz.sh: $name does not build; see $build/$name.build.log" >&2
    grep -m 5 'error' "$build/$name.build.log" >&2 || true
    status=1
    continue
  fi
  bin=$(find "$build" -type f -name "$name" -perm -u+x | head -n 1)
  [ -n "$bin" ] || { echo "fuzz.sh: $name was not built" >&2; status=1; continue; }
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
  echo "== $name: ${seconds}s"
  # shellcheck disable=SC2086
  if ! "$bin" $dict -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
       -artifact_prefix="$crashes/" -print_final_stats=1 "$corpus" 2>"$build/$name.log"; then
    echo "fuzz.sh: $name FAILED; see $build/$name.log and $crashes/" >&2
    tail -n 40 "$build/$name.log" >&2
    status=1
  fi
  grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$build/$name.log" || true
done
exit $status
