#!/usr/bin/env python3
"""IPVS programming benchmark, all inside one kernel-lab boot (QEMU, or UML where it runs;
compare figures only within one boot).

Table: 10,000 TCP virtual services x 8 destinations (90,000 operations), NAT, rr.
  1. l4lbd's programmer (tests/lab/ipvs_apply driver): empty -> converged, with a timer
     breakdown; then a one-weight change, then +100 services; then a restart (adoption).
  2. l4lbd itself: process start -> converged (its log line "first IPVS plan done", read every
     20 ms; the kernel's table checked after), --repeat times for each
     config form, with l4lbd's own start-path timings (config load, apply, first plan on the
     worker, netlink); then a SIGHUP reload that changes one weight (operations counted by
     l4lbd). Meanwhile a probe sends a cheap request to the control socket every 10 ms: the
     longest round trip is the longest stall of the loop it saw (plus the probe's own
     scheduling); only with --probe, since it costs the one-CPU guest time.
  2b. stall: tests/lab/ipvs_stall (netlink): a 1 ms timer's lateness on the loop while
     empty -> converged, programmed in one handler (the old way) and on the plan worker.
  3. `ipvsadm -R` restoring the same rules.
  4. keepalived (--check only) with the same virtual_server blocks, until the kernel holds
     all of it (the last service complete, polled every --poll seconds; /proc/net/ip_vs checked after),
     --repeat times.
Each part gets a fresh network namespace (see enter()). One JSON object per result line on
stdout; medians and ratios last.

    sudo L4LB_BUILD_DIR=build python3 bench/ipvs_bench.py [--services N] [--dests M]
        [--form compact|distinct|both] [--repeat R] [--probe] [--poll SECONDS]
        [--only programmer,l4lbd,stall,ipvsadm,keepalived,perf]

--form distinct writes l4lb.yaml with one entry per service (as keepalived users write
them); compact uses port ranges; both runs l4lbd with each (keepalived's file is always one
virtual_server per service).
"""
import argparse
import json
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "pylib"))
import lab  # noqa: E402

GUEST = r'''
import json, os, re, signal, socket, subprocess, sys, threading, time
from lab import sh, Guest, write, apply_configs, BUILD_DIR, wait_for

N, M = __N__, __M__
ONLY = [x for x in __ONLY__.split(",") if x]
FORMS = ["distinct", "compact"] if __FORM__ == "both" else [__FORM__]
FORM = FORMS[0]
REPEAT = __REPEAT__
PROBE = __PROBE__
POLL = __POLL__
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

def l4lb_config(weight=1, extra=False, form=None):
    form = form or FORM
    bks = "".join(f"      - {{address: {b}}}\n" for b in BACKENDS)
    if form == "distinct":
        text = "services:\n" + distinct("bulk", range(1000, 1000 + N - 1), bks)
    else:
        text = ("services:\n  - name: bulk\n    vip: " + VIP + "\n    ports: [" +
                ", ".join(port_ranges(1000, N - 1)) + "]\n    scheduler: rr\n"
                "    health: {type: none}\n    backends:\n" + bks)
    text += ("  - name: single\n    vip: " + VIP + f"\n    port: {SINGLE}\n    scheduler: rr\n"
             "    health: {type: none}\n    backends:\n")
    for i, b in enumerate(BACKENDS):
        text += f"      - {{address: {b}, weight: {weight if i == 0 else 1}}}\n"
    if extra and form == "distinct":
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

START_LINES = re.compile(r"start: .*|ipvs apply: .*|ipvs kernel holds .*")

# 2. l4lbd itself.
def bench_l4lbd(form, run):
  enter(f"l4lbd-{form}-{run}")
  d = g.daemon(f"bench-{form}-{run}", l4lb_config(form=form), log_level="info", ns=NS)
  probe = LoopProbe(d.sock)
  t0 = time.monotonic()
  d.start()
  if PROBE:
    probe.start()
  # l4lbd says when its first plan is sent and answered: its log is read every 20 ms (a file
  # read, no process started in the one-CPU guest), then the kernel is checked. Polling
  # ipvsadm every POLL seconds instead added up to POLL to a 3-5 s figure; keepalived, which
  # logs no such line, is still polled (up to POLL on 30 s).
  done = lambda: "start: first IPVS plan done" in d.log() or d.proc.poll() is not None
  ok = wait_for(done, 600, 0.02)
  l4lbd_s = time.monotonic() - t0
  ok = ok and last_complete()
  if PROBE:
    probe.stop = True
    probe.join()
    emit({"bench": "ipvs_loop_probe", "impl": "l4lbd", "case": "converge", "form": form,
          "run": run,
          "socket_up_s": round(probe.first - t0, 2) if probe.first else None,
          **probe.summary(),
          "note": "control-socket round trips every 10 ms from the socket's appearance until "
                  "the table is complete"})
  # l4lbd's own log says what it did (a status at this size is a large document: not used).
  log = d.log()
  applied = [int(x) for x in re.findall(r"ipvs apply: (\d+) operations", log)]
  emit({"bench": "ipvs_apply", "impl": "l4lbd", "case": "converge", "form": form, "run": run,
        "services": N, "dests": N * M, "operations": sum(applied),
        "kernel_lines": proc_lines(), "converged": ok and proc_lines() == FULL,
        "seconds": l4lbd_s, "timings": START_LINES.findall(log),
        "note": "process start to l4lbd's log line 'first IPVS plan done' (read every 20 ms), "
                "the kernel's table checked after"})
  if run > 0 or form != FORMS[0]:
    d.kill(signal.SIGKILL)
    return
  d.write_config(l4lb_config(weight=5, form=form))
  d.reload()
  wait_for(lambda: re.search(r"reload applied[^\n]*\n(?:.*\n)*?.*ipvs apply: \d+ operations",
                             d.log()), 300, 0.5)
  after = d.log()[len(log):]
  ops = [int(x) for x in re.findall(r"ipvs apply: (\d+) operations", after)]
  emit({"bench": "ipvs_reload_one_weight", "impl": "l4lbd", "form": form, "operations": sum(ops),
        "timings": re.findall(r"reload apply took .*|ipvs apply: .*", after)})
  d.kill(signal.SIGKILL)
  flush()

if not want("l4lbd"):
    pass
elif (BUILD_DIR / "src/daemon/l4lbd").exists():
    for run in range(REPEAT):
        for form in FORMS:
            bench_l4lbd(form, run)
else:
    emit({"bench": "ipvs_apply", "impl": "l4lbd", "skipped": "l4lbd not built"})

# 2b. How long programming holds the loop (tests/lab/ipvs_stall.cpp): a 1 ms timer's lateness
# while empty -> N x M is programmed, in one handler (before) and on the plan worker (now).
def bench_stall():
    for mode in ("oneshot", "worker"):
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
def bench_keepalived(run):
    enter(f"keepalived-{run}")
    blocks = ["global_defs {\n  router_id bench\n}\n"]
    for p in all_ports():
        reals = "".join(f"  real_server {b} {p} {{\n    weight 1\n  }}\n" for b in BACKENDS)
        blocks.append(f"virtual_server {VIP} {p} {{\n  delay_loop 3600\n  lb_algo rr\n"
                      f"  lb_kind NAT\n  protocol TCP\n{reals}}}\n")
    write(f"{W}/keepalived.conf", "".join(blocks))
    log = open(f"{os.environ['LAB_OUT']}/keepalived-{run}.log", "w")
    t0 = time.monotonic()
    k = subprocess.Popen(nsx(["keepalived", "--check", "--dont-fork", "--log-console", "-f",
                              f"{W}/keepalived.conf", "-p", f"{W}/k.pid", "-c",
                              f"{W}/kc.pid", "-r", f"{W}/kv.pid"]), stdout=log, stderr=log)
    ok = wait_for(lambda: last_complete() or k.poll() is not None, 900, POLL)
    keepalived_s = time.monotonic() - t0
    emit({"bench": "ipvs_apply", "impl": "keepalived", "case": "converge", "run": run,
          "services": N,
          "dests": N * M, "kernel_lines": proc_lines(), "converged": proc_lines() >= FULL,
          "seconds": keepalived_s,
          "note": f"start to the last service complete, polled every {POLL} s"})
    k.send_signal(signal.SIGTERM)
    try:
        k.wait(120)
    except subprocess.TimeoutExpired:
        k.kill()

if want("keepalived"):
    for run in range(REPEAT):
        bench_keepalived(run)

# 5. Where the guest's CPU goes while l4lbd starts (distinct form): perf over the whole
# system (cpu-clock: the emulated CPU has no PMU), by process and library, and by symbol.
# Also what starting a process costs here (dynamic linking), l4lbd's and keepalived's.
def bench_perf():
    for argv in ([str(BUILD_DIR / "src/daemon/l4lbd"), "--version"], ["keepalived", "--version"]):
        times = []
        for _ in range(3):
            t = time.monotonic()
            subprocess.run(argv, capture_output=True)
            times.append(round(time.monotonic() - t, 3))
        emit({"bench": "process_start", "argv": " ".join(argv), "seconds": times})
    enter("perf")
    d = g.daemon("perf", l4lb_config(form="distinct"), log_level="info", ns=NS)
    data = f"{W}/perf.data"
    p = subprocess.Popen(["perf", "record", "-a", "-g", "-e", "cpu-clock", "-F", "250", "-o",
                          data], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(3)
    t0 = time.monotonic()
    d.start()
    ok = wait_for(lambda: last_complete() or d.proc.poll() is not None, 600, POLL)
    secs = time.monotonic() - t0
    p.send_signal(signal.SIGINT)
    err = p.communicate(timeout=300)[1]
    out = os.environ["LAB_OUT"]
    reports = {}
    for name, sort in (("comm-dso", "comm,dso"), ("symbol", "comm,dso,symbol")):
        r = subprocess.run(["perf", "report", "-i", data, "--no-children", "--sort", sort,
                            "--stdio", "-g", "none", "--percent-limit", "0.5"],
                           capture_output=True, text=True)
        write(f"{out}/perf-{name}.txt", r.stdout + r.stderr)
        reports[name] = [l for l in r.stdout.splitlines() if l.strip() and not l.startswith("#")][:25]
    emit({"bench": "perf_l4lbd_start", "form": "distinct", "converged": ok, "seconds": secs,
          "perf_stderr": err[-500:], "comm_dso": reports["comm-dso"], "top": reports["symbol"],
          "timings": START_LINES.findall(d.log())})
    d.kill(signal.SIGKILL)

if want("perf"):
    bench_perf()

'''


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--services", type=int, default=10000)
    ap.add_argument("--dests", type=int, default=8)
    ap.add_argument("--timeout", type=int, default=3000)
    ap.add_argument("--keep", help="copy the guest's logs (l4lbd, keepalived) into this folder")
    ap.add_argument("--form", choices=("compact", "distinct", "both"), default="both",
                    help="l4lb.yaml as port ranges (compact), one entry per service (distinct), "
                         "or l4lbd with each (both)")
    ap.add_argument("--probe", action="store_true",
                    help="probe l4lbd's loop over its control socket every 10 ms while it "
                         "converges (costs the one-CPU guest time: off for start-up figures)")
    ap.add_argument("--poll", type=float, default=0.5,
                    help="seconds between convergence polls; each poll runs `ip netns exec "
                         "ipvsadm` in the one-CPU guest (at 0.1 s, perf put half the guest's "
                         "CPU in those two programs)")
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs of l4lbd (per form) and of keepalived: medians are reported")
    ap.add_argument("--only", default="",
                    help="comma list of parts: programmer,l4lbd,stall,ipvsadm,keepalived,perf")
    args = ap.parse_args()
    why = lab.available()
    if why:
        print(json.dumps({"bench": "ipvs", "skipped": why}))
        return 0
    script = (GUEST.replace("__N__", str(args.services)).replace("__M__", str(args.dests))
              .replace("__ONLY__", repr(args.only)).replace("__FORM__", repr(args.form))
              .replace("__REPEAT__", str(args.repeat)).replace("__PROBE__", str(args.probe))
              .replace("__POLL__", str(args.poll)))
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
    # Medians of the converge runs, by implementation (and l4lbd by form).
    runs = {}
    for x in results:
        if x.get("bench") == "ipvs_apply" and x.get("case") == "converge" and "seconds" in x:
            impl = x["impl"] + (f"-{x['form']}" if x["impl"] == "l4lbd" else "")
            runs.setdefault(impl, []).append(x["seconds"])
    conv = {impl: statistics.median(v) for impl, v in runs.items()}
    for impl, v in runs.items():
        print(json.dumps({"bench": "ipvs_converge_median", "impl": impl, "runs": len(v),
                          "seconds": [round(t, 2) for t in v],
                          "median": round(conv[impl], 2)}))
    if "keepalived" in conv and conv["keepalived"] > 0:
        for impl in conv:
            if impl.startswith("l4lbd-") and impl != "l4lbd-programmer":
                print(json.dumps({"bench": "ipvs_start_ratio", "impl": impl, "vs": "keepalived",
                                  "ratio": round(conv[impl] / conv["keepalived"], 3),
                                  "goal": 0.1}))
    if "l4lbd-programmer" in conv:
        for other in ("keepalived", "ipvsadm-R"):
            if other in conv:
                for impl in [i for i in conv if i.startswith("l4lbd")]:
                    if impl in conv and conv[impl] > 0:
                        print(json.dumps({"bench": "ipvs_ratio", "impl": impl, "vs": other,
                                          "speedup": round(conv[other] / conv[impl], 1)}))
    if r.rc != 0 or r.timed_out:
        print(r.report(), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
