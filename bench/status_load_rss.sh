#!/bin/bash
# RSS under status and scrape load (docs/BENCHMARKS.md, "Streamed status and metrics"): the
# 10,000 x 8 config of bench/status_scale.sh, then 2 `l4lbctl status --json` loops and 2 curl
# /metrics loops (100 ms apart) for DURATION seconds while VmRSS/VmHWM are sampled each second.
# Prints the peak and median RSS and each client's latencies. Needs root (port 9 listener).
#   sudo L4LB_BUILD_DIR=build bench/status_load_rss.sh [SERVICES] [BACKENDS] [DURATION]
# L4LBD / L4LBCTL override the binaries (to measure an older build); STATUS_CLIENTS and
# SCRAPERS (2 each) how many loops of each kind run; ONE=status|metrics makes one request
# only (KEEP=FILE keeps its reply).
set -euo pipefail
B=${L4LB_BUILD_DIR:-build}; N=${1:-10000}; M=${2:-8}; T=${3:-60}
L4LBD=${L4LBD:-$B/src/daemon/l4lbd}; L4LBCTL=${L4LBCTL:-$B/src/ctl/l4lbctl}
PORT=${PORT:-19102}
D=$(mktemp -d /tmp/status-load.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$D"; }
trap cleanup EXIT
. "$(dirname "$0")/status_daemon.sh"
start_status_daemon "$N" "$M" "$D" "$PORT" "$L4LBD"
sleep "${WAIT:-20}"
kb() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$P/status"; }
echo "idle: VmRSS $(kb VmRSS) kB VmHWM $(kb VmHWM) kB"
# ONE=status or ONE=metrics: a single full status or scrape instead of the loops; its wall
# time and the peak RSS it caused (VmHWM is reset first through /proc/PID/clear_refs).
if [ -n "${ONE:-}" ]; then
  echo 5 > "/proc/$P/clear_refs"
  echo "hwm reset: VmRSS $(kb VmRSS) kB VmHWM $(kb VmHWM) kB"
  ( while kill -0 "$P" 2>/dev/null; do kb VmRSS >> "$D/rss"; sleep 0.05; done ) &
  pids+=($!)
  s=$(date +%s.%N)
  if [ "$ONE" = status ]; then
    "$L4LBCTL" -s "$D/ctl.sock" status --json > "$D/out.one"
  else
    curl -s -o "$D/out.one" "http://127.0.0.1:$PORT/metrics"
  fi
  echo "one $ONE: $(echo "$(date +%s.%N) - $s" | bc) s, $(wc -c < "$D/out.one") bytes"
  echo "after: VmRSS $(kb VmRSS) kB VmHWM $(kb VmHWM) kB"
  if [ -n "${KEEP:-}" ]; then cp "$D/out.one" "$KEEP"; fi  # the reply, to compare builds
  sort -n "$D/rss" | tail -1 | awk '{ printf "max VmRSS sampled every 50 ms: %d kB\n", $1 }'
  exit 0
fi
# The peak of the load alone: VmHWM reset to the idle RSS (the config load at start peaks higher).
echo 5 > "/proc/$P/clear_refs"
end=$(($(date +%s) + T))
status_loop() {
  while [ "$(date +%s)" -lt "$end" ]; do
    s=$(date +%s.%N)
    if "$L4LBCTL" -s "$D/ctl.sock" status --json > "$D/out.$1"; then r=ok; else r=fail; fi
    echo "$(echo "$(date +%s.%N) - $s" | bc) $r $(wc -c < "$D/out.$1")" >> "$D/lat.status.$1"
    sleep 0.1
  done
}
scrape_loop() {
  while [ "$(date +%s)" -lt "$end" ]; do
    curl -s -o "$D/m.$1" -w '%{time_total} %{http_code} %{size_download}\n' \
      "http://127.0.0.1:$PORT/metrics" >> "$D/lat.metrics.$1" || echo "0 fail 0" >> "$D/lat.metrics.$1"
    sleep 0.1
  done
}
for ((i = 1; i <= ${STATUS_CLIENTS:-2}; i++)); do status_loop "$i" & pids+=($!); done
for ((i = 1; i <= ${SCRAPERS:-2}; i++)); do scrape_loop "$i" & pids+=($!); done
while [ "$(date +%s)" -lt "$end" ]; do kb VmRSS >> "$D/rss"; sleep 1; done
wait "${pids[@]:2}" 2>/dev/null || true
echo "after: VmRSS $(kb VmRSS) kB VmHWM $(kb VmHWM) kB"
sort -n "$D/rss" | awk '{ a[NR] = $1 } END { printf "RSS samples %d: median %d kB, max %d kB\n", NR, a[int((NR + 1) / 2)], a[NR] }'
for f in "$D"/lat.*; do
  awk -v f="$(basename "$f")" '{ n++; s += $1; if ($1 > m) m = $1; if ($2 != "ok" && $2 != "200") e++; b = $3 }
    END { printf "%s: %d replies, mean %.2f s, max %.2f s, errors %d, last size %d\n", f, n, s / n, m, e, b }' "$f"
done
# The loop's 10 ms timer lateness over the whole run (start included): max, and the share of
# ticks later than 1 ms.
"$L4LBCTL" -s "$D/ctl.sock" status --json --view summary > "$D/summary.json" || true
python3 - "$D/summary.json" <<'PY' || true
import json, sys
for lag in json.load(open(sys.argv[1]))["daemon"]["lag"]:
    if lag["thread"] == "loop":
        h = lag["histogram"]
        within = dict((b[0], b[1]) for b in h["buckets"]).get(0.001, 0)
        late = 100 * (1 - within / h["count"])
        print("loop timer lateness: max %.1f ms, %.2f %% of %d ticks over 1 ms"
              % (h["max"] * 1000, late, h["count"]))
PY
if command -v promtool > /dev/null && [ -s "$D/m.1" ]; then
  promtool check metrics < "$D/m.1" > /dev/null 2>&1 && echo "promtool: ok" || echo "promtool: $(promtool check metrics < "$D/m.1" 2>&1 | head -3)"
fi
