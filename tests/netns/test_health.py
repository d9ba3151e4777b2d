#!/usr/bin/env python3
"""Health checkers against real servers in network namespaces (tier: netns, root).

A client namespace runs the real health::Monitor (tests/unit/health/health_probe) against a
server namespace joined by a bridge. The server namespace holds: a TCP server that accepts,
a closed TCP port (RST), a black hole (a routed address the server namespace does not own,
with forwarding off: SYNs vanish without RST or ICMP), a UDP echo server, a silent UDP
port, a closed UDP port (ICMP port unreachable), and HTTP servers answering 200, 500, a slow
body and an endless body. A scripted server makes a backend flap and a killable one dies and
comes back; transitions must follow rise/fall exactly.

The same file, run with --serve, is the server process (stdlib only).
"""

import json
import os
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
import netns  # noqa: E402
import testmain  # noqa: E402

BUILD = os.environ.get("L4LB_BUILD_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
PROBE = os.path.join(BUILD, "tests", "unit", "health", "health_probe")

CLIENT, CLIENT_SRC1, CLIENT_SRC2 = "10.77.0.1", "10.77.0.11", "10.77.0.12"
SERVER = "10.77.0.2"
CLIENT6, SERVER6 = "fd77::1", "fd77::2"
HOLE = "10.78.0.5"  # routed to the server namespace, which drops it

# Ports in the server namespace.
TCP_OK, TCP_CLOSED = 7001, 7002
UDP_ECHO, UDP_SILENT, UDP_CLOSED = 7101, 7102, 7103
HTTP_OK, HTTP_500, HTTP_SLOW, HTTP_ENDLESS = 7201, 7202, 7203, 7204
FLAP, KILLABLE = 7301, 7401
TCP_COUNT = 7501  # IPv6: answers with how many connections TCP_OK has accepted over IPv6
FLAP_SCRIPT = "1100101110000111010001111011000"


# ----------------------------------------------------------------------------- server side
def serve(kind):
    if kind == "killable":
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((SERVER, KILLABLE))
        s.listen(64)
        while True:
            c, _ = s.accept()
            c.close()

    class ThreadedTCP(socketserver.ThreadingTCPServer):
        allow_reuse_address = True
        daemon_threads = True

    threads = []

    def tcp(port, handler):
        srv = ThreadedTCP((SERVER, port), handler)
        t = threading.Thread(target=srv.serve_forever, daemon=True)
        t.start()
        threads.append(t)

    class Hold(socketserver.BaseRequestHandler):
        def handle(self):
            self.request.recv(1)

    flap_count = [0]
    flap_lock = threading.Lock()

    class Flap(socketserver.BaseRequestHandler):
        def handle(self):
            if not self.request.recv(1):
                return
            with flap_lock:
                n = flap_count[0]
                flap_count[0] += 1
            ok = n >= len(FLAP_SCRIPT) or FLAP_SCRIPT[n] == "1"
            self.request.sendall(b"OK" if ok else b"NO")

    def http(body_mode):
        class H(socketserver.BaseRequestHandler):
            def handle(self):
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = self.request.recv(4096)
                    if not chunk:
                        return
                    data += chunk
                try:
                    if body_mode == "ok":
                        self.request.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    elif body_mode == "500":
                        self.request.sendall(b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n")
                    elif body_mode == "slow":
                        self.request.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
                        for _ in range(100):
                            time.sleep(0.1)
                            self.request.sendall(b"x")
                    elif body_mode == "endless":
                        self.request.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                        chunk = b"1000\r\n" + b"y" * 0x1000 + b"\r\n"
                        while True:
                            self.request.sendall(chunk)
                except OSError:
                    pass
        return H

    tcp(TCP_OK, Hold)

    class ThreadedTCP6(ThreadedTCP):
        address_family = socket.AF_INET6

    # Counts the connections it accepts: a half-open check must never reach it.
    accepted6 = [0]

    class Count(socketserver.BaseRequestHandler):
        def handle(self):
            accepted6[0] += 1
            self.request.recv(1)

    class Report(socketserver.BaseRequestHandler):
        def handle(self):
            self.request.sendall(str(accepted6[0]).encode())

    for port, handler in ((TCP_OK, Count), (TCP_COUNT, Report)):
        srv6 = ThreadedTCP6((SERVER6, port), handler)
        threading.Thread(target=srv6.serve_forever, daemon=True).start()
    tcp(FLAP, Flap)
    tcp(HTTP_OK, http("ok"))
    tcp(HTTP_500, http("500"))
    tcp(HTTP_SLOW, http("slow"))
    tcp(HTTP_ENDLESS, http("endless"))

    def udp(port, echo):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((SERVER, port))

        def loop():
            while True:
                data, peer = s.recvfrom(2048)
                if echo:
                    s.sendto(b"pong:" + data, peer)
        t = threading.Thread(target=loop, daemon=True)
        t.start()
        threads.append(t)

    udp(UDP_ECHO, True)
    udp(UDP_SILENT, False)
    print("ready", flush=True)
    while True:
        time.sleep(3600)


# ----------------------------------------------------------------------------- test side
HANDSHAKES = (("", "auto"), ("_full", "full"))


def service(name, port, htype="tcp", backend=SERVER, **health):
    h = {"type": htype, "interval_ms": 200, "timeout_ms": 500, "rise": 2, "fall": 2}
    h.update(health)
    return {"name": name, "ports": [port], "health": h, "backends": [{"address": backend}]}


class HealthNetns(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        netns.require_root()
        if not os.access(PROBE, os.X_OK):
            raise unittest.SkipTest(f"{PROBE} not built (target health_probe)")
        cls.lab = netns.Lab("hc")
        lab = cls.lab
        hub = lab.bridge()
        cls.client = lab.node("c")
        cls.server = lab.node("s")
        lab.link(cls.client, hub, "eth0", [f"{CLIENT}/24", f"{CLIENT_SRC1}/24", f"{CLIENT_SRC2}/24"])
        lab.link(cls.server, hub, "eth0", [f"{SERVER}/24"])
        for node, a in ((cls.client, CLIENT6), (cls.server, SERVER6)):
            lab.run(node, ["ip", "addr", "add", f"{a}/64", "dev", "eth0", "nodad"])
        lab.run(cls.client, ["ip", "route", "add", "10.78.0.0/24", "via", SERVER])
        # Forwarding off (the namespace default, set explicitly): a packet for an address the
        # server namespace does not own is dropped silently — a black hole.
        lab.run(cls.server, ["sysctl", "-qw", "net.ipv4.ip_forward=0"])
        cls.servers = lab.spawn(cls.server, [sys.executable, os.path.abspath(__file__), "--serve", "all"],
                                stdout=subprocess.PIPE)
        assert cls.servers.stdout.readline().strip() == b"ready"
        cls.killable = None

    @classmethod
    def tearDownClass(cls):
        cls.lab.close()

    def start_killable(self):
        self.killable = self.lab.spawn(self.server, [sys.executable, os.path.abspath(__file__),
                                                     "--serve", "killable"])
        netns.wait_until(lambda: self._listening(KILLABLE), timeout=10, what="killable listener")

    def _listening(self, port):
        out = self.lab.out(self.server, ["ss", "-Hltn", f"sport = :{port}"])
        return str(port) in out

    def run_probe(self, services, duration, extra=(), name="checks.json"):
        path = self.lab.write(name, json.dumps({"services": services}))
        r = self.lab.run(self.client, [PROBE, "--config", path, "--duration", str(duration),
                                       "--summary", *extra], timeout=duration + 60)
        return [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]

    def spawn_probe(self, services, name):
        path = self.lab.write(name + ".json", json.dumps({"services": services}))
        return self.lab.spawn(self.client, [PROBE, "--config", path, "--duration", "0", "--summary"],
                              log=name + ".out")

    def events(self, name):
        return [json.loads(l) for l in self.lab.read(name + ".out").splitlines() if l.startswith("{")]

    def test_status_and_reason_of_every_server_kind(self):
        want = {
            # name: (service, expected status, expected failure reason or None)
            # tcp checks run half-open (the default, auto) and with a full connect.
            **{f"tcp_ok{sfx}": (service(f"tcp_ok{sfx}", TCP_OK, handshake=hs), "up", None)
               for sfx, hs in HANDSHAKES},
            **{f"tcp_refused{sfx}": (service(f"tcp_refused{sfx}", TCP_CLOSED, handshake=hs),
                                     "down", "refused") for sfx, hs in HANDSHAKES},
            **{f"tcp_blackhole{sfx}": (service(f"tcp_blackhole{sfx}", TCP_OK, backend=HOLE,
                                               handshake=hs), "down", "timeout")
               for sfx, hs in HANDSHAKES},
            **{f"tcp_source{sfx}": (service(f"tcp_source{sfx}", TCP_OK, source=CLIENT_SRC1,
                                            handshake=hs), "up", None) for sfx, hs in HANDSHAKES},
            **{f"tcp_bad_source{sfx}": (service(f"tcp_bad_source{sfx}", TCP_OK, source="192.0.2.9",
                                                handshake=hs), "down", "bind")
               for sfx, hs in HANDSHAKES},
            "tcp6_ok": (service("tcp6_ok", TCP_OK, backend=SERVER6), "up", None),
            "tcp6_refused": (service("tcp6_refused", TCP_CLOSED, backend=SERVER6), "down", "refused"),
            "tcp6_source": (service("tcp6_source", TCP_OK, backend=SERVER6, source=CLIENT6),
                            "up", None),
            "udp_echo": (service("udp_echo", UDP_ECHO, "udp", send="hi", expect="pong:hi"), "up", None),
            "udp_echo_prefix": (service("udp_echo_prefix", UDP_ECHO, "udp", send="hi", expect="pong",
                                        expect_prefix=True), "up", None),
            "udp_echo_wrong": (service("udp_echo_wrong", UDP_ECHO, "udp", send="hi", expect="pong"),
                               "down", "bad_response"),
            "udp_silent": (service("udp_silent", UDP_SILENT, "udp", send="hi", expect="pong:hi"),
                           "down", "timeout"),
            "udp_silent_weak": (service("udp_silent_weak", UDP_SILENT, "udp", send="hi"), "up", None),
            # Each closed-port check uses its own source address: the server rate-limits ICMP
            # per destination (net.ipv4.icmp_ratelimit), which the weak check cannot tell from
            # silence (see docs/BENCHMARKS.md / probe.hpp).
            "udp_closed": (service("udp_closed", UDP_CLOSED, "udp", send="hi", expect="x",
                                   source=CLIENT_SRC1, interval_ms=1000), "down", "icmp_unreachable"),
            "udp_closed_weak": (service("udp_closed_weak", UDP_CLOSED, "udp", send="hi",
                                        source=CLIENT_SRC2, interval_ms=1000),
                                "down", "icmp_unreachable"),
            "http_ok": (service("http_ok", HTTP_OK, "http", path="/health"), "up", None),
            "http_500": (service("http_500", HTTP_500, "http"), "down", "http_status"),
            "http_slow": (service("http_slow", HTTP_SLOW, "http"), "down", "timeout"),
            "http_endless": (service("http_endless", HTTP_ENDLESS, "http", timeout_ms=5000,
                                     max_response_bytes=65536), "down", "too_large"),
        }
        accepted_before = self.accepted6()
        events = self.run_probe([v[0] for v in want.values()], duration=4)
        end = events[-1]
        self.assertEqual(end["event"], "end")
        by_name = {b["service"]: b for b in end["backends"]}
        for name, (_, status, reason) in want.items():
            with self.subTest(name=name):
                b = by_name[name]
                self.assertGreaterEqual(b["checks"], 2, b)
                self.assertEqual(b["status"], status, b)
                if reason is None:
                    self.assertEqual(b["failures"], {}, b)
                    # Measured from the SYN to the answer (kernel timestamps when half-open):
                    # a real, positive figure within the timeout.
                    if b["service"].startswith("tcp"):
                        self.assertGreater(b["last_latency_us"], 0, b)
                        self.assertLess(b["last_latency_us"], 500_000, b)
                else:
                    # Every check failed, and for the one expected reason.
                    self.assertEqual(b["failures"], {reason: b["checks"]}, b)
                # Decided by the first result (fast start): exactly one transition, never a flap.
                self.assertEqual(b["transitions"], 1, b)
        # The half-open checks went out as SYNs and every answer matched a check; none of
        # them reached the IPv6 server's application (it accepted no connection).
        syn = end["syn"]
        self.assertGreater(syn["answered"], 0, syn)
        self.assertEqual((syn["stray"], syn["malformed"], syn["buffer_overflows"]), (0, 0, 0), syn)
        self.assertEqual(self.accepted6(), accepted_before)

    def accepted6(self):
        """Connections the IPv6 server's application has accepted on TCP_OK."""
        return int(self.lab.out(self.client, [sys.executable, "-c", (
            "import socket; s = socket.create_connection(('%s', %d)); print(s.recv(16).decode())"
            % (SERVER6, TCP_COUNT))]))

    def test_full_handshake_reaches_the_application(self):
        # The control for the half-open assertion above: the same server counts full connects.
        before = self.accepted6()
        events = self.run_probe([service("full6", TCP_OK, backend=SERVER6, handshake="full")],
                                duration=1)
        after = self.accepted6()
        checks = events[-1]["backends"][0]["checks"]
        self.assertGreaterEqual(checks, 2)
        self.assertEqual(events[-1]["syn"]["sent"], 0)
        self.assertGreaterEqual(after - before, checks - 1)  # the last may still be in accept()

    def test_flapping_backend_follows_rise_and_fall_exactly(self):
        rise, fall = 3, 2
        svc = service("flap", FLAP, send="?", expect="OK", interval_ms=50, rise=rise, fall=fall)
        events = self.run_probe([svc], duration=len(FLAP_SCRIPT) * 0.05 + 3)
        got = [(e["status"], e["checks"]) for e in events if e["event"] == "transition"]
        want, status, ok_run, fail_run = [], "unknown", 0, 0
        for i, c in enumerate(FLAP_SCRIPT, start=1):
            ok_run, fail_run = (ok_run + 1, 0) if c == "1" else (0, fail_run + 1)
            new = status
            if c == "1" and (status == "unknown" or (status == "down" and ok_run >= rise)):
                new = "up"
            if c == "0" and (status == "unknown" or (status == "up" and fail_run >= fall)):
                new = "down"
            if new != status:
                want.append((new, i))
                status = new
        self.assertGreater(len(want), 4)
        self.assertEqual(got[:len(want)], want)
        # After the script the server always answers OK: at most the final rise.
        self.assertLessEqual(len(got), len(want) + 1)

    def test_killed_backend_goes_down_after_fall_and_back_after_rise(self):
        rise, fall = 3, 2
        self.start_killable()
        p = self.spawn_probe([service("kill", KILLABLE, interval_ms=100, rise=rise, fall=fall)], "kill")
        ups = lambda: [e for e in self.events("kill") if e.get("status") == "up"]
        downs = lambda: [e for e in self.events("kill") if e.get("status") == "down"]
        netns.wait_until(lambda: len(ups()) == 1, timeout=10, what="first up")
        self.lab.stop(self.killable, sig=9)
        netns.wait_until(lambda: downs(), timeout=10, what="down after kill")
        d = downs()[0]
        self.assertEqual(d["consecutive_fail"], fall)
        self.assertTrue(d["error"].startswith("refused"), d)
        self.start_killable()
        netns.wait_until(lambda: len(ups()) == 2, timeout=10, what="up after restart")
        u = ups()[1]
        self.assertEqual(u["consecutive_ok"], rise)
        # Every check between the down and the up failed except the last `rise` ones.
        self.assertGreaterEqual(u["checks"] - d["checks"], rise)
        self.lab.stop(p)
        self.lab.stop(self.killable, sig=9)

    def test_reload_keeps_unchanged_checks(self):
        svc_a = service("a", TCP_OK)
        svc_b = service("b", TCP_CLOSED)
        p = self.spawn_probe([svc_a, svc_b], "reload")
        netns.wait_until(lambda: len([e for e in self.events("reload") if e["event"] == "transition"]) == 2,
                         timeout=10, what="both decided")
        # Drop b, keep a unchanged: a must not transition again.
        self.lab.write("reload.json", json.dumps({"services": [svc_a]}))
        os.kill(p.pid, signal.SIGHUP)  # `ip netns exec` execs: p.pid is health_probe
        netns.wait_until(lambda: any(e["event"] == "reload" for e in self.events("reload")),
                         timeout=10, what="reload")
        time.sleep(1)
        self.lab.stop(p)
        ev = self.events("reload")
        self.assertEqual([e for e in ev if e["event"] == "reload"][0]["checks"], 1)
        a_transitions = [e for e in ev if e["event"] == "transition" and e["service"] == "a"]
        self.assertEqual(len(a_transitions), 1)
        end = ev[-1]
        self.assertEqual(end["event"], "end")
        self.assertEqual([b["service"] for b in end["backends"]], ["a"])


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "--serve":
        serve(sys.argv[2])
    else:
        testmain.main()
