#!/usr/bin/env python3
"""The programs of the connection-sync lab (test_conn_sync.py) inside its namespaces:
    conn_sync_node.py serve NAME PORT...      line echo server: answers "NAME <line>"
    conn_sync_node.py clients ADDR PORT:N...  N long-lived connections to ADDR:PORT each; see below

The client opens every connection, exchanges one line on each (so that IPVS has seen the
three packets after which its sync master first sends a connection: sync_threshold "3 50"),
prints one JSON line {"opened": ...}, then keeps every other connection busy (a line every
0.3 s) while the rest stay idle. A line "check" on stdin makes every connection, idle or busy,
exchange one more line (each with 20 s to answer: TCP retransmits across the takeover). Then
one JSON line per port: how many survived, and how each of the others failed.
"""

import asyncio
import json
import sys
import time

TIMEOUT = 20.0


def serve_main(name, ports):
    async def handle(reader, writer):
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                writer.write(f"{name} ".encode() + line)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def main():
        servers = [await asyncio.start_server(handle, "0.0.0.0", int(p), backlog=1024)
                   for p in ports]
        print("ready", flush=True)
        await asyncio.gather(*(s.serve_forever() for s in servers))

    asyncio.run(main())


class Conn:
    def __init__(self, port, index):
        self.port, self.index = port, index
        self.busy = index % 2 == 1
        self.backend = None
        self.error = None  # first failure: "reset", "timeout", "closed", "wrong backend ..."
        self.exchanges = 0

    async def exchange(self, text):
        self.writer.write(f"{text}\n".encode())
        await self.writer.drain()
        line = await asyncio.wait_for(self.reader.readline(), TIMEOUT)
        if not line:
            raise EOFError
        who, _, echoed = line.decode().rstrip("\n").partition(" ")
        if echoed != text:
            raise ValueError(f"echo {echoed!r} for {text!r}")
        if self.backend is None:
            self.backend = who
        elif who != self.backend:
            raise ValueError(f"answered by {who}, not {self.backend}")
        self.exchanges += 1

    def fail(self, exc):
        if self.error is None:
            if isinstance(exc, (ConnectionResetError, BrokenPipeError)):
                self.error = "reset"
            elif isinstance(exc, asyncio.TimeoutError):
                self.error = "timeout"
            elif isinstance(exc, EOFError):
                self.error = "closed"
            else:
                self.error = f"{type(exc).__name__}: {exc}"


async def clients_main(addr, specs):
    conns = [Conn(int(p), i) for p, n in (s.split(":") for s in specs) for i in range(int(n))]
    sem = asyncio.Semaphore(50)  # a few SYNs at a time: the guest is slow

    async def open_one(c):
        async with sem:
            try:
                c.reader, c.writer = await asyncio.wait_for(
                    asyncio.open_connection(addr, c.port), TIMEOUT)
                await c.exchange(f"hello {c.index}")
            except Exception as e:  # noqa: BLE001 (recorded per connection)
                c.fail(e)

    t0 = time.monotonic()
    await asyncio.gather(*(open_one(c) for c in conns))
    print(json.dumps({"opened": sum(c.error is None for c in conns), "total": len(conns),
                      "seconds": round(time.monotonic() - t0, 2),
                      "errors": sorted({c.error for c in conns if c.error})}), flush=True)

    stop = asyncio.Event()

    async def busy(c):
        n = 0
        while not stop.is_set() and c.error is None:
            try:
                await c.exchange(f"busy {c.index} {n}")
            except Exception as e:  # noqa: BLE001
                c.fail(e)
                return
            n += 1
            try:
                await asyncio.wait_for(stop.wait(), 0.3)
            except asyncio.TimeoutError:
                pass

    tasks = [asyncio.create_task(busy(c)) for c in conns if c.busy and c.error is None]
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)  # "check"
    stop.set()
    await asyncio.gather(*tasks)

    async def final(c):
        if c.error is None:
            try:
                await c.exchange(f"after {c.index}")
            except Exception as e:  # noqa: BLE001
                c.fail(e)

    t1 = time.monotonic()
    await asyncio.gather(*(final(c) for c in conns))
    out = {}
    for port in sorted({c.port for c in conns}):
        mine = [c for c in conns if c.port == port]
        errors = {}
        for c in mine:
            if c.error:
                key = f"{'busy' if c.busy else 'idle'}: {c.error}"
                errors[key] = errors.get(key, 0) + 1
        out[str(port)] = {"total": len(mine), "survived": sum(c.error is None for c in mine),
                          "idle_survived": sum(c.error is None for c in mine if not c.busy),
                          "busy_survived": sum(c.error is None for c in mine if c.busy),
                          "errors": errors,
                          "backends": sorted({c.backend for c in mine if c.backend})}
    out["check_seconds"] = round(time.monotonic() - t1, 2)
    print(json.dumps(out), flush=True)
    for c in conns:
        if getattr(c, "writer", None):
            c.writer.close()


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve_main(sys.argv[2], sys.argv[3:])
    elif sys.argv[1] == "clients":
        asyncio.run(clients_main(sys.argv[2], sys.argv[3:]))
    else:
        sys.exit(f"unknown command {sys.argv[1]}")
