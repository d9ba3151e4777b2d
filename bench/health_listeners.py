#!/usr/bin/env python3
"""N TCP listeners on consecutive loopback addresses (127.1.0.1 ...), one process, for
bench/health.py; with a 4th argument P, each address listens on P consecutive ports. Accepts
and closes every connection (epoll). Commands on stdin, one per line: "kill I" closes the
listener of address I on the first port (that port then refuses connections; the others keep
answering), "quit".
Prints "ready N" once every socket listens. Stdlib only."""

import ipaddress
import os
import resource
import select
import socket
import sys


def main():
    count = int(sys.argv[1])
    first = ipaddress.IPv4Address(sys.argv[2] if len(sys.argv) > 2 else "127.1.0.1")
    port = int(sys.argv[3]) if len(sys.argv) > 3 else 9000
    ports = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, count * ports + 1024)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    ep = select.epoll()
    listeners = {}
    by_index = []
    for i in range(count):
        for k in range(ports):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((str(first + i), port + k))
            s.listen(256)
            s.setblocking(False)
            listeners[s.fileno()] = s
            if k == 0:
                by_index.append(s)
            ep.register(s.fileno(), select.EPOLLIN)
    ep.register(sys.stdin.fileno(), select.EPOLLIN)
    print(f"ready {count}", flush=True)
    while True:
        for fd, _ in ep.poll():
            if fd == sys.stdin.fileno():
                line = sys.stdin.readline()
                if not line or line.strip() == "quit":
                    return
                cmd = line.split()
                if cmd[0] == "kill":
                    s = by_index[int(cmd[1])]
                    if s.fileno() >= 0:
                        ep.unregister(s.fileno())
                        del listeners[s.fileno()]
                        s.close()
                    print(f"killed {cmd[1]}", flush=True)
                continue
            s = listeners.get(fd)
            if s is None:
                continue
            while True:
                try:
                    c, _ = s.accept()
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    break
                c.close()


if __name__ == "__main__":
    main()
