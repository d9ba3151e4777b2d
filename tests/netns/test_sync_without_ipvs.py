#!/usr/bin/env python3
"""`ipvs.sync_daemon` where IPVS is missing (the host kernel has none): l4lbd starts, VRRP runs,
the sync daemons it cannot start are an error in status (JSON and text) and in the log, logged
once and retried every 5 s (the error count grows), and the wanted roles still follow the VRRP
state. The success path needs real IPVS: tests/lab/test_conn_sync.py."""

import json
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
import netns  # noqa: E402
import testmain  # noqa: E402

BODY = ("ipvs:\n"
        "  sync_daemon: {instance: front, interface: eth0, sync_id: 3}\n"
        "vrrp:\n"
        "  - {name: front, interface: eth0, vrid: 12, advert_interval: 100ms,"
        " vips: [10.79.0.100/24]}\n")


class SyncWithoutIpvs(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        netns.require_root()
        if os.path.exists("/proc/sys/net/ipv4/vs"):
            raise unittest.SkipTest("this host has IPVS: the lab test covers it")
        cls.lab = netns.Lab("syn")
        cls.ns = cls.lab.node("a")
        cls.lab.link(cls.ns, cls.lab.bridge(), "eth0", ["10.79.0.1/24"])
        cls.d = netns.L4lbd(cls.lab, cls.ns, "lb", BODY)
        cls.d.start()
        netns.wait_until(lambda: cls.d.state("front") == "MASTER", timeout=15, what="MASTER")

    @classmethod
    def tearDownClass(cls):
        cls.lab.close()

    def ctl(self, *args):
        return subprocess.run([self.d.l4lbctl, "-s", self.d.sock, *args], capture_output=True,
                              text=True, timeout=10)

    def sync(self):
        return json.loads(self.ctl("status", "--json").stdout)["ipvs"]["sync"]

    def test_errors_reported_retried_daemon_runs(self):
        s = netns.wait_until(lambda: (lambda x: x["instance_master"] and x)(self.sync()),
                             timeout=10, what="the sync section to follow MASTER")
        self.assertEqual(s["configured"]["instance"], "front")
        self.assertEqual(s["configured"]["sync_id"], 3)
        self.assertEqual(s["wanted"], ["master", "backup"])
        self.assertFalse(s["in_sync"])
        self.assertIsNone(s["running"])  # never read: no IPVS
        self.assertIn("IPVS is not available", s["last_error"])
        first = s["errors_total"]
        self.assertGreaterEqual(first, 1)
        time.sleep(5.5)  # one retry period
        self.assertGreater(self.sync()["errors_total"], first)
        text = self.ctl("status").stdout
        self.assertIn("IPVS sync: instance front MASTER; running none", text)
        self.assertIn("IPVS sync: ERROR: IPVS is not available", text)
        # Logged once, not on every retry.
        self.assertEqual(self.d.log().count("ipvs sync: IPVS is not available"), 1, self.d.log())
        self.assertTrue(self.d.alive())
        self.assertEqual(self.d.state("front"), "MASTER")


if __name__ == "__main__":
    testmain.main()
