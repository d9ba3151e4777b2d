#!/usr/bin/env python3
"""VRRP failover benchmark: l4lbd vs keepalived, same settings, same run.

Two routers (m: priority 150, s: priority 100) and a client on one bridge, all in network
namespaces created here. The client sends a UDP datagram to the VIP every millisecond; both
routers run an echo responder that answers with its name. For each implementation, advert
interval and kind (crash = SIGKILL of the Master, graceful = SIGTERM) we measure, from the
signal:
  vip_up_ms   the VIP appearing on s, seen by an rtnetlink listener (RTM_NEWADDR) in s
  traffic_ms  the first client datagram answered by s
and print one JSON object per (impl, advert_ms, kind) with median and p95 over --runs runs.
The signal is sent right after one of m's adverts reaches s (same phase for every run and
both implementations): a crash then measures the full Master_Down_Interval, the worst case.
Every timestamp is CLOCK_MONOTONIC, shared by all namespaces.

  sudo L4LB_BUILD_DIR=build python3 bench/failover.py --runs 20 --intervals 10,100,1000
"""

import argparse
import bisect
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "pylib"))
import netns  # noqa: E402

VIP = "10.90.0.100"
PORT = 9999
VRID = 42

# rtnetlink listener: prints "<monotonic> <address>" for every IPv4 address added.
MONITOR = r'''
import socket, struct, sys, time
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
s.bind((0, 0x10))  # RTMGRP_IPV4_IFADDR
print("ready", flush=True)
while True:
    data = s.recv(65536)
    t = time.monotonic()
    off = 0
    while off + 16 <= len(data):
        length, typ = struct.unpack_from("=IH", data, off)
        if length < 16: break
        if typ == 20:  # RTM_NEWADDR
            a = off + 16 + 8
            end = off + length
            while a + 4 <= end:
                alen, atype = struct.unpack_from("=HH", data, a)
                if alen < 4: break
                if atype in (1, 2) and alen == 8:
                    print(f"{t:.6f} {socket.inet_ntoa(data[a+4:a+8])}", flush=True)
                    break
                a += (alen + 3) & ~3
        off += (length + 3) & ~3
'''

# VRRP listener: prints "<monotonic> madv" for every advert from m (10.90.0.1) with priority > 0.
ADVERTS = r'''
import socket, struct, time
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 112)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"eth0")
mreq = socket.inet_aton("224.0.0.18") + struct.pack("=II", 0, socket.if_nametoindex("eth0"))
s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
while True:
    d = s.recv(2048)
    t = time.monotonic()
    ihl = (d[0] & 15) * 4
    if d[12:16] == socket.inet_aton("10.90.0.1") and len(d) > ihl + 2 and d[ihl + 2] > 0:
        print(f"{t:.6f} madv", flush=True)
'''

ECHO = r'''
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", int(sys.argv[2])))
name = sys.argv[1].encode()
while True:
    d, a = s.recvfrom(2048)
    s.sendto(name, a)
'''

# Sends a datagram to the VIP every ms; prints "<monotonic> <responder>" whenever the
# responder differs from the previous reply's.
CLIENT = r'''
import socket, sys, time, threading
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
dst = (sys.argv[1], int(sys.argv[2]))
def rx():
    last = None
    while True:
        d, a = s.recvfrom(2048)
        t = time.monotonic()
        if d != last:
            print(f"{t:.6f} {d.decode()}", flush=True)
            last = d
threading.Thread(target=rx, daemon=True).start()
nxt = time.monotonic()
while True:
    try:
        s.sendto(b"x", dst)
    except OSError:
        pass
    nxt += 0.001
    d = nxt - time.monotonic()
    if d > 0:
        time.sleep(d)
    else:
        nxt = time.monotonic()
'''


class Lines:
    """Collects "<t> <word>" lines from a process's stdout in a thread."""

    def __init__(self, proc):
        self.events = []
        self.cv = threading.Condition()
        threading.Thread(target=self._read, args=(proc,), daemon=True).start()

    def _read(self, proc):
        for line in proc.stdout:
            parts = line.split()
            if len(parts) == 2:
                try:
                    ev = (float(parts[0]), parts[1])
                except ValueError:
                    continue
                with self.cv:
                    self.events.append(ev)
                    self.cv.notify_all()

    def wait_for(self, word, after, timeout):
        """Time of the first `word` event at or after `after` (events arrive in time order)."""
        deadline = time.monotonic() + timeout
        with self.cv:
            i = bisect.bisect_left(self.events, (after, ""))
            while True:
                while i < len(self.events):
                    t, w = self.events[i]
                    i += 1
                    if w == word:
                        return t
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cv.wait(left)


def l4lbd_router(lab, ns, name, prio, interval_ms):
    body = (f"vrrp:\n  - name: vi\n    interface: eth0\n    vrid: {VRID}\n"
            f"    priority: {prio}\n    advert_interval: {interval_ms}ms\n"
            f"    vips: [{VIP}/24]\n")
    d = netns.L4lbd(lab, ns, name, body, log_level="info")
    return d


class KeepalivedRouter:
    def __init__(self, lab, ns, name, prio, interval_ms):
        self.lab, self.ns, self.name = lab, ns, name
        d = os.path.join(lab.tmp, name)
        os.makedirs(d, exist_ok=True)
        conf = lab.write(f"{name}.conf", f"""global_defs {{
    router_id {name}
    vrrp_version 3
}}
vrrp_instance VI {{
    state BACKUP
    interface eth0
    virtual_router_id {VRID}
    priority {prio}
    advert_int {interval_ms / 1000:.2f}
    virtual_ipaddress {{
        {VIP}/24 dev eth0
    }}
}}
""")
        self.pids = [os.path.join(d, p) for p in ("k.pid", "v.pid", "c.pid")]
        self.cmd = ["keepalived", "-n", "-l", "-P", "-f", conf, "-p", self.pids[0],
                    "-r", self.pids[1], "-c", self.pids[2]]
        self.proc = None

    def start(self):
        for p in self.pids:
            if os.path.exists(p):
                os.unlink(p)
        self.proc = self.lab.spawn(self.ns, self.cmd, log=f"{self.name}.log")
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None


def signal_router(r, sig):
    os.killpg(r.proc.pid, sig)


def percentile(values, q):
    v = sorted(values)
    if not v:
        return None
    k = (len(v) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def run_series(lab, nodes, impl, interval_ms, kind, runs, mon, cli, adv, log):
    m_ns, s_ns = nodes["m"], nodes["s"]
    make = l4lbd_router if impl == "l4lbd" else KeepalivedRouter
    s = make(lab, s_ns, f"{impl}-s-{interval_ms}", 100, interval_ms).start()
    vip_ms, traffic_ms = [], []
    spurious = 0
    settle = max(0.3, 2 * interval_ms / 1000)
    try:
        for i in range(runs):
            m = make(lab, m_ns, f"{impl}-m-{interval_ms}-{kind}-{i}", 150, interval_ms).start()
            # m (higher priority) becomes or preempts to Master; s releases the VIP
            netns.wait_until(lambda: lab.has_addr(m_ns, "eth0", VIP) and
                             not lab.has_addr(s_ns, "eth0", VIP), 30, 0.02, what="m master")
            # m must hold the VIP, s not, and the client be answered by m, for `settle`
            # seconds in a row. On a loaded machine a short stall of a Master is enough for a
            # Backup to take over (3 x 10 ms); such flaps are counted and waited out.
            while True:
                t_ready = time.monotonic()
                if cli.wait_for("m", t_ready - 5, 10) is None:
                    raise RuntimeError("client traffic not answered by m")
                time.sleep(settle)
                s_has_vip = lab.has_addr(s_ns, "eth0", VIP)
                if adv.wait_for("madv", time.monotonic(), 5) is None:
                    raise RuntimeError("no advert from m")
                with cli.cv:
                    last = cli.events[-1][1] if cli.events else None
                flapped = mon.wait_for(VIP, t_ready, 0) is not None
                if last == "m" and not flapped and not s_has_vip:
                    break
                spurious += 1
                log(f"{impl} {interval_ms}ms: s took the VIP while m was alive; waiting again")
                netns.wait_until(lambda: lab.has_addr(m_ns, "eth0", VIP) and
                                 not lab.has_addr(s_ns, "eth0", VIP), 30, 0.02, what="m master")
            # Signal right after one of m's adverts reached s (above): the same phase for every
            # run and both implementations (for a crash, the worst case: a whole
            # Master_Down_Interval still to wait).
            t0 = time.monotonic()
            signal_router(m, signal.SIGKILL if kind == "crash" else signal.SIGTERM)
            tv = mon.wait_for(VIP, t0, 30)
            tt = cli.wait_for("s", t0, 30)
            if tv is None or tt is None:
                state = s.state("vi") if impl == "l4lbd" else "?"
                raise RuntimeError(
                    f"{impl} {interval_ms}ms {kind} run {i}: no failover in 30 s "
                    f"(vip event: {tv is not None}, traffic from s: {tt is not None}, "
                    f"s state {state}, m addrs {lab.addrs(m_ns, 'eth0')}, "
                    f"s addrs {lab.addrs(s_ns, 'eth0')}, client {cli.events[-4:]}, "
                    f"monitor {mon.events[-4:]}; logs in {lab.tmp})")
            vip_ms.append((tv - t0) * 1000)
            traffic_ms.append((tt - t0) * 1000)
            netns.Lab.stop(m.proc, signal.SIGKILL, timeout=5)
            # a killed Master leaves its VIP behind; the next m must start clean
            lab.run(m_ns, ["ip", "addr", "del", f"{VIP}/24", "dev", "eth0"], check=False)
            log(f"{impl} {interval_ms}ms {kind} run {i}: vip {vip_ms[-1]:.2f} ms, "
                f"traffic {traffic_ms[-1]:.2f} ms")
    finally:
        netns.Lab.stop(s.proc, signal.SIGKILL, timeout=5)
        # whoever is gone leaves the VIP behind only if it was killed; clear both nodes
        for ns in (m_ns, s_ns):
            lab.run(ns, ["ip", "addr", "del", f"{VIP}/24", "dev", "eth0"], check=False)
    return {
        "bench": "failover", "impl": impl, "advert_ms": interval_ms, "kind": kind,
        "runs": len(vip_ms),
        "spurious_takeovers": spurious,
        "vip_up_ms_median": round(statistics.median(vip_ms), 2),
        "vip_up_ms_p95": round(percentile(vip_ms, 0.95), 2),
        "traffic_ms_median": round(statistics.median(traffic_ms), 2),
        "traffic_ms_p95": round(percentile(traffic_ms, 0.95), 2),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--runs-1s", type=int, default=None, help="runs for the 1000 ms interval")
    ap.add_argument("--intervals", default="10,100,1000")
    ap.add_argument("--impls", default="l4lbd,keepalived")
    ap.add_argument("--kinds", default="crash,graceful")
    ap.add_argument("--out", help="also append the JSON lines to this file")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    log = (lambda m: print(m, file=sys.stderr, flush=True)) if a.verbose else (lambda m: None)
    results = []
    with netns.Lab("bn") as lab:
        hub = lab.bridge()
        nodes = {n: lab.node(n) for n in ("m", "s", "c")}
        for i, n in enumerate(("m", "s", "c")):
            lab.link(nodes[n], hub, "eth0", [f"10.90.0.{i + 1}/24"])
        # the client accepts a gratuitous ARP at once, whatever the implementation
        lab.run(nodes["c"], ["sysctl", "-qw", "net.ipv4.neigh.eth0.locktime=0"])
        for n in ("m", "s"):
            lab.spawn(nodes[n], [sys.executable, "-c", ECHO, n, str(PORT)])
        mon_p = lab.spawn(nodes["s"], [sys.executable, "-u", "-c", MONITOR],
                          stdout=subprocess.PIPE, text=True)
        if mon_p.stdout.readline().strip() != "ready":
            raise RuntimeError("rtnetlink monitor did not start")
        mon = Lines(mon_p)
        adv = Lines(lab.spawn(nodes["s"], [sys.executable, "-u", "-c", ADVERTS],
                              stdout=subprocess.PIPE, text=True))
        cli = Lines(lab.spawn(nodes["c"], [sys.executable, "-u", "-c", CLIENT, VIP, str(PORT)],
                              stdout=subprocess.PIPE, text=True))
        for interval in [int(x) for x in a.intervals.split(",")]:
            runs = a.runs_1s if (interval >= 1000 and a.runs_1s) else a.runs
            for kind in a.kinds.split(","):
                for impl in a.impls.split(","):
                    r = run_series(lab, nodes, impl, interval, kind, runs, mon, cli, adv, log)
                    results.append(r)
                    line = json.dumps(r)
                    print(line, flush=True)
                    if a.out:
                        with open(a.out, "a") as f:
                            f.write(line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
