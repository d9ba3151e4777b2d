# Sourced by bench/status_scale.sh and bench/status_load_rss.sh: the daemon both measure.
# start_status_daemon N M DIR PORT L4LBD [L4LBD ARGS...] writes DIR/big.yaml (N services x M
# backends, a TCP check every 60 s each, /metrics on 127.0.0.1:PORT, the control socket
# DIR/ctl.sock), starts a listener on port 9 that accepts and closes (every check up) and
# l4lbd on the file (log in DIR/l4lbd.log). Sets P to the daemon's pid and appends both pids
# to the caller's `pids` array.
start_status_daemon() {
  local n=$1 m=$2 d=$3 port=$4 l4lbd=$5
  shift 5
  python3 - "$n" "$m" "$d" "$port" > "$d/big.yaml" <<'PY'
import sys
n, m, d, port = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
out = [f"state_dir: {d}/state", f"control: {{socket: {d}/ctl.sock}}",
       f"metrics: {{listen: '127.0.0.1:{port}'}}", "services:"]
for i in range(n):
    out += [f"  - name: svc-{i:05d}", f"    vip: 10.{(i >> 8) & 255}.{i & 255}.1", "    port: 80",
            "    health: {type: tcp, interval: 60s, timeout: 1s}", "    backends:"]
    for k in range(m):
        j = i * m + k
        out.append(f"      - {{address: 127.{1 + (j >> 16)}.{(j >> 8) & 255}.{j & 255}, port: 9}}")
print("\n".join(out))
PY
  mkdir -p "$d/state"
  python3 -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 9)); s.listen(4096)
while True: s.accept()[0].close()' &
  pids+=($!)
  "$l4lbd" -c "$d/big.yaml" "$@" > "$d/l4lbd.log" 2>&1 &
  P=$!
  pids+=($P)
}
