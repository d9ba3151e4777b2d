#!/usr/bin/env python3
"""Health-checking benchmark: N TCP backends (listeners on 127.1.x.y) checked every interval.

Measures, over a window of --seconds, the checker's CPU share of one core (utime+stime from
/proc, children included), its RSS (VmRSS at the end, VmHWM peak), and the detection time of
backends killed during the window (kill -> "down" reported), against the bound
interval x fall + timeout. Prints one JSON object per result line.

  bench/health.py [--backends 10000] [--seconds 60] [--interval-ms 1000] [--timeout-ms 1000]
                  [--fall 3] [--rise 2] [--kills 5] [--impl l4lb|keepalived|both]
                  [--ports 1]

--ports P gives the service P ports (9000, 9001, ...), every backend listening on each: l4lb
checks each port on its own (P checks per backend; per_port: true, so also above 32 ports); a kill closes a backend's first port only,
and detection is measured on that port. l4lb (health_probe) only.

l4lb runs the real health::Monitor through tests/unit/health/health_probe ($L4LB_BUILD_DIR,
default build/); l4lbd is the whole daemon (checks plus its IPVS table: kernel lab only). keepalived's checker needs IPVS, which this host kernel lacks: run with
--impl keepalived (or both) inside the UML kernel lab (bench/health_lab.py does that). Stdlib only.
"""

import argparse
import ipaddress
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(HERE)
BUILD = os.environ.get("L4LB_BUILD_DIR", os.path.join(SOURCE, "build"))
FIRST = ipaddress.IPv4Address("127.1.0.1")
PORT = 9000
CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_tree(root):
    """root and all its descendants (keepalived forks its checker)."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                parts = f.read().rsplit(")", 1)[1].split()
            children.setdefault(int(parts[1]), []).append(int(d))
        except (OSError, IndexError):
            pass
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def cpu_ticks(pids):
    """(user, system) clock ticks of `pids`."""
    user = system = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                parts = f.read().rsplit(")", 1)[1].split()
            user += int(parts[11])
            system += int(parts[12])
        except (OSError, IndexError):
            pass
    return user, system


def cpu_ns(pids):
    """Nanoseconds on CPU of `pids` and all their threads (/proc/PID/task/TID/schedstat: the
    scheduler's exact run time, softirq work done in the task's context included), or None
    when the kernel has no schedstat. Exact where the tick-sampled utime/stime are not: a
    checker that wakes on a timer grid can be in phase with the 250 Hz tick and be sampled
    too often or too rarely."""
    total = 0
    for p in pids:
        try:
            tids = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for t in tids:
            try:
                with open(f"/proc/{p}/task/{t}/schedstat") as f:
                    total += int(f.read().split()[0])
            except FileNotFoundError:
                if not os.path.exists(f"/proc/{p}/task/{t}/schedstat"):
                    return None
            except (OSError, ValueError, IndexError):
                pass
    return total


def mem_kib(pids, field):
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith(field + ":"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


class Reader(threading.Thread):
    """Timestamps every line of a process's output on arrival."""

    def __init__(self, stream):
        super().__init__(daemon=True)
        self.stream, self.lines, self.lock = stream, [], threading.Lock()

    def run(self):
        for raw in self.stream:
            line = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
            with self.lock:
                self.lines.append((time.monotonic(), line.rstrip("\n")))

    def snapshot(self):
        with self.lock:
            return list(self.lines)


class BackendNetns:
    """--backend-netns: the backends in a namespace of their own, as on another host. The
    checker runs in a second namespace pinned to CPU 0; a veth pair joins them, and receive
    processing on both ends is steered (RPS) to CPU 1 with the listeners, as a NIC's interrupts
    would run on a core of their own. The checker's CPU time is then its own work: building
    and sending SYNs, reading answers, its timers and bookkeeping - not the backends' kernel
    work, which on loopback runs inside the checker's system calls."""

    def __init__(self):
        tag = f"hb{os.getpid() % 100000}"
        self.c, self.s, self.a, self.b = tag + "c", tag + "s", tag + "a", tag + "b"
        self.first = ipaddress.IPv4Address("10.201.0.1")
        self.checker = ["ip", "netns", "exec", self.c, "taskset", "-c", "0"]
        self.listeners = ["ip", "netns", "exec", self.s, "taskset", "-c", "1"]

    def __enter__(self):
        if (os.cpu_count() or 1) < 2:
            raise RuntimeError("--backend-netns needs two CPUs")
        run = lambda *cmd: subprocess.run(cmd, check=True)
        run("ip", "netns", "add", self.c)
        try:
            run("ip", "netns", "add", self.s)
            run("ip", "-n", self.c, "link", "add", self.a, "type", "veth", "peer", "name",
                self.b, "netns", self.s)
            for ns, dev, addr in ((self.c, self.a, "10.255.0.1/30"), (self.s, self.b, "10.255.0.2/30")):
                run("ip", "-n", ns, "addr", "add", addr, "dev", dev)
                run("ip", "-n", ns, "link", "set", dev, "up")
                run("ip", "-n", ns, "link", "set", "lo", "up")
                run("ip", "netns", "exec", ns, "sh", "-c",
                    f"echo 2 > /sys/class/net/{dev}/queues/rx-0/rps_cpus")
            # Every address of 10.201/16 is local to the backend namespace (AnyIP).
            run("ip", "-n", self.s, "route", "add", "local", "10.201.0.0/16", "dev", "lo")
            run("ip", "-n", self.c, "route", "add", "10.201.0.0/16", "via", "10.255.0.2")
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc):
        for ns in (self.c, self.s):
            subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)


NETNS = None  # a BackendNetns under --backend-netns


def start_listeners(n, ports=1):
    prefix = NETNS.listeners if NETNS else []
    p = subprocess.Popen(prefix + [sys.executable, os.path.join(HERE, "health_listeners.py"), str(n),
                                   str(FIRST), str(PORT), str(ports)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True, start_new_session=True)
    line = p.stdout.readline()
    if not line.startswith("ready"):
        raise RuntimeError(f"listeners failed: {line!r}")
    p.reader = Reader(p.stdout)  # "killed I" acks, timestamped: the moment the port closed
    p.reader.start()
    return p


def killed_at(listeners, index, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for t, line in listeners.reader.snapshot():
            if line == f"killed {index}":
                return t
        time.sleep(0.01)
    raise RuntimeError(f"listener {index} did not acknowledge the kill")


class L4lb:
    name = "l4lb"
    handshake = None  # set by the variants of a comma-separated --handshake; else the option

    def __init__(self, args, tmp):
        self.args = args
        self.handshake = self.handshake or args.handshake
        # One port: the backends map it explicitly (as before); several: each port is its own
        # virtual service port and is checked on its own.
        backend_range = {"first": str(FIRST), "count": args.backends}
        if args.ports == 1:
            backend_range["port"] = PORT
        cfg = {"services": [{"name": "bench", "ports": list(range(PORT, PORT + args.ports)),
                             "health": {"type": "tcp", "interval_ms": args.interval_ms,
                                        "timeout_ms": args.timeout_ms, "rise": args.rise,
                                        "fall": args.fall, "handshake": self.handshake,
                                        "per_port": True},
                             "backend_range": backend_range}]}
        self.path = os.path.join(tmp, "checks.json")
        with open(self.path, "w") as f:
            json.dump(cfg, f)
        self.binary = args.probe or os.path.join(BUILD, "tests", "unit", "health", "health_probe")

    def start(self):
        prefix = NETNS.checker if NETNS else []
        self.proc = subprocess.Popen(prefix + [self.binary, "--config", self.path, "--duration", "0"],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        self.reader = Reader(self.proc.stdout)
        self.reader.start()
        return self.proc.pid

    def ups(self):
        return sum(1 for _, l in self.reader.snapshot() if '"status":"up"' in l)

    def down_time(self, addr):
        for t, l in self.reader.snapshot():
            if '"status":"down"' in l and f'"backend":"{addr}"' in l and f'"port":{PORT}' in l:
                return t
        return None


class L4lbd:
    """The whole daemon: health checks driving its IPVS table (needs IPVS: the kernel lab)."""
    name = "l4lbd"
    handshake = "auto"  # the default; half-open as root

    def __init__(self, args, tmp):
        self.args = args
        backends = "".join(f'      - {{address: "{FIRST + i}"}}\n' for i in range(args.backends))
        self.path = os.path.join(tmp, "l4lb.yaml")
        with open(self.path, "w") as f:
            f.write(f"""node_name: bench
state_dir: {tmp}/state
control: {{socket: {tmp}/ctl.sock}}
services:
  - name: bench
    vip: 10.250.0.1
    ports: [{PORT}]
    scheduler: rr
    forward: nat
    health: {{type: tcp, interval: {args.interval_ms}ms, timeout: {args.timeout_ms}ms, rise: {args.rise}, fall: {args.fall}}}
    backends:
{backends}""")
        self.binary = os.path.join(BUILD, "src", "daemon", "l4lbd")

    def start(self):
        self.proc = subprocess.Popen([self.binary, "-c", self.path, "--log-level", "notice"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     start_new_session=True)
        self.reader = Reader(self.proc.stderr)
        self.reader.start()
        return self.proc.pid

    def ups(self):
        return sum(1 for _, l in self.reader.snapshot() if "unknown -> up" in l)

    def down_time(self, addr):
        for t, l in self.reader.snapshot():
            if f"backend={addr}:{PORT} up -> down" in l:
                return t
        return None


class Keepalived:
    name = "keepalived"

    def __init__(self, args, tmp):
        self.args = args
        self.path = os.path.join(tmp, "keepalived.conf")
        # retry = fall - 1 further attempts, one interval apart: down after `fall` failures.
        rs = "".join(
            f"  real_server {FIRST + i} {PORT} {{\n    weight 1\n    TCP_CHECK {{\n"
            f"      connect_timeout {args.timeout_ms / 1000:g}\n      retry {args.fall - 1}\n"
            f"      delay_before_retry {args.interval_ms / 1000:g}\n    }}\n  }}\n"
            for i in range(args.backends))
        with open(self.path, "w") as f:
            f.write("global_defs {\n  router_id l4lbbench\n}\n"
                    f"virtual_server 10.250.0.1 {PORT} {{\n  delay_loop {args.interval_ms / 1000:g}\n"
                    "  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n" + rs + "}\n")
        self.pidfile = os.path.join(tmp, "keepalived.pid")

    def start(self):
        self.proc = subprocess.Popen(
            ["keepalived", "--dont-fork", "--log-console", "--check", "-f", self.path,
             "-p", self.pidfile, "-c", self.pidfile + ".c", "-r", self.pidfile + ".v",
             "--log-detail"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        self.reader = Reader(self.proc.stdout)
        self.reader.start()
        return self.proc.pid

    def ups(self):
        # keepalived starts real servers up (no "alpha"): they count as up once IPVS has them.
        lines = self.reader.snapshot()
        return self.args.backends if any("Activating healthchecker" in l or "Initializing ipvs" in l
                                         for _, l in lines) else 0

    def down_time(self, addr):
        for t, l in self.reader.snapshot():
            if "Removing service" in l and f"[{addr}]:" in l:
                return t
        return None


def run_one(impl, args):
    tmp = tempfile.mkdtemp(prefix="l4lb-bench-health-")
    listeners = start_listeners(args.backends, args.ports)
    checker = impl(args, tmp)
    checks = args.backends * args.ports
    try:
        pid = checker.start()
        deadline = time.monotonic() + 60 + checks / 500
        while checker.ups() < checks:
            if checker.proc.poll() is not None:
                raise RuntimeError(f"{impl.name} exited: {checker.reader.snapshot()[-20:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{impl.name}: only {checker.ups()} of {checks} up")
            time.sleep(0.2)
        time.sleep(2 * args.interval_ms / 1000)  # settle: every check has run at least twice
        rng = random.Random(42)
        victims = rng.sample(range(args.backends), args.kills)
        kill_at = [args.seconds * (i + 0.5) / (args.kills + 1) for i in range(args.kills)]
        pids = proc_tree(pid)
        t0 = time.monotonic()
        c0, n0 = cpu_ticks(pids), cpu_ns(pids)
        killed, ack_lag = {}, []
        for victim, at in zip(victims, kill_at):
            time.sleep(max(0, t0 + at - time.monotonic()))
            sent = time.monotonic()
            listeners.stdin.write(f"kill {victim}\n")
            listeners.stdin.flush()
            killed[str(FIRST + victim)] = killed_at(listeners, victim)
            ack_lag.append(round((killed[str(FIRST + victim)] - sent) * 1000))
        time.sleep(max(0, t0 + args.seconds - time.monotonic()))
        pids = proc_tree(pid)
        c1, n1 = cpu_ticks(pids), cpu_ns(pids)
        t1 = time.monotonic()
        rss, hwm = mem_kib(pids, "VmRSS"), mem_kib(pids, "VmHWM")
        exact = n0 is not None and n1 is not None
        cpu_s = (n1 - n0) / 1e9 if exact else (sum(c1) - sum(c0)) / CLK_TCK
        detect = []
        for addr, t in killed.items():
            d = checker.down_time(addr)
            detect.append(None if d is None else round((d - t) * 1000))
        found = [d for d in detect if d is not None]
        result = {
            "bench": "health", "impl": impl.name, "backends": args.backends,
            "ports": args.ports, "checks": checks,
            "handshake": getattr(checker, "handshake", "full"),
            "backends_in": "netns (RPS to CPU 1)" if NETNS else "loopback",
            "interval_ms": args.interval_ms, "timeout_ms": args.timeout_ms, "fall": args.fall,
            "window_s": round(t1 - t0, 1),
            # From schedstat when the kernel has it (exact), else from the sampled ticks.
            "cpu_source": "schedstat" if exact else "ticks",
            "cpu_share": round(cpu_s / (t1 - t0), 4),
            # The tick-sampled split, and its total for comparison with cpu_share.
            "cpu_user": round((c1[0] - c0[0]) / CLK_TCK / (t1 - t0), 4),
            "cpu_system": round((c1[1] - c0[1]) / CLK_TCK / (t1 - t0), 4),
            "cpu_share_ticks": round((sum(c1) - sum(c0)) / CLK_TCK / (t1 - t0), 4),
            # CPU time per check, assuming every check runs once per interval.
            "cpu_us_per_check": round(cpu_s * 1e6 /
                                      ((t1 - t0) * checks * 1000 / args.interval_ms), 1),
            "rss_mib": round(rss / 1024, 1), "peak_rss_mib": round(hwm / 1024, 1),
            "processes": len(pids),
            "detect_ms": detect,
            "detect_ms_median": statistics.median(found) if found else None,
            "detect_ms_max": max(found) if found else None,
            "detect_bound_ms": args.interval_ms * args.fall + args.timeout_ms,
            "kill_ack_ms": ack_lag,
        }
        print(json.dumps(result), flush=True)
        return result
    finally:
        for p in (getattr(checker, "proc", None), listeners):
            if p is None:
                continue
            try:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait(timeout=10)
            except Exception:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except Exception:
                    pass
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--backends", type=int, default=10000)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--interval-ms", type=int, default=1000)
    ap.add_argument("--timeout-ms", type=int, default=1000)
    ap.add_argument("--rise", type=int, default=2)
    ap.add_argument("--fall", type=int, default=3)
    ap.add_argument("--kills", type=int, default=5)
    ap.add_argument("--ports", type=int, default=1,
                    help="service ports, each checked on its own (l4lb only)")
    ap.add_argument("--handshake", default="auto",
                    help="l4lb's tcp check handshake: auto (= half-open as root), half-open or "
                         "full; a comma-separated list runs l4lb once per handshake, side by side")
    ap.add_argument("--backend-netns", action="store_true",
                    help="backends in their own namespace instead of loopback (l4lb only; see "
                         "BackendNetns)")
    ap.add_argument("--impl", choices=["l4lb", "l4lbd", "keepalived", "both", "all"],
                    default="l4lb", help="both = l4lb + keepalived; all = l4lb, l4lbd, keepalived")
    ap.add_argument("--rounds", type=int, default=1,
                    help="alternate the implementations this many times (noisy hosts)")
    ap.add_argument("--probe", help="health_probe binary (default: $L4LB_BUILD_DIR/...)")
    args = ap.parse_args()
    results = {}
    impls = {"l4lb": [L4lb], "l4lbd": [L4lbd], "keepalived": [Keepalived],
             "both": [L4lb, Keepalived], "all": [L4lb, L4lbd, Keepalived]}[args.impl]
    handshakes = args.handshake.split(",")
    if any(h not in ("auto", "half-open", "full") for h in handshakes):
        ap.error(f"--handshake: {args.handshake!r}: each must be auto, half-open or full")
    if len(handshakes) > 1:
        variants = [type("L4lbVariant", (L4lb,), {"name": f"l4lb[{h}]", "handshake": h})
                    for h in handshakes]
        impls = [v for i in impls for v in (variants if i is L4lb else [i])]
    if args.ports < 1:
        ap.error("--ports: at least 1")
    if args.ports > 1 and any(i.name in ("l4lbd", "keepalived") for i in impls):
        ap.error("--ports runs l4lb (health_probe) only")
    if args.backend_netns:
        if any(i.name in ("l4lbd", "keepalived") for i in impls):
            ap.error("--backend-netns runs l4lb (health_probe) only")
        global NETNS, FIRST
        NETNS = BackendNetns().__enter__()
        FIRST = NETNS.first
        try:
            return run_all(args, impls, results)
        finally:
            NETNS.__exit__()
    return run_all(args, impls, results)


def run_all(args, impls, results):
    for _ in range(args.rounds):
        for impl in impls:
            results.setdefault(impl.name, []).append(run_one(impl, args))
    med = {name: statistics.median(r["cpu_share"] for r in rs) for name, rs in results.items()}
    for name, rs in results.items():
        print(json.dumps({"bench": "health", "impl": name, "summary": True, "rounds": len(rs),
                          "cpu_share_median": med[name],
                          "rss_mib_max": max(r["rss_mib"] for r in rs),
                          "detect_ms_max": max((r["detect_ms_max"] or 0) for r in rs)}), flush=True)
    for name in med:
        if name != "keepalived" and "keepalived" in med:
            a, b = med[name], med["keepalived"]
            print(json.dumps({"bench": "health", "ratio": f"{name}_cpu/keepalived_cpu (medians)",
                              "value": round(a / b, 3) if b else None}), flush=True)


if __name__ == "__main__":
    main()
