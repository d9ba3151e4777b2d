#!/bin/bash
# Status and /metrics at scale (docs/BENCHMARKS.md, "Stop 12"): N services x M backends, every
# check up, l4lbd on the host (no IPVS needed). Prints the timings, sizes, RSS and the
# daemon's snapshot lines. Needs root (port 9 listener, half-open checks), curl, python3.
#   sudo L4LB_BUILD_DIR=build bench/status_scale.sh [SERVICES] [BACKENDS]
set -euo pipefail
B=${L4LB_BUILD_DIR:-build}; N=${1:-10000}; M=${2:-8}
D=$(mktemp -d /tmp/status-scale.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$D"; }
trap cleanup EXIT
. "$(dirname "$0")/status_daemon.sh"
start_status_daemon "$N" "$M" "$D" 19101 "$B/src/daemon/l4lbd" --log-level debug
sleep "${WAIT:-70}"  # the first checks are spread over the 60 s interval
rss() { grep -E 'VmRSS|VmHWM' "/proc/$P/status" | tr -s ' \t' ' ' | tr '\n' ' '; echo; }
raw() {  # the daemon's reply alone, read off the socket
  python3 - "$D/ctl.sock" "$1" <<'PY'
import socket, sys, time
t = time.monotonic(); s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(('{"command":"status","view":"%s"}\n' % sys.argv[2]).encode()); n = 0
while True:
    b = s.recv(1 << 20)
    if not b: break
    n += len(b)
    if b.endswith(b"\n"): break
print(f"reply {sys.argv[2]}: {time.monotonic() - t:.3f} s, {n} bytes")
PY
}
ctl="$B/src/ctl/l4lbctl -s $D/ctl.sock"
echo "idle: $(rss)"
for _ in 1 2 3 4 5; do /usr/bin/time -f "status (text) %e s" $ctl status > "$D/text"; done
wc -lc < "$D/text"; echo "after text: $(rss)"
for _ in 1 2 3; do /usr/bin/time -f "status --json --view summary %e s" $ctl status --json --view summary > "$D/sum"; done
wc -c < "$D/sum"; raw summary; raw full; echo "after the replies: $(rss)"
/usr/bin/time -f "status --json (full) %e s" $ctl status --json > "$D/full"; wc -c < "$D/full"
echo "after full: $(rss)"
/usr/bin/time -f "status svc-00042 %e s" $ctl status svc-00042 > /dev/null
for _ in 1 2; do /usr/bin/time -f "metrics %e s" curl -s -o "$D/metrics" http://127.0.0.1:19101/metrics; done
wc -lc < "$D/metrics"; echo "after metrics: $(rss)"
grep "status snapshot" "$D/l4lbd.log" || true
