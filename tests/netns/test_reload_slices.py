#!/usr/bin/env python3
"""A reload's follow-up in slices (docs/ARCHITECTURE.md, "Threads"): the switch to the new config
is one step on the loop, then the quorum counts are carried over and the touched services'
quorum decided in slices of at most 0.5 ms. Checked here as an operator sees it, on the host (no
IPVS): a status asked for right after the reload already shows every service counted; the
quorum of a service the reload changed, and the priority of the VRRP instance that tracks it,
are right once the slices end; two reloads in quick succession end in the second config."""

import os
import re
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
import netns  # noqa: E402
import testmain  # noqa: E402

ADDED = 3000  # enough that the follow-up takes several slices at debug level


def config_body(web_quorum=1, added=0):
    lines = [
        "node_name: slicetest\n",
        "vrrp:\n",
        "  - name: front\n",
        "    interface: eth0\n",
        "    vrid: 11\n",
        "    priority: 150\n",
        "    advert_interval: 100ms\n",
        "    vips: [10.77.0.100/24]\n",
        "    track:\n",
        "      services:\n",
        "        - {service: web, weight: -100}\n",
        "services:\n",
    ]
    # The added services come first, so that every kept service moves to another position.
    for i in range(added):
        lines.append(f"  - name: extra-{i:05d}\n"
                     f"    vip: 10.78.{i // 250}.{i % 250 + 1}\n"
                     "    port: 80\n"
                     "    health: {type: none}\n"
                     "    backends:\n"
                     f"      - {{address: 127.0.1.{i % 250 + 1}, port: 9002}}\n")
    lines.append("  - name: web\n"
                 "    vip: 10.77.0.100\n"
                 "    port: 8080\n"
                 f"    quorum: {web_quorum}\n"
                 "    health: {type: tcp, interval: 200ms, timeout: 100ms, rise: 1, fall: 1}\n"
                 "    backends:\n"
                 "      - {address: 127.0.0.2, port: 9001}\n"
                 "      - {address: 127.0.0.3, port: 9001}\n")
    return "".join(lines)


class ReloadSlices(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        netns.require_root()
        cls.lab = netns.Lab("rslice")
        cls.ns = cls.lab.node("a")
        hub = cls.lab.bridge()
        cls.lab.link(cls.ns, hub, "eth0", ["10.77.0.1/24"])
        # web: 127.0.0.2:9001 listens, 127.0.0.3:9001 does not (one healthy backend of two).
        cls.lab.tcp_listener(cls.ns, "127.0.0.2", 9001)
        cls.d = netns.L4lbd(cls.lab, cls.ns, "lb", config_body())
        cls.d.start()
        if cls.d.use_driver:
            raise unittest.SkipTest("needs l4lbd (health checks, quorum), not the vrrp driver")
        netns.wait_until(lambda: cls.d.state("front") == "MASTER", timeout=15, what="MASTER")

    @classmethod
    def tearDownClass(cls):
        cls.lab.close()

    def web(self, st):
        return [s for s in st["services"] if s["name"] == "web"]

    def quorum_met(self, st, name):
        entries = [s for s in st["services"] if s["name"] == name]
        self.assertTrue(entries, f"{name} not in status")
        return all(e["quorum_met"] for e in entries)

    def priority(self):
        return (self.d.instance("front") or {}).get("priority")

    def slice_lines(self):
        return re.findall(r"reload slices: (\d+) services' quorum in (\d+) slice", self.d.log())

    def test_1_reload_in_slices_counts_and_decides_everything(self):
        netns.wait_until(lambda: self.quorum_met(self.d.status_json(), "web"), 10,
                         what="web up (one backend of two, quorum 1)")
        self.assertEqual(self.priority(), 150)
        gen = self.d.status_json()["daemon"]["generation"]
        # 3,000 services added in front of web, and web now needs 2 healthy backends.
        self.d.write_config(config_body(web_quorum=2, added=ADDED))
        r = self.d.ctl("reload", timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        # Asked for at once: the snapshot waits for the slices, so every service is counted.
        st = self.d.status_json()
        self.assertEqual(st["daemon"]["generation"], gen + 1)
        self.assertEqual(len({s["name"] for s in st["services"]}), ADDED + 1)
        self.assertFalse(self.quorum_met(st, "web"))  # 1 healthy of the 2 it now needs
        for name in ("extra-00000", "extra-01500", f"extra-{ADDED - 1:05d}"):
            self.assertTrue(self.quorum_met(st, name), name)  # no checks: counted up at once
        # The touched services' quorum was decided in the slices, and the instance that tracks
        # web lost the weight.
        netns.wait_until(lambda: self.priority() == 50, 5, what="priority 150 - 100")
        self.assertIn("service=web quorum=2 healthy=1 BELOW QUORUM", self.d.log())
        lines = self.slice_lines()
        self.assertTrue(lines, "no 'reload slices' line")
        self.assertEqual(int(lines[-1][0]), ADDED + 1)
        # Once the follow-up is done the replaced config is freed, and the arenas are trimmed
        # off the loop (daemon/allocator.hpp) once reloads have settled: 10 s after the last
        # follow-up, once, after its slices.
        netns.wait_until(lambda: "free memory given back" in self.d.log(), 30,
                         what="the memory given back after the reload")
        log = self.d.log()
        self.assertEqual(log.count("free memory given back"), 1)
        self.assertLess(log.rindex("reload slices:"), log.index("free memory given back"))

    def test_2_reloads_in_quick_succession_end_in_the_last_config(self):
        sighups = lambda: self.d.log().count("SIGHUP: reloading")
        before = sighups()
        gen = self.d.status_json()["daemon"]["generation"]
        # Back to one service (3,000 removed, web's quorum 1 again), then at once to 3,001.
        self.d.write_config(config_body(web_quorum=1))
        self.d.reload()
        self.d.write_config(config_body(web_quorum=2, added=ADDED))
        self.d.reload()
        # On a busy host both signals may be taken after the second write (or coalesce into
        # one): then no reload changes anything, which is right too. What must hold is that
        # the daemon ends in the last config.
        netns.wait_until(lambda: sighups() >= before + 1, 30, what="a reload")

        def settled():
            st = self.d.status_json()
            return st["daemon"]["reloads_ok"] and len(st["services"]) == ADDED + 1 and \
                not self.quorum_met(st, "web")
        netns.wait_until(settled, 30, what="the second config")
        st = self.d.status_json()
        # Each reload that read a changed file is a generation; none did if both read the last.
        self.assertIn(st["daemon"]["generation"], (gen, gen + 1, gen + 2))
        netns.wait_until(lambda: self.priority() == 50, 5, what="priority with web below quorum")
        # And back: web's quorum met again, the weight given back.
        self.d.write_config(config_body(web_quorum=1))
        self.d.reload()
        netns.wait_until(lambda: len(self.d.status_json()["services"]) == 1, 30, what="1 service")
        self.assertTrue(self.quorum_met(self.d.status_json(), "web"))
        netns.wait_until(lambda: self.priority() == 150, 5, what="priority 150")

    def test_3_a_rejected_reload_does_not_lose_the_pending_trim(self):
        # A reload that commits, then at once one that is rejected: the rejected reload
        # cancels the trim's wait when it starts and has no follow-up of its own, so it must
        # arm the wait again, or the first reload's memory would wait for the next good reload.
        trims = lambda: self.d.log().count("free memory given back")
        rejected = lambda: self.d.log().count("rejected")
        self.d.write_config(config_body(web_quorum=1, added=10))
        r = self.d.ctl("reload", timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.d.write_config("services: [\n")  # a syntax error
        bad = rejected()
        r = self.d.ctl("reload", timeout=60)
        self.assertNotEqual(r.returncode, 0, r.stdout + r.stderr)
        netns.wait_until(lambda: rejected() > bad, 10, what="the reload rejected")
        after_rejection = trims()
        netns.wait_until(lambda: trims() > after_rejection, 30,
                         what="the trim after the rejected reload")
        self.d.write_config(config_body(web_quorum=1))  # as the other tests expect it
        r = self.d.ctl("reload", timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


if __name__ == "__main__":
    testmain.main()
