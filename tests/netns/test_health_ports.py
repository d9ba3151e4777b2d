#!/usr/bin/env python3
"""Every port of a multi-port service is checked on its own (issue 13 section 1), by the real
l4lbd in a network namespace (no IPVS on the host: only the checks and what status, metrics and
the log say about them). A backend listening on port A but not on port B is up for A and down
for B; an explicit health.port keeps one shared check, up for both."""

import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
import netns  # noqa: E402
import testmain  # noqa: E402

BUILD = netns.build_dir()
L4LBCTL = os.path.join(BUILD, "src", "ctl", "l4lbctl")
PORT_A, PORT_B = 20001, 20002
BACKEND = "127.0.0.2"          # listens on PORT_A only
OTHER = "127.0.0.3"            # listens on both

BODY = f"""node_name: ports
metrics: {{listen: "127.0.0.1:19466"}}
services:
  - name: two
    vip: 10.78.0.100
    ports: [{PORT_A}, {PORT_B}]
    quorum: 2
    health: {{type: tcp, interval: 200ms, timeout: 100ms, rise: 1, fall: 1}}
    backends: [{BACKEND}, {OTHER}]
  - name: shared
    vip: 10.78.0.101
    ports: [{PORT_A}, {PORT_B}]
    health: {{type: tcp, port: {PORT_A}, interval: 200ms, timeout: 100ms, rise: 1, fall: 1}}
    backends: [{BACKEND}]
"""

LISTENER = ("import socket,sys,threading\n"
            "def serve(a, p):\n"
            "  s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
            "  s.bind((a, p)); s.listen(64)\n"
            "  while True:\n    c,_=s.accept(); c.close()\n"
            "pairs=[(a, int(p)) for a, p in (x.split(':') for x in sys.argv[1:])]\n"
            "for a, p in pairs[1:]: threading.Thread(target=serve, args=(a, p), daemon=True).start()\n"
            "serve(*pairs[0])\n")


class EveryPortChecked(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        netns.require_root()
        cls.lab = netns.Lab("hports")
        cls.ns = cls.lab.node("a")
        cls.lab.run(cls.ns, ["ip", "link", "set", "lo", "up"], check=False)
        cls.lab.spawn(cls.ns, [sys.executable, "-c", LISTENER, f"{BACKEND}:{PORT_A}",
                               f"{OTHER}:{PORT_A}", f"{OTHER}:{PORT_B}"])
        cls.d = netns.L4lbd(cls.lab, cls.ns, "lb", BODY, log_level="debug")
        cls.d.start()
        netns.wait_until(lambda: cls.d.status() is not None, timeout=15, what="l4lbd answering")

    @classmethod
    def tearDownClass(cls):
        cls.lab.close()

    def ctl(self, *args):
        r = self.lab.run(self.ns, [L4LBCTL, "-s", self.d.sock, *args], check=False)
        self.assertEqual(r.returncode, 0, f"{args}: {r.stdout}\n{r.stderr}\n{self.d.log()}")
        return r.stdout

    def status(self):
        return json.loads(self.ctl("status", "--json"))

    def backend_health(self, st, service):
        """{(port, backend address): health} over the service's port entries."""
        return {(svc["port"], b["address"]): b["health"]
                for svc in st["services"] if svc["name"] == service for b in svc["backends"]}

    def test_dead_port_is_down_for_that_port_only(self):
        want = {(PORT_A, BACKEND): "up", (PORT_B, BACKEND): "down",
                (PORT_A, OTHER): "up", (PORT_B, OTHER): "up"}
        netns.wait_until(lambda: self.backend_health(self.status(), "two") == want, timeout=15,
                         what=f"per-port health {want}")
        st = self.status()
        # One check per service x port x backend, each naming its port.
        checks = {(c["port"], c["backend"]): c for c in st["health"] if c["service"] == "two"}
        self.assertEqual(set(checks), set(want))
        self.assertEqual(checks[(PORT_B, BACKEND)]["status"], "down")
        self.assertIn("refused", checks[(PORT_B, BACKEND)]["failures"])
        # (The listener may start after the first checks: failures before it are possible.)
        self.assertEqual((checks[(PORT_A, BACKEND)]["status"],
                          checks[(PORT_A, BACKEND)]["last_error"]), ("up", ""))
        # Quorum 2: PORT_B has one healthy backend, so the whole service is below quorum.
        entries = {svc["port"]: svc for svc in st["services"] if svc["name"] == "two"}
        self.assertEqual((entries[PORT_A]["healthy"], entries[PORT_B]["healthy"]), (2, 1))
        self.assertFalse(entries[PORT_A]["quorum_met"])
        self.assertFalse(entries[PORT_B]["quorum_met"])
        # The table shows it per port.
        text = self.ctl("status")
        self.assertIn(f"10.78.0.100:{PORT_A}/tcp", text)
        self.assertIn("2/2 BELOW QUORUM", text)
        self.assertIn("1/2 BELOW QUORUM", text)
        # The log line names the port.
        log = self.d.log()
        self.assertRegex(log, rf"health service=two port={PORT_B} backend={BACKEND}:{PORT_B} \w+ -> down")
        self.assertRegex(log, rf"health service=two port={PORT_A} backend={BACKEND}:{PORT_A} \w+ -> up")
        # So do the metrics.
        metrics = self.lab.out(self.ns, ["curl", "-sf", "http://127.0.0.1:19466/metrics"])
        self.assertIn(f'l4lb_backend_up{{service="two",port="{PORT_B}",backend="{BACKEND}"}} 0',
                      metrics)
        self.assertIn(f'l4lb_backend_up{{service="two",port="{PORT_A}",backend="{BACKEND}"}} 1',
                      metrics)

    def test_health_port_keeps_one_shared_check(self):
        netns.wait_until(lambda: self.backend_health(self.status(), "shared")
                         == {(PORT_A, BACKEND): "up", (PORT_B, BACKEND): "up"}, timeout=15,
                         what="shared check up for both ports")
        st = self.status()
        [check] = [c for c in st["health"] if c["service"] == "shared"]
        self.assertIsNone(check["port"])
        self.assertEqual(check["status"], "up")
        self.assertRegex(self.d.log(), rf"health service=shared port=all backend={BACKEND}:\d+ \w+ -> up")
        metrics = self.lab.out(self.ns, ["curl", "-sf", "http://127.0.0.1:19466/metrics"])
        self.assertIn(f'l4lb_backend_up{{service="shared",port="all",backend="{BACKEND}"}} 1',
                      metrics)


if __name__ == "__main__":
    testmain.main()
