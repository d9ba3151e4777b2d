#!/usr/bin/env python3
"""IPVS programming benchmark, all inside one UML boot (compare figures only within it).

Table: 10,000 TCP virtual services x 8 destinations (90,000 operations), NAT, rr.
  1. l4lbd's programmer (tests/lab/ipvs_apply driver): empty -> converged, with a timer
     breakdown; then a one-weight change, then +100 services; then a restart (adoption).
  2. l4lbd itself: empty -> converged (last service polled), then a SIGHUP reload that
     changes one weight (operations counted by l4lbd). Meanwhile a probe sends a cheap
     request to the control socket every 10 ms: the longest round trip is the longest stall
     of the loop it saw (plus the probe's own scheduling).
  2b. stall: tests/lab/ipvs_stall (netlink): a 1 ms timer's lateness on the loop while
     empty -> converged, programmed in one handler (the old way) and sliced.
  3. `ipvsadm -R` restoring the same rules.
  4. keepalived (--check only) with the same virtual_server blocks, until the kernel holds
     all of it (the last service complete, polled every 0.1 s; /proc/net/ip_vs checked after).
Each part gets a fresh network namespace (see enter()). One JSON object per result line on
stdout; ratios last.

    sudo L4LB_BUILD_DIR=build python3 bench/ipvs_bench.py [--services N] [--dests M]
        [--form compact|distinct] [--only programmer,l4lbd,stall,ipvsadm,keepalived]

--form distinct writes l4lb.yaml with one entry per service (as keepalived users write
them); compact uses port ranges.
"""
import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "pylib"))
import lab  # noqa: E402

GUEST = r'''
import json, os, signal, socket, subprocess, sys, threading, time
from lab import sh, Guest, write, apply_configs, BUILD_DIR, wait_for

N, M = __N__, __M__
ONLY = [x for x in __ONLY__.split(",") if x]
FORM = __FORM__
want = lambda part: not ONLY or part in ONLY
VIP = "10.0.100.1"
BACKENDS = [f"10.1.0.{11 + i}" for i in range(M)]
SINGLE = 20000          # one single-port service: the one-weight change happens there
EXTRA = range(30000, 30100)  # +100 services
W = "/run/bench"
os.makedirs(W, exist_ok=True)

def emit(obj):
    print(json.dumps(obj), flush=True)

def port_ranges(first, count):
    out, p = [], first
    while count > 0:
        n = min(1000, count)
        out.append(f'"{p}-{p + n - 1}"')
        p, count = p + n, count - n
    return out

def distinct(name, ports, bks):
    """One entry per port, as keepalived users write them (one virtual_server each)."""
    return "".join(f"  - name: {name}{p}\n    vip: {VIP}\n    port: {p}\n    scheduler: rr\n"
                   f"    health: {{type: none}}\n    backends:\n{bks}" for p in ports)

def l4lb_config(weight=1, extra=False):
    bks = "".join(f"      - {{address: {b}}}\n" for b in BACKENDS)
    if FORM == "distinct":
        text = "services:\n" + distinct("bulk", range(1000, 1000 + N - 1), bks)
    else:
        text = ("services:\n  - name: bulk\n    vip: " + VIP + "\n    ports: [" +
                ", ".join(port_ranges(1000, N - 1)) + "]\n    scheduler: rr\n"
                "    health: {type: none}\n    backends:\n" + bks)
    text += ("  - name: single\n    vip: " + VIP + f"\n    port: {SINGLE}\n    scheduler: rr\n"
             "    health: {type: none}\n    backends:\n")
    for i, b in enumerate(BACKENDS):
        text += f"      - {{address: {b}, weight: {weight if i == 0 else 1}}}\n"
    if extra and FORM == "distinct":
        text += distinct("extra", EXTRA, bks)
    elif extra:
        text += ("  - name: extra\n    vip: " + VIP + "\n    ports: [" +
                 ", ".join(port_ranges(EXTRA[0], len(EXTRA))) + "]\n    scheduler: rr\n"
                 "    health: {type: none}\n    backends:\n" + bks)
    return text

def all_ports():
    return list(range(1000, 1000 + N - 1)) + [SINGLE]

# Each part runs in a fresh network namespace (IPVS state is per namespace): deleted
# destinations linger in the kernel's per-namespace "dest trash" for 2-4 minutes, and
# every later add-dest scans that list, so a flushed namespace would handicap whoever
# comes next (measured: 0.22 s -> 78 s of kernel time for the same 90,000 operations).
NS = None

def enter(part):
    global NS
    if NS:
        sh(f"ip netns exec {NS} ipvsadm -C")  # drops its estimators; the trash stays there
    NS = f"bench-{part}"
    sh(f"ip netns add {NS}")
    sh("ip link set lo up && ip link add vips type dummy && ip link set vips up && "
       f"ip addr add {VIP}/32 dev vips", ns=NS)

def nsx(argv):
    return ["ip", "netns", "exec", NS] + argv

def proc_lines():
    out = subprocess.run(nsx(["cat", "/proc/net/ip_vs"]), capture_output=True, text=True).stdout
    return len(out.splitlines())

HEADER = 3  # /proc/net/ip_vs: version, service and destination column headers
FULL = HEADER + N * (1 + M)

def last_complete():
    """Cheap convergence probe: the service written last (port SINGLE, last in both
    l4lbd's and keepalived's order) has all its destinations. Reading /proc/net/ip_vs
    instead would cost seconds per poll at 90,000 lines and starve the programmer."""
    out = subprocess.run(nsx(["ipvsadm", "-Ln", "-t", f"{VIP}:{SINGLE}"]), capture_output=True,
                         text=True).stdout
    return sum(1 for line in out.splitlines() if "10.1.0." in line) >= M

def flush():
    pass  # the next part enters its own namespace

g = Guest(clients=0, backends=0)
base = write(f"{W}/base.yaml", l4lb_config())
weight = write(f"{W}/weight.yaml", l4lb_config(weight=5))
plus = write(f"{W}/plus.yaml", l4lb_config(weight=5, extra=True))

# 1. The programmer through the driver.
def bench_programmer():
    enter("programmer")
    rc, lines = apply_configs(f"{W}/drv", base, weight, plus, ns=NS)
    steps = [l for l in lines if l.get("step") == "apply"]
    for name, l in zip(("converge", "one_weight", "plus_100_services"), steps):
        emit({"bench": "ipvs_apply", "impl": "l4lbd-programmer", "case": name,
              "services": l["services"], "dests": l["dests"],
              "operations": l["netlink_operations"], "batches": l["netlink_batches"],
              "failed": len(l["failed"]), "seconds": l["seconds"],
              "breakdown": {k: l[k] for k in ("load_seconds", "desired_seconds", "plan_seconds",
                                               "kernel_seconds", "record_seconds",
                                               "model_seconds")}})
    emit({"bench": "ipvs_check", "impl": "l4lbd-programmer", "kernel_lines": proc_lines(),
          "expected": FULL + len(EXTRA) * (1 + M)})
    t0 = time.monotonic()
    rc, lines = apply_configs(f"{W}/drv", plus, ns=NS)
    opened, applied = lines[0], lines[-1]
    emit({"bench": "ipvs_restart_adopt", "impl": "l4lbd-programmer",
          "services": applied["services"], "dests": applied["dests"],
          "dump_seconds": opened["seconds"], "dumps": opened["dumps"],
          "operations": applied["netlink_operations"], "seconds": time.monotonic() - t0})
    flush()

if want("programmer"):
    bench_programmer()

# The loop's responsiveness while it programs: a cheap request (an unknown command, answered
# at once by the loop without any work) every 10 ms on the control socket; its round trip
# is the longest the loop kept it waiting (plus the probe's own scheduling in the one-CPU UML).
class LoopProbe(threading.Thread):
    def __init__(self, path):
        super().__init__(daemon=True)
        self.path, self.stop, self.rtts, self.first = path, False, [], None
    def run(self):
        while not self.stop:
            t = time.monotonic()
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
                    c.settimeout(60)
                    c.connect(self.path)
                    c.sendall(b'{"command": "ping"}\n')
                    c.recv(4096)
                self.rtts.append(time.monotonic() - t)
                if self.first is None:
                    self.first = t
            except OSError:
                pass
            time.sleep(0.01)
    def summary(self):
        r = sorted(self.rtts)
        if not r:
            return {"samples": 0}
        return {"samples": len(r), "max_ms": round(r[-1] * 1000, 1),
                "p99_ms": round(r[int(len(r) * 0.99)] * 1000, 1),
                "median_ms": round(r[len(r) // 2] * 1000, 1)}

# 2. l4lbd itself.
def bench_l4lbd():
  enter("l4lbd")
  d = g.daemon("bench", l4lb_config(), log_level="info", ns=NS)
  probe = LoopProbe(d.sock)
  t0 = time.monotonic()
  d.start()
  probe.start()
  ok = wait_for(lambda: last_complete() or d.proc.poll() is not None, 600, 0.1)
  l4lbd_s = time.monotonic() - t0
  probe.stop = True
  probe.join()
  emit({"bench": "ipvs_loop_probe", "impl": "l4lbd", "case": "converge", "form": FORM,
        "socket_up_s": round(probe.first - t0, 2) if probe.first else None, **probe.summary(),
        "note": "control-socket round trips every 10 ms from the socket's appearance until "
                "the table is complete"})
  # A status at this size dumps 10,000 services one netlink dump each: allow it time.
  st = d.status(timeout=120) or {"ipvs": {}}
  emit({"bench": "ipvs_apply", "impl": "l4lbd", "case": "converge", "form": FORM, "services": N,
        "dests": N * M,
        "operations": st["ipvs"].get("operations_total"), "kernel_lines": proc_lines(),
        "converged": ok and proc_lines() == FULL, "seconds": l4lbd_s,
        "note": "process start to the last service complete, polled every 0.1 s"})
  before = st["ipvs"].get("operations_total", 0)
  d.write_config(l4lb_config(weight=5))
  d.reload()
  wait_for(lambda: (d.status(timeout=120) or {"ipvs": {}})["ipvs"].get("operations_total", 0)
           > before, 300, 0.5)
  time.sleep(1)
  st = d.status(timeout=120) or {"ipvs": {}}
  emit({"bench": "ipvs_reload_one_weight", "impl": "l4lbd",
        "operations": st["ipvs"].get("operations_total", 0) - before})
  d.kill(signal.SIGKILL)
  flush()

if not want("l4lbd"):
    pass
elif (BUILD_DIR / "src/daemon/l4lbd").exists():
    bench_l4lbd()
else:
    emit({"bench": "ipvs_apply", "impl": "l4lbd", "skipped": "l4lbd not built"})

# 2b. How long programming holds the loop (tests/lab/ipvs_stall.cpp): a 1 ms timer's lateness
# while empty -> N x M is programmed, in one handler (before) and sliced (now).
def bench_stall():
    for mode in ("oneshot", "sliced"):
        enter(f"stall-{mode}")
        out = subprocess.run(nsx([str(BUILD_DIR / "tests/unit/ipvs/ipvs_stall"), "--kernel",
                                  "netlink", "--mode", mode, "--services", str(N), "--dests",
                                  str(M)]), capture_output=True, text=True, timeout=600).stdout
        for line in out.splitlines():
            if line.startswith("{"):
                emit({"bench": "ipvs_loop_stall", **json.loads(line)})

if want("stall"):
    bench_stall()

# 3. ipvsadm -R.
def bench_ipvsadm():
    enter("ipvsadm")
    rules = []
    for p in all_ports():
        rules.append(f"-A -t {VIP}:{p} -s rr")
        rules += [f"-a -t {VIP}:{p} -r {b}:{p} -m -w 1" for b in BACKENDS]
    write(f"{W}/rules", "\n".join(rules) + "\n")
    t0 = time.monotonic()
    subprocess.run(f"ip netns exec {NS} ipvsadm -R < {W}/rules", shell=True, check=True)
    ipvsadm_s = time.monotonic() - t0
    emit({"bench": "ipvs_apply", "impl": "ipvsadm-R", "case": "converge", "services": N,
          "dests": N * M, "kernel_lines": proc_lines(), "converged": proc_lines() == FULL,
          "seconds": ipvsadm_s})
    flush()

if want("ipvsadm"):
    bench_ipvsadm()

# 4. keepalived, checker process only.
def bench_keepalived():
    enter("keepalived")
    blocks = ["global_defs {\n  router_id bench\n}\n"]
    for p in all_ports():
        reals = "".join(f"  real_server {b} {p} {{\n    weight 1\n  }}\n" for b in BACKENDS)
        blocks.append(f"virtual_server {VIP} {p} {{\n  delay_loop 3600\n  lb_algo rr\n"
                      f"  lb_kind NAT\n  protocol TCP\n{reals}}}\n")
    write(f"{W}/keepalived.conf", "".join(blocks))
    log = open(f"{os.environ['LAB_OUT']}/keepalived.log", "w")
    t0 = time.monotonic()
    k = subprocess.Popen(nsx(["keepalived", "--check", "--dont-fork", "--log-console", "-f",
                              f"{W}/keepalived.conf", "-p", f"{W}/k.pid", "-c",
                              f"{W}/kc.pid", "-r", f"{W}/kv.pid"]), stdout=log, stderr=log)
    ok = wait_for(lambda: last_complete() or k.poll() is not None, 900, 0.1)
    keepalived_s = time.monotonic() - t0
    emit({"bench": "ipvs_apply", "impl": "keepalived", "case": "converge", "services": N,
          "dests": N * M, "kernel_lines": proc_lines(), "converged": proc_lines() >= FULL,
          "seconds": keepalived_s, "note": "start to the last service complete, polled every 0.1 s"})
    k.send_signal(signal.SIGTERM)
    try:
        k.wait(120)
    except subprocess.TimeoutExpired:
        k.kill()

if want("keepalived"):
    bench_keepalived()

'''


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--services", type=int, default=10000)
    ap.add_argument("--dests", type=int, default=8)
    ap.add_argument("--timeout", type=int, default=3000)
    ap.add_argument("--keep", help="copy the guest's logs (l4lbd, keepalived) into this folder")
    ap.add_argument("--form", choices=("compact", "distinct"), default="compact",
                    help="l4lb.yaml as port ranges (compact) or one entry per service (distinct)")
    ap.add_argument("--only", default="", help="comma list of parts: programmer,l4lbd,stall,ipvsadm,keepalived")
    args = ap.parse_args()
    why = lab.available()
    if why:
        print(json.dumps({"bench": "ipvs", "skipped": why}))
        return 0
    script = (GUEST.replace("__N__", str(args.services)).replace("__M__", str(args.dests))
              .replace("__ONLY__", repr(args.only)).replace("__FORM__", repr(args.form)))
    with lab.Lab("bench-ipvs", mem="1536M") as l:
        r = l.run(script, timeout=args.timeout)
    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
        for name, text in r.files.items():
            Path(args.keep, name).write_text(text)
    results = []
    for line in r.stdout.splitlines():
        if line.startswith("{"):
            print(line, flush=True)
            results.append(json.loads(line))
    conv = {x["impl"]: x["seconds"] for x in results
            if x.get("bench") == "ipvs_apply" and x.get("case") == "converge"}
    if "l4lbd-programmer" in conv:
        for other in ("keepalived", "ipvsadm-R"):
            if other in conv:
                for impl in ("l4lbd-programmer", "l4lbd"):
                    if impl in conv and conv[impl] > 0:
                        print(json.dumps({"bench": "ipvs_ratio", "impl": impl, "vs": other,
                                          "speedup": round(conv[other] / conv[impl], 1)}))
    if r.rc != 0 or r.timed_out:
        print(r.report(), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
