#!/usr/bin/env python3
"""Lab client.
  client.py count tcp|udp ADDR PORT N TIMEOUT  -> JSON {backend: connections, "error:...": n}
  client.py hold tcp ADDR PORT TIMEOUT         -> one connection; each stdin line is sent and
                                                  answered on stdout as "ok <reply>" / "err <why>"
"""
import json
import socket
import sys

mode, proto, addr, port, = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
family = socket.AF_INET6 if ":" in addr else socket.AF_INET


def once(timeout, keep):
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    s = socket.socket(family, kind)
    try:
        s.settimeout(timeout)
        if proto == "tcp":
            s.connect((addr, port))
            s.sendall(b"x\n")
            reply = s.makefile("rb").readline()
        else:
            s.sendto(b"x\n", (addr, port))
            reply, _ = s.recvfrom(65535)
    finally:
        # UDP sockets stay open until the count is done: a later socket could otherwise get
        # the same source port, and IPVS would take it for the same connection.
        if proto == "udp":
            keep.append(s)
        else:
            s.close()
    return reply.decode().partition(":")[0]


if mode == "count":
    n, timeout = int(sys.argv[5]), float(sys.argv[6])
    counts, keep = {}, []
    for _ in range(n):
        try:
            key = once(timeout, keep)
        except OSError as e:
            key = f"error:{type(e).__name__}"
        counts[key] = counts.get(key, 0) + 1
    for s in keep:
        s.close()
    print(json.dumps(counts))
else:
    timeout = float(sys.argv[5])
    try:
        s = socket.create_connection((addr, port), timeout=timeout)
        f = s.makefile("rb")
    except OSError as e:
        s = None
        err = f"err connect {e}"
    for line in sys.stdin:
        if s is None:
            print(err, flush=True)
            continue
        try:
            s.sendall(line.encode())
            reply = f.readline().decode().rstrip("\n")
            print(f"ok {reply}" if reply else "err closed", flush=True)
        except OSError as e:
            print(f"err {e}", flush=True)
