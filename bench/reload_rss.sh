#!/bin/bash
# RSS across reloads (docs/BENCHMARKS.md, "Stop 17: memory"): bench/status_daemon.sh's N x 8
# config (60 s TCP checks, no status load), then RELOADS SIGHUP reloads GAP (default 14) s
# apart, past the trim that follows a settled reload by 10 s, alternately to N + DELTA services
# and back to N. Prints the RSS after each reload, split by mapping kind
# (the main arena, the threads' malloc arenas, other anonymous memory, files; from smaps), and
# the daemon's own log lines about the memory given back. Needs root (port 9 listener).
#   sudo L4LB_BUILD_DIR=build bench/reload_rss.sh [N] [DELTA] [RELOADS]
# L4LBD overrides the binary (to measure an older build).
set -euo pipefail
B=${L4LB_BUILD_DIR:-build}; N=${1:-10000}; DELTA=${2:-5000}; R=${3:-4}
L4LBD=${L4LBD:-$B/src/daemon/l4lbd}; L4LBCTL=${L4LBCTL:-$B/src/ctl/l4lbctl}
PORT=${PORT:-19103}
D=$(mktemp -d /tmp/reload-rss.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$D"; }
trap cleanup EXIT
. "$(dirname "$0")/status_daemon.sh"
# The larger file first (with `true` for the daemon), then the daemon on the smaller one.
start_status_daemon $((N + DELTA)) 8 "$D" "$PORT" true
mv "$D/big.yaml" "$D/large.yaml"
start_status_daemon "$N" 8 "$D" "$PORT" "$L4LBD"
cp "$D/big.yaml" "$D/small.yaml"
sleep "${WAIT:-15}"
show() {
  python3 - "$P" "$1" <<'PY'
import sys
pid, label = sys.argv[1], sys.argv[2]
kinds, cur, status = {}, None, {}
for line in open(f"/proc/{pid}/smaps"):
    head = line.split()
    if "-" in head[0] and len(head) >= 5:
        lo = int(head[0].split("-")[0], 16)
        name = head[5] if len(head) > 5 else ""
        cur = ("main arena" if name == "[heap]" else "files" if name.startswith("/") else
               "other" if name else "thread arenas" if lo % (64 << 20) == 0 and
               head[1].startswith("rw") else "anon")
    elif head[0] == "Rss:":
        kinds[cur] = kinds.get(cur, 0) + int(head[1])
for line in open(f"/proc/{pid}/status"):
    k, _, v = line.partition(":")
    status[k] = int(v.split()[0]) if k in ("VmRSS", "VmHWM") else None
print(f"{label}: VmRSS {status['VmRSS'] / 1024:.1f} MiB, VmHWM {status['VmHWM'] / 1024:.1f} MiB; "
      + ", ".join(f"{k} {v / 1024:.1f}" for k, v in sorted(kinds.items()) if k != "other"))
PY
}
show idle
for i in $(seq 1 "$R"); do
  if [ $((i % 2)) = 1 ]; then cp "$D/large.yaml" "$D/big.yaml"; n=$((N + DELTA)); else
    cp "$D/small.yaml" "$D/big.yaml"; n=$N; fi
  kill -HUP "$P"
  sleep "${GAP:-14}"  # past the trim, 10 s after the reload has settled
  show "after reload $i ($n services)"
done
grep -E "reload apply took|free memory given back" "$D/l4lbd.log" || true
