#!/usr/bin/env python3
"""VIP takeover benchmark: how late the adverts of a node that becomes Master of many VIPs at
once go out, l4lbd vs keepalived, same settings, same run.

One router (priority 150, alone, so it becomes Master of every instance after Master_Down) with
INSTANCES VRRP instances x VIPS VIPs each, and a watcher on the same bridge, in network
namespaces created here. The watcher timestamps every advert of the router per VRID (raw socket,
CLOCK_MONOTONIC) for --seconds after the first one, while the router adds its INSTANCES x VIPS
addresses and announces them. Per implementation it prints one JSON line:
  advert_gap_max_ms   the longest gap between two adverts of one VRID (the number a backup's
                      Master_Down timer compares with 3 x the interval)
  advert_gap_p99_ms   over every gap of every VRID
  late_gaps           gaps of 2 x the interval or more
  vips_s              from the first advert until every VIP is on the router's interface
and a last line with keepalived's max gap over l4lbd's.

  sudo L4LB_BUILD_DIR=build python3 bench/vip_takeover.py --instances 64 --vips 16 --interval-ms 100
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "pylib"))
import netns  # noqa: E402

ROUTER, WATCHER = "10.91.0.1", "10.91.0.2"

# Prints "<monotonic> <vrid>" for every advert from ROUTER with a priority above 0.
WATCH = r'''
import socket, struct, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 112)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"eth0")
mreq = socket.inet_aton("224.0.0.18") + struct.pack("=II", 0, socket.if_nametoindex("eth0"))
s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
src = socket.inet_aton(sys.argv[1])
print("ready", flush=True)
while True:
    d = s.recv(2048)
    t = time.monotonic()
    ihl = (d[0] & 15) * 4
    if d[12:16] == src and len(d) > ihl + 2 and d[ihl + 2] > 0:
        print(f"{t:.6f} {d[ihl + 1]}", flush=True)
'''


def vip(k, v, per):
    n = k * per + v
    return f"10.{100 + n // 250}.{n % 250}.1"


def l4lbd_config(instances, per, interval_ms):
    text = "vrrp:\n"
    for k in range(instances):
        vips = ", ".join(f'"{vip(k, v, per)}/32"' for v in range(per))
        text += (f"  - name: vi{k}\n    interface: eth0\n    vrid: {k + 1}\n    priority: 150\n"
                 f"    advert_interval: {interval_ms}ms\n    vips: [{vips}]\n")
    return text


def keepalived_config(instances, per, interval_ms):
    text = "global_defs {\n    router_id takeover\n    vrrp_version 3\n}\n"
    for k in range(instances):
        vips = "\n".join(f"        {vip(k, v, per)}/32 dev eth0" for v in range(per))
        text += (f"vrrp_instance VI{k} {{\n    state BACKUP\n    interface eth0\n"
                 f"    virtual_router_id {k + 1}\n    priority 150\n"
                 f"    advert_int {interval_ms / 1000:.2f}\n"
                 f"    virtual_ipaddress {{\n{vips}\n    }}\n}}\n")
    return text


class Watcher:
    def __init__(self, lab, ns):
        self.proc = lab.spawn(ns, [sys.executable, "-c", WATCH, ROUTER],
                              stdout=subprocess.PIPE, text=True)
        self.lines = []
        self.lock = threading.Lock()
        assert self.proc.stdout.readline().strip() == "ready"
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            t, vrid = line.split()
            with self.lock:
                self.lines.append((float(t), int(vrid)))

    def since(self, t0):
        with self.lock:
            return [x for x in self.lines if x[0] >= t0]


def vip_count(lab, ns):
    r = lab.run(ns, ["ip", "-4", "-o", "addr", "show", "dev", "eth0"], check=False)
    return sum(1 for line in r.stdout.splitlines() if " 10.1" in line)


def run(lab, router_ns, watcher, impl, a):
    t_start = time.monotonic()
    if impl == "l4lbd":
        d = netns.L4lbd(lab, router_ns, "l4lbd", l4lbd_config(a.instances, a.vips, a.interval_ms),
                        log_level="notice")
        d.start()
        stop = lambda: d.stop()  # noqa: E731
    else:
        conf = lab.write("keepalived.conf", keepalived_config(a.instances, a.vips, a.interval_ms))
        piddir = lab.path("ka")
        os.makedirs(piddir, exist_ok=True)
        p = lab.spawn(router_ns, ["keepalived", "-n", "-l", "-P", "-f", conf,
                                  "-p", f"{piddir}/k.pid", "-r", f"{piddir}/v.pid",
                                  "-c", f"{piddir}/c.pid"], log="keepalived.log")
        stop = lambda: netns.Lab.stop(p)  # noqa: E731
    want = a.instances * a.vips
    try:
        netns.wait_until(lambda: watcher.since(t_start), 30, 0.01, what=f"{impl}'s first advert")
        first = watcher.since(t_start)[0][0]
        all_vips = None
        while time.monotonic() < first + a.seconds:
            if all_vips is None and vip_count(lab, router_ns) >= want:
                all_vips = time.monotonic() - first
            time.sleep(0.05)
        seen = watcher.since(first)
    finally:
        stop()
    netns.wait_until(lambda: vip_count(lab, router_ns) == 0, 30, 0.1, what="VIPs gone")
    by_vrid = {}
    for t, vrid in seen:
        by_vrid.setdefault(vrid, []).append(t)
    gaps = [(b - a_) * 1000 for ts in by_vrid.values() for a_, b in zip(ts, ts[1:])]
    gaps.sort()
    return {"impl": impl, "instances": a.instances, "vips_each": a.vips,
            "interval_ms": a.interval_ms, "vrids_heard": len(by_vrid), "adverts": len(seen),
            "advert_gap_max_ms": round(gaps[-1], 1) if gaps else None,
            "advert_gap_p99_ms": round(gaps[int(0.99 * (len(gaps) - 1))], 1) if gaps else None,
            "advert_gap_median_ms": round(statistics.median(gaps), 1) if gaps else None,
            "late_gaps": sum(1 for g in gaps if g >= 2 * a.interval_ms),
            "vips_s": None if all_vips is None else round(all_vips, 2)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--instances", type=int, default=64)
    ap.add_argument("--vips", type=int, default=16, help="VIPs per instance")
    ap.add_argument("--interval-ms", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=5.0, help="watched after the first advert")
    ap.add_argument("--impls", default="l4lbd,keepalived")
    a = ap.parse_args()
    netns.require_root()
    lab = netns.Lab("tk")
    try:
        hub = lab.bridge()
        router = lab.node("r")
        watcher_ns = lab.node("w")
        lab.link(router, hub, "eth0", [ROUTER + "/24"])
        lab.link(watcher_ns, hub, "eth0", [WATCHER + "/24"])
        watcher = Watcher(lab, watcher_ns)
        results = {}
        for impl in a.impls.split(","):
            if impl == "keepalived" and not shutil.which("keepalived"):
                sys.exit("keepalived not installed (scripts/apt-packages.txt has it)")
            results[impl] = run(lab, router, watcher, impl, a)
            print(json.dumps(results[impl]), flush=True)
        if "l4lbd" in results and "keepalived" in results:
            l4, ka = results["l4lbd"]["advert_gap_max_ms"], results["keepalived"]["advert_gap_max_ms"]
            print(json.dumps({"ratio_keepalived_over_l4lbd_gap_max": round(ka / l4, 2)}))
    finally:
        lab.close()


if __name__ == "__main__":
    main()
