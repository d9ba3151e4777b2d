#!/usr/bin/env python3
"""The programs of the end-to-end lab (e2e.py) that run inside its namespaces:
    e2e_node.py echo NAME          echo server for every port (and FWM_PORTS); counts what it served
    e2e_node.py check ADDR N [PORT/PROTO...]  the per-port check ("Port 389/tcp: Success"), then
                                   one JSON line; every port of PORTS unless some are named
    e2e_node.py sessions ADDR PORT N  N long-lived TCP connections; see sessions_main
    e2e_node.py probe ADDR MAC     failover probe: first answer from ADDR once its ARP entry is MAC
    e2e_node.py stallwatch FILE    records every time the VM stood still for more than 100 ms
"""

import asyncio
import json
import os
import signal
import socket
import sys
import time

from e2e import FWM_PORTS, PORT_FAIL, PORTS, PROBE, RUN

def echo_main(name):
    counts = {}
    counts_path = f"{RUN}/{name}.counts.json"

    def served(key):
        counts[key] = counts.get(key, 0) + 1
        with open(counts_path + ".tmp", "w") as f:
            json.dump(counts, f)
        os.replace(counts_path + ".tmp", counts_path)

    def bound(port, kind):
        s = socket.socket(socket.AF_INET6, kind)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("::", port))
        return s

    class Udp(asyncio.DatagramProtocol):
        def __init__(self, port):
            self.port = port

        def connection_made(self, transport):
            self.transport = transport

        def datagram_received(self, data, peer):
            if data == PROBE.encode():
                self.transport.sendto(b"pong", peer)
                return
            self.transport.sendto(f"{name}:".encode() + data, peer)
            served(f"{self.port}/udp")

    def tcp_handler(port):
        async def handle(reader, writer):
            try:
                while line := await reader.readline():
                    writer.write(f"{name}:".encode() + line)
                    await writer.drain()
                    served(f"{port}/tcp")
            except ConnectionError:
                pass
            finally:
                writer.close()
        return handle

    servers = {}

    async def listen(port):
        s = bound(port, socket.SOCK_STREAM)
        servers[port] = await asyncio.start_server(tcp_handler(port), sock=s, backlog=256)

    def fail_port(fail):
        """The per-port failure (PORT_FAIL): SIGUSR1 closes that one listener (connections to
        it are refused, existing ones go on), SIGUSR2 opens it again."""
        port = PORT_FAIL[1]
        if fail and port in servers:
            servers.pop(port).close()
        elif not fail and port not in servers:
            asyncio.ensure_future(listen(port))

    async def main():
        loop = asyncio.get_running_loop()
        for port, proto in PORTS:
            if proto == "tcp":
                await listen(port)
            else:
                await loop.create_datagram_endpoint(lambda p=port: Udp(p),
                                                    sock=bound(port, socket.SOCK_DGRAM))
        for port in FWM_PORTS:  # the fwmark service's sample ports (TCP)
            await listen(port)
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        if name == PORT_FAIL[0]:
            loop.add_signal_handler(signal.SIGUSR1, fail_port, True)
            loop.add_signal_handler(signal.SIGUSR2, fail_port, False)
        open(f"{RUN}/{name}.ready", "w").close()
        await stop.wait()

    asyncio.run(main())


def ask(addr, port, proto, timeout):
    """One request on a fresh connection / socket; the answering backend's name."""
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    payload = f"hello {port}/{proto}"
    if proto == "tcp":
        with socket.create_connection((addr, port), timeout=timeout) as s:
            s.sendall(payload.encode() + b"\n")
            reply = s.makefile("rb").readline().decode().rstrip("\n")
    else:
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.settimeout(timeout)
            s.sendto(payload.encode(), (addr, port))
            while True:
                data, peer = s.recvfrom(65535)
                if peer[0] == addr:  # a reply that bypassed the NAT is not an answer
                    break
            reply = data.decode()
    name, _, echoed = reply.partition(":")
    if echoed != payload:
        raise ValueError(f"unexpected reply {reply!r}")
    return name


def check_main(addr, attempts, ports):
    results = {}
    for port, proto in ports:
        names, errors = [], []
        for _ in range(attempts):
            try:
                names.append(ask(addr, port, proto, 1.0))
            except (OSError, ValueError) as e:
                errors.append(f"{type(e).__name__}: {e}")
        ok = not errors
        print(f"Port {port}/{proto}: {'Success' if ok else '>> Failed'}", flush=True)
        results[f"{port}/{proto}"] = {"ok": ok, "backends": names, "errors": errors}
    print(json.dumps(results), flush=True)


def stallwatch_main(path):
    """UML shares a loaded host: when the host does not schedule it, every guest timer fires
    late at once. Such a freeze longer than the VRRP master-down interval makes a Backup take
    over by the protocol's own rules; this record tells that apart from a bug."""
    stalls, last = [], time.monotonic()
    while True:
        time.sleep(0.01)
        now = time.monotonic()
        if now - last > 0.1:
            stalls.append([round(last, 3), round(now - last, 3)])
            with open(path + ".tmp", "w") as f:
                json.dump(stalls, f)
            os.replace(path + ".tmp", path)
        last = now


def arp_mac(addr):
    with open("/proc/net/arp") as f:
        for line in f.readlines()[1:]:
            cols = line.split()
            if cols[0] == addr:
                return cols[3]
    return None


def probe_main(addr, mac):
    """Prints the monotonic time of the first answer through the node whose MAC is `mac`
    (the client's ARP entry for the VIP has moved there) and the replies before it."""
    print("ready", flush=True)
    earlier = 0
    while True:
        if arp_mac(addr) == mac:
            try:  # a short timeout: a reply lost to the old gateway is retried quickly
                ask(addr, 88, "udp", 0.05)
                print(json.dumps({"answered_at": time.monotonic(), "earlier_replies": earlier}),
                      flush=True)
                return
            except (OSError, ValueError):
                pass
        else:
            try:
                ask(addr, 88, "udp", 0.2)
                earlier += 1
            except (OSError, ValueError):
                pass
        time.sleep(0.01)


async def sessions_main(addr, port, n):
    """Opens `n` TCP connections to addr:port and exchanges three lines on each (the IPVS sync
    master sends a connection once it has seen three packets of it), prints one JSON line
    {"opened", "total", "backends", "errors"}, then waits for a line on stdin and makes every
    open connection exchange one more line (20 s each: TCP retransmits across a takeover), and
    prints {"survived", "total", "same_backend", "errors"}."""
    conns, errors = [], {}

    def failed(e):
        key = "reset" if isinstance(e, ConnectionResetError) else (
            "timeout" if isinstance(e, asyncio.TimeoutError) else f"{type(e).__name__}: {e}")
        errors[key] = errors.get(key, 0) + 1

    async def exchange(reader, writer, text):
        writer.write(text.encode() + b"\n")
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), 20.0)
        who, _, echoed = line.decode().rstrip("\n").partition(":")
        if echoed != text:
            raise ValueError(f"reply {line!r} to {text!r}")
        return who

    async def open_one(i):
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(addr, port), 20.0)
            who = {await exchange(reader, writer, f"session {i} line {k}") for k in range(3)}
            if len(who) != 1:
                raise ValueError(f"one connection answered by {who}")
            conns.append((i, reader, writer, who.pop()))
        except Exception as e:  # noqa: BLE001 (counted per connection)
            failed(e)

    await asyncio.gather(*(open_one(i) for i in range(n)))
    print(json.dumps({"opened": len(conns), "total": n, "errors": errors,
                      "backends": sorted(c[3] for c in conns)}), flush=True)
    errors = {}
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    survived, same = 0, 0

    async def again(i, reader, writer, backend):
        nonlocal survived, same
        try:
            who = await exchange(reader, writer, f"session {i} after")
            survived += 1
            same += who == backend
        except Exception as e:  # noqa: BLE001
            failed(e)
        writer.close()

    await asyncio.gather(*(again(*c) for c in conns))
    print(json.dumps({"survived": survived, "total": n, "same_backend": same,
                      "errors": errors}), flush=True)


if __name__ == "__main__":
    role = sys.argv[1]
    if role == "echo":
        echo_main(sys.argv[2])
    elif role == "check":
        ports = [(int(p), proto) for p, proto in (x.split("/") for x in sys.argv[4:])]
        check_main(sys.argv[2], int(sys.argv[3]), ports or PORTS)
    elif role == "sessions":
        asyncio.run(sessions_main(sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
    elif role == "probe":
        probe_main(sys.argv[2], sys.argv[3])
    elif role == "stallwatch":
        stallwatch_main(sys.argv[2])
    else:
        sys.exit(f"unknown role {role}")
