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
python3 - "$N" "$M" "$D" > "$D/big.yaml" <<'PY'
import sys
n, m, d = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
out = [f"state_dir: {d}/state", f"control: {{socket: {d}/ctl.sock}}",
       "metrics: {listen: '127.0.0.1:19101'}", "services:"]
for i in range(n):
    out += [f"  - name: svc-{i:05d}", f"    vip: 10.{(i >> 8) & 255}.{i & 255}.1", "    port: 80",
            "    health: {type: tcp, interval: 60s, timeout: 1s}", "    backends:"]
    for k in range(m):
        j = i * m + k
        out.append(f"      - {{address: 127.{1 + (j >> 16)}.{(j >> 8) & 255}.{j & 255}, port: 9}}")
print("\n".join(out))
PY
mkdir -p "$D/state"
python3 -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 9)); s.listen(4096)
while True: s.accept()[0].close()' &
pids+=($!)
"$B/src/daemon/l4lbd" -c "$D/big.yaml" --log-level debug > "$D/l4lbd.log" 2>&1 &
P=$!; pids+=($P)
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
