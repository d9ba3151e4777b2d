#!/usr/bin/env python3
"""The kernel's floor for one TCP check on loopback, with no event loop at all, against the
listeners of bench/health_listeners.py. On loopback the server side of every handshake runs in
the checker's system calls too, so this is the system time any checker pays per check here.

  connect:   blocking connect + RST close.
  half-open: a SYN from a raw socket (sendto), its SYN-ACK read back (recv), the kernel's RST;
             one system call per packet (root).
  half-open-batched: the same exchange batched as l4lbd does it, 100 SYNs per sendmmsg and
             answers by recvmmsg through a socket filter (bench/syn_floor.c, built with cc).

  bench/health_floor.py [--checks 30000] [--backends 2000] [--mode MODE|all]
Prints one JSON line per mode. Stdlib only."""

import argparse
import ipaddress
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
FIRST = ipaddress.IPv4Address("127.1.0.1")


MODES = ["connect", "half-open", "half-open-batched"]


def syn_floor(args):
    with tempfile.TemporaryDirectory() as tmp:
        exe = os.path.join(tmp, "syn_floor")
        subprocess.run(["cc", "-O2", "-o", exe, os.path.join(HERE, "syn_floor.c")], check=True)
        r = subprocess.run([exe, str(args.checks), str(args.backends), "100", str(FIRST), "9000"],
                           capture_output=True, text=True, check=True)
        return r.stdout.strip()


def connect(args):
    rst = struct.pack("ii", 1, 0)
    for i in range(args.checks):
        s = socket.socket()
        s.connect((str(FIRST + i % args.backends), 9000))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, rst)
        s.close()
    return args.checks


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def half_open(args):
    # The source port is reserved by a bound socket, so the kernel RSTs the SYN-ACKs.
    reserve = socket.socket()
    reserve.bind(("127.0.0.1", 0))
    sport = reserve.getsockname()[1]
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
    raw.settimeout(1)
    src = socket.inet_aton("127.0.0.1")
    answered = 0
    for i in range(args.checks):
        dst = str(FIRST + i % args.backends)
        hdr = struct.pack("!HHIIBBHHH", sport, 9000, i, 0, 5 << 4, 0x02, 65535, 0, 0)
        c = checksum(src + socket.inet_aton(dst) + struct.pack("!BBH", 0, 6, len(hdr)) + hdr)
        raw.sendto(hdr[:16] + struct.pack("!H", c) + hdr[18:], (dst, 0))
        while True:  # the raw socket also sees our SYN and the RST: read up to the SYN-ACK
            try:
                p = raw.recv(128)
            except socket.timeout:
                break
            ihl = (p[0] & 15) * 4
            dport, flags = struct.unpack("!H", p[ihl + 2:ihl + 4])[0], p[ihl + 13]
            if dport == sport and flags & 0x12 == 0x12:
                answered += 1
                break
    raw.close()
    reserve.close()
    return answered


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--checks", type=int, default=30000)
    ap.add_argument("--backends", type=int, default=2000)
    ap.add_argument("--mode", choices=MODES + ["all"], default="all")
    args = ap.parse_args()
    listeners = subprocess.Popen([sys.executable, os.path.join(HERE, "health_listeners.py"),
                                  str(args.backends), str(FIRST), "9000"],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        if not listeners.stdout.readline().startswith("ready"):
            raise RuntimeError("listeners failed")
        for mode in (MODES if args.mode == "all" else [args.mode]):
            if mode == "half-open-batched":
                print(syn_floor(args), flush=True)
                continue
            t0 = os.times()
            answered = (connect if mode == "connect" else half_open)(args)
            t1 = os.times()
            print(json.dumps({"bench": "health_floor", "mode": mode, "checks": args.checks,
                              "answered": answered,
                              "sys_us_per_check": round((t1.system - t0.system) * 1e6 / args.checks, 1),
                              "user_us_per_check": round((t1.user - t0.user) * 1e6 / args.checks, 1)}))
    finally:
        listeners.stdin.close()
        listeners.wait(10)


if __name__ == "__main__":
    main()
