#!/usr/bin/env python3
"""Config loading at scale: `l4lbd --check-config` vs `keepalived -t` on the same setup.

Generates N services x M backends (one VIP:port each, TCP checks) as /etc/l4lb.yaml and as
the equivalent keepalived.conf, checks each file R times and prints one JSON line per run plus
a summary with medians and the ratio. No privileges needed; nothing is sent anywhere.

    L4LB_BUILD_DIR=build python3 bench/config_load.py --services 10000 --backends 8 --runs 5
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time


def addr(i):
    return f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"


def backend(i, k):
    n = i * 64 + k + 1
    return f"192.{168 + ((n >> 16) & 7)}.{(n >> 8) & 255}.{n & 255}"


def l4lb_yaml(services, backends, interface):
    out = ["vrrp:", f"  - {{name: big, interface: {interface}, vrid: 1, vips: [10.0.0.1/8]}}",
           "services:"]
    for i in range(services):
        out += [f"  - name: s{i}", f"    vip: {addr(i + 1)}", "    port: 80", "    scheduler: rr",
                "    health: {type: tcp, interval: 2s, timeout: 1s}", "    backends:"]
        out += [f"      - {backend(i, k)}" for k in range(backends)]
    return "\n".join(out) + "\n"


def keepalived_conf(services, backends, interface):
    out = ["vrrp_instance big {", "  state BACKUP", f"  interface {interface}",
           "  virtual_router_id 1", "  priority 100", "  advert_int 1",
           "  virtual_ipaddress {", "    10.0.0.1/8", "  }", "}"]
    for i in range(services):
        out += [f"virtual_server {addr(i + 1)} 80 {{", "  delay_loop 2", "  lb_algo rr",
                "  lb_kind NAT", "  protocol TCP"]
        for k in range(backends):
            out += [f"  real_server {backend(i, k)} 80 {{", "    weight 1",
                    "    TCP_CHECK {", "      connect_timeout 1", "    }", "  }"]
        out.append("}")
    return "\n".join(out) + "\n"


def timed(cmd):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return proc, wall * 1000, cpu * 1000


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--services", type=int, default=10000)
    ap.add_argument("--backends", type=int, default=8)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    build = os.environ.get("L4LB_BUILD_DIR", "build")
    l4lbd = os.path.join(build, "src/daemon/l4lbd")
    # keepalived -t insists that the VRRP interface exists; only its name is read.
    interface = next((n for n in sorted(os.listdir("/sys/class/net")) if n != "lo"), "lo")
    results = {}
    with tempfile.TemporaryDirectory(prefix="l4lb-config-bench-") as tmp:
        ours = os.path.join(tmp, "l4lb.yaml")
        theirs = os.path.join(tmp, "keepalived.conf")
        with open(ours, "w") as f:
            f.write(l4lb_yaml(args.services, args.backends, interface))
        with open(theirs, "w") as f:
            f.write(keepalived_conf(args.services, args.backends, interface))
        tools = {"l4lbd": [l4lbd, "--check-config", "-c", ours],
                 "keepalived": ["keepalived", "-t", "-f", theirs]}
        for name, cmd in tools.items():
            walls, cpus = [], []
            for run in range(args.runs):
                proc, wall, cpu = timed(cmd)
                ok = proc.returncode == 0
                print(json.dumps({"tool": name, "run": run, "ok": ok, "wall_ms": round(wall, 1),
                                  "cpu_ms": round(cpu, 1), "services": args.services,
                                  "backends": args.backends,
                                  "bytes": os.path.getsize(ours if name == "l4lbd" else theirs)}))
                if not ok:
                    print(f"{name} failed: {proc.stdout[-500:]}{proc.stderr[-500:]}", file=sys.stderr)
                    return 1
                walls.append(wall)
                cpus.append(cpu)
            results[name] = (statistics.median(walls), statistics.median(cpus))
    (lw, lc), (kw, kc) = results["l4lbd"], results["keepalived"]
    print(f"# {args.services} services x {args.backends} backends, median of {args.runs}: "
          f"l4lbd --check-config {lw:.0f} ms wall / {lc:.0f} ms CPU; "
          f"keepalived -t {kw:.0f} ms wall / {kc:.0f} ms CPU; "
          f"ratio (keepalived / l4lbd) wall {kw / lw:.2f}x, CPU {kc / lc:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
