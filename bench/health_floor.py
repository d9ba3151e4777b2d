#!/usr/bin/env python3
"""The kernel's floor for one TCP connect check on loopback: blocking connect + RST close
(what a check costs the kernel with no event loop at all), against the listeners of
bench/health_listeners.py. On loopback the server side of every handshake runs in the
checker's system calls too, so this is the system time any checker pays per check here.

  bench/health_floor.py [--checks 30000] [--backends 2000]
Prints one JSON line. Stdlib only."""

import argparse
import ipaddress
import json
import os
import socket
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
FIRST = ipaddress.IPv4Address("127.1.0.1")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--checks", type=int, default=30000)
    ap.add_argument("--backends", type=int, default=2000)
    args = ap.parse_args()
    listeners = subprocess.Popen([sys.executable, os.path.join(HERE, "health_listeners.py"),
                                  str(args.backends), str(FIRST), "9000"],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        if not listeners.stdout.readline().startswith("ready"):
            raise RuntimeError("listeners failed")
        rst = struct.pack("ii", 1, 0)
        t0 = os.times()
        for i in range(args.checks):
            s = socket.socket()
            s.connect((str(FIRST + i % args.backends), 9000))
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, rst)
            s.close()
        t1 = os.times()
        print(json.dumps({"bench": "health_floor", "checks": args.checks,
                          "sys_us_per_check": round((t1.system - t0.system) * 1e6 / args.checks, 1),
                          "user_us_per_check": round((t1.user - t0.user) * 1e6 / args.checks, 1)}))
    finally:
        listeners.stdin.close()
        listeners.wait(10)


if __name__ == "__main__":
    main()
