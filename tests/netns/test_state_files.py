#!/usr/bin/env python3
"""State files and local resources, for real: damaged records at start (each kind of damage),
a full disk under state_dir (a tiny tmpfs), and the descriptor limit l4lbd needs.

No IPVS on the host: the IPVS ownership record's damage cases are unit-tested
(tests/unit/ipvs/ownership_test.cpp); here the VIP record and the drains are exercised."""

import json
import os
import signal
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
import netns  # noqa: E402
import testmain  # noqa: E402


def body(backends=("10.77.0.50",), health="none"):
    items = "".join(f"      - {{address: {b}}}\n" for b in backends)
    return ("vrrp:\n  - name: vi\n    interface: eth0\n    vrid: 7\n    priority: 150\n"
            "    advert_interval: 50ms\n    vips: [10.77.0.100/24]\n"
            "services:\n  - name: web\n    vip: 10.77.0.100\n    port: 80\n"
            f"    protocol: tcp\n    health: {{type: {health}}}\n    backends:\n" + items)


class StateFiles(unittest.TestCase):
    def setUp(self):
        netns.require_root()
        self.lab = netns.Lab("sf")
        hub = self.lab.bridge()
        self.ns = self.lab.node("a")
        self.lab.link(self.ns, hub, "eth0", ["10.77.0.1/24"])
        self.mounts = []
        self.daemon = None

    def tearDown(self):
        if self.daemon and self.daemon.alive():
            self.daemon.stop(signal.SIGTERM, timeout=5)
        for m in reversed(self.mounts):
            subprocess.run(["umount", "-l", m], capture_output=True)
        self.lab.close()

    def start(self, text, name="lb"):
        self.daemon = netns.L4lbd(self.lab, self.ns, name, text).start()
        netns.wait_until(lambda: self.daemon.state("vi") == "MASTER" or not self.daemon.alive(),
                         10, what="l4lbd MASTER")
        self.assertTrue(self.daemon.alive(), self.daemon.log()[-3000:])
        return self.daemon

    def ctl(self, *args):
        d = self.daemon
        r = subprocess.run([d.l4lbctl, "-s", d.sock, *args], capture_output=True, text=True,
                           timeout=10)
        return r

    def backend(self, address="10.77.0.50"):
        r = self.ctl("status", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        for s in json.loads(r.stdout)["services"]:
            for b in s["backends"]:
                if b["address"] == address:
                    return b
        self.fail(f"backend {address} not in status")

    # -- damage at start -----------------------------------------------------------------------
    def test_damaged_records_are_reported_set_aside_and_safe(self):
        d = netns.L4lbd(self.lab, self.ns, "lb", body())
        state = os.path.join(d.dir, "state")
        os.makedirs(state, exist_ok=True)
        cases = {
            "drains.json": '{"drains": [{"backend": "10.77.0.50"',   # truncated
            "vrrp-vips": "\x00\x01garbage\nnot a record at all\n",   # corrupt
        }
        for name, text in cases.items():
            with open(os.path.join(state, name), "w") as f:
                f.write(text)
        self.start(body())
        log = self.daemon.log()
        self.assertIn("drains.json", log)
        self.assertIn("moved to", log)
        for name in cases:
            self.assertTrue(os.path.exists(os.path.join(state, name + ".damaged")),
                            f"{name} set aside\n{log[-2000:]}")
        # Safe behaviour: no drain survives a damaged record, and the VIP (added now, by this
        # run) is recorded afresh.
        self.assertFalse(self.backend()["drained"])
        netns.wait_until(lambda: os.path.exists(os.path.join(state, "vrrp-vips")), 5,
                         what="VIP record rewritten")
        with open(os.path.join(state, "vrrp-vips")) as f:
            self.assertIn("10.77.0.100/24", f.read())

    def test_foreign_symlinked_record_is_not_followed(self):
        d = netns.L4lbd(self.lab, self.ns, "lb", body())
        state = os.path.join(d.dir, "state")
        os.makedirs(state, exist_ok=True)
        victim = self.lab.write("victim", "precious\n")
        os.symlink(victim, os.path.join(state, "drains.json"))
        self.start(body())
        self.assertIn("symlink", self.daemon.log())
        r = self.ctl("drain", "10.77.0.50")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        with open(victim) as f:
            self.assertEqual(f.read(), "precious\n")  # the write replaced the link, not the file
        self.assertFalse(os.path.islink(os.path.join(state, "drains.json")))

    # -- a full disk ---------------------------------------------------------------------------
    def test_full_disk_loses_nothing(self):
        d = netns.L4lbd(self.lab, self.ns, "lb", body(("10.77.0.50", "10.77.0.51")))
        state = os.path.join(d.dir, "state")
        os.makedirs(state, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "l4lb-test", state],
                       check=True)
        self.mounts.append(state)
        self.start(body(("10.77.0.50", "10.77.0.51")))
        r = self.ctl("drain", "10.77.0.50")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        drains = os.path.join(state, "drains.json")
        with open(drains) as f:
            before = f.read()
        self.assertIn("10.77.0.50", before)
        # Fill the disk to the last block.
        subprocess.run(["dd", "if=/dev/zero", f"of={state}/filler", "bs=4k"],
                       capture_output=True)
        r = self.ctl("drain", "10.77.0.51")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)  # applied, not saved
        self.assertTrue(self.daemon.alive())
        self.assertTrue(self.backend("10.77.0.51")["drained"])
        self.assertIn("No space left on device", self.daemon.log())
        with open(drains) as f:
            self.assertEqual(f.read(), before)  # the previous record is intact
        self.assertFalse(os.path.exists(drains + ".tmp"))
        # Space again: the next change is saved, and a restart finds both drains.
        os.unlink(os.path.join(state, "filler"))
        r = self.ctl("undrain", "10.77.0.51")
        self.assertEqual(r.returncode, 0)
        r = self.ctl("drain", "10.77.0.51")
        self.assertEqual(r.returncode, 0)
        self.daemon.stop(signal.SIGTERM)
        self.start(body(("10.77.0.50", "10.77.0.51")), name="lb")
        self.assertTrue(self.backend("10.77.0.50")["drained"])
        self.assertTrue(self.backend("10.77.0.51")["drained"])

    # -- descriptors ---------------------------------------------------------------------------
    def test_descriptor_limit_is_raised_or_start_fails_clearly(self):
        many = tuple(f"10.77.1.{i}" for i in range(1, 201))  # 200 checks + the base allowance
        d = netns.L4lbd(self.lab, self.ns, "low", body(many, health="tcp, handshake: full"))
        # Hard limit too low: refuse to start, and say which setting lifts it.
        r = self.lab.run(self.ns, ["prlimit", "--nofile=300:300", d.l4lbd, "-c", d.conf],
                         check=False, timeout=20)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("LimitNOFILE", r.stdout + r.stderr)
        # Soft limit low, hard limit as inherited (high): raised at start.
        d2 = netns.L4lbd(self.lab, self.ns, "high", body(many, health="tcp, handshake: full"))
        p = self.lab.spawn(self.ns, ["prlimit", "--nofile=300:", d2.l4lbd, "-c", d2.conf],
                           log="high.log")
        try:
            def soft_limit():
                try:
                    with open(f"/proc/{p.pid}/limits") as f:
                        for line in f:
                            if line.startswith("Max open files"):
                                return int(line.split()[3])
                except OSError:
                    return None
            # prlimit execs l4lbd in place, so the pid is l4lbd's.
            netns.wait_until(lambda: (soft_limit() or 0) >= 456, 10, what="soft limit raised")
        finally:
            self.lab.stop(p)

    def test_reload_needing_more_descriptors_than_the_hard_limit_is_refused(self):
        # The reload is loaded off the loop, but the descriptor check runs before anything is
        # applied: a config the hard limit cannot serve is refused whole, the running one stays.
        d = self.start(body(("10.77.1.1",), health="tcp, handshake: full"))
        subprocess.run(["prlimit", f"--pid={d.proc.pid}", "--nofile=300:300"], check=True)
        many = tuple(f"10.77.1.{i}" for i in range(1, 201))
        d.write_config(body(many, health="tcp, handshake: full"))
        r = self.ctl("reload")
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertIn("LimitNOFILE", r.stdout + r.stderr)
        st = json.loads(self.ctl("status", "--json").stdout)
        self.assertEqual((st["daemon"]["generation"], st["daemon"]["reloads_failed"]), (1, 1))
        self.assertEqual(len(st["services"][0]["backends"]), 1)
        # A config that fits is applied by the next reload.
        d.write_config(body(("10.77.1.1", "10.77.1.2"), health="tcp, handshake: full"))
        r = self.ctl("reload")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        st = json.loads(self.ctl("status", "--json").stdout)
        self.assertEqual((st["daemon"]["generation"], st["daemon"]["reloads_ok"]), (2, 1))
        self.assertTrue(d.alive())

    def test_descriptor_exhaustion_never_takes_a_backend_down(self):
        self.lab.tcp_listener(self.ns, "127.0.0.2", 9001)
        text = ("vrrp:\n  - name: vi\n    interface: eth0\n    vrid: 7\n    priority: 150\n"
                "    advert_interval: 50ms\n    vips: [10.77.0.100/24]\n"
                "services:\n  - name: web\n    vip: 10.77.0.100\n    port: 80\n"
                "    protocol: tcp\n"
                "    health: {type: tcp, handshake: full, interval: 100ms, timeout: 100ms, "
                "rise: 1, fall: 1}\n"
                "    backends:\n      - {address: 127.0.0.2, port: 9001}\n")
        d = self.start(text)

        def health():
            r = self.ctl("status", "--json")
            doc = json.loads(r.stdout)
            return doc["health"][0], doc.get("health_checker", {})
        netns.wait_until(lambda: health()[0]["status"] == "up", 10, what="backend up")
        pid = d.proc.pid
        # A soft limit of 3: no descriptor number is free below it, so every new socket (each
        # connect() check) fails with EMFILE; the sockets already open keep working. Only the
        # soft limit: raising a hard limit again needs CAP_SYS_RESOURCE, which CI may lack.
        subprocess.run(["prlimit", f"--pid={pid}", "--nofile=3:"], check=True)
        try:
            # The control socket cannot accept either (that needs a descriptor too): the log
            # is the witness while the table is full.
            netns.wait_until(lambda: "short of local resources" in d.log(), 10,
                             what="local resource errors logged")
            import time
            time.sleep(1.0)  # ten check intervals with no descriptor
        finally:
            subprocess.run(["prlimit", f"--pid={pid}", "--nofile=1024:"], check=True)
        h, checker = health()
        self.assertEqual(h["status"], "up", h)
        self.assertGreater(checker.get("local_resource_errors", 0), 3, checker)
        self.assertTrue(d.alive())
        checks = h["checks"]
        netns.wait_until(lambda: health()[0]["checks"] > checks + 3, 10,
                         what="checks resume once descriptors are back")

if __name__ == "__main__":
    testmain.main()
