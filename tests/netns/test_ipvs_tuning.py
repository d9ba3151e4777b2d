#!/usr/bin/env python3
"""`ipvs:` timeouts and sysctls where IPVS is missing (the host kernel has none): l4lbd starts
and keeps running, the failed netlink request and the failed /proc/sys/net/ipv4/vs writes are
errors in its log, in `l4lbctl status --json` (ipvs.tuning) and in the text status, and a
reload that changes them is applied (and fails the same way) without stopping anything.
The success path needs real IPVS: tests/lab/test_udp_tuning.py."""

import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
import netns  # noqa: E402
import testmain  # noqa: E402


def body(udp="30s", conntrack=1):
    return ("ipvs:\n"
            f"  timeouts: {{tcp: 900s, udp: {udp}}}\n"
            f"  sysctls: {{conntrack: {conntrack}, expire_nodest_conn: 1}}\n"
            "vrrp:\n"
            "  - {name: front, interface: eth0, vrid: 11, advert_interval: 100ms,"
            " vips: [10.78.0.100/24]}\n")


class IpvsTuningWithoutIpvs(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        netns.require_root()
        if os.path.exists("/proc/sys/net/ipv4/vs"):
            raise unittest.SkipTest("this host has IPVS: the lab test covers it")
        cls.lab = netns.Lab("tun")
        cls.ns = cls.lab.node("a")
        cls.lab.link(cls.ns, cls.lab.bridge(), "eth0", ["10.78.0.1/24"])
        cls.d = netns.L4lbd(cls.lab, cls.ns, "lb", body())
        cls.d.start()
        netns.wait_until(lambda: cls.d.state("front") == "MASTER", timeout=15, what="MASTER")

    @classmethod
    def tearDownClass(cls):
        cls.lab.close()

    def ctl(self, *args):
        return subprocess.run([self.d.l4lbctl, "-s", self.d.sock, *args], capture_output=True,
                              text=True, timeout=10)

    def tuning(self):
        return json.loads(self.ctl("status", "--json").stdout)["ipvs"]["tuning"]

    def test_1_errors_reported_daemon_runs(self):
        t = self.tuning()
        self.assertEqual(t["timeouts"]["configured"], {"tcp": 900, "tcpfin": None, "udp": 30})
        self.assertIsNone(t["timeouts"]["kernel"])
        self.assertIn("IPVS is not available: module ip_vs not loaded", t["timeouts"]["error"])
        self.assertEqual([s["name"] for s in t["sysctls"]], ["conntrack", "expire_nodest_conn"])
        for s in t["sysctls"]:
            self.assertIsNone(s["value"])
            self.assertIn(f"/proc/sys/net/ipv4/vs/{s['name']}: No such file or directory", s["error"])
            self.assertIn("module ip_vs not loaded?", s["error"])
        log = self.d.log()
        self.assertIn("ipvs timeouts: IPVS is not available", log)
        self.assertIn("ipvs sysctl conntrack: cannot write /proc/sys/net/ipv4/vs/conntrack", log)
        text = self.ctl("status").stdout
        self.assertIn("IPVS timeouts: ERROR: IPVS is not available", text)
        # Status only reads (the daemon writes at start and reload).
        self.assertIn("IPVS sysctl conntrack: ERROR: cannot read", text)
        self.assertIn("IPVS sysctls: conntrack=? expire_nodest_conn=?", text)
        self.assertTrue(self.d.alive())
        self.assertEqual(self.d.state("front"), "MASTER")

    def test_2_reload_applies_changes(self):
        self.d.write_config(body(udp="45s", conntrack=0))
        r = self.ctl("reload")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("ipvs.timeouts changed", r.stdout)
        self.assertIn("ipvs.sysctls changed", r.stdout)
        t = self.tuning()
        self.assertEqual(t["timeouts"]["configured"]["udp"], 45)
        self.assertEqual([s["configured"] for s in t["sysctls"]], [0, 1])
        self.assertEqual(self.d.log().count("ipvs sysctl conntrack: cannot write"), 2)
        self.assertTrue(self.d.alive())
        self.assertEqual(self.d.state("front"), "MASTER")

    def test_3_check_config_positions(self):
        bad = self.lab.write("bad.yaml", "ipvs:\n  sysctls: {conntrack: 2}\nservices:\n"
                                         "  - {name: s, vip: 10.78.0.100, port: 53,"
                                         " one_packet: true, backends: [10.78.0.5]}\n")
        r = subprocess.run([self.d.l4lbd, "--check-config", "-c", bad], capture_output=True,
                           text=True, timeout=10)
        self.assertNotEqual(r.returncode, 0)
        out = r.stdout + r.stderr
        self.assertIn(f"{bad}:2:24: error: conntrack: 2 is out of range 0..1", out)
        self.assertRegex(out, rf"{bad}:4:\d+: error: one_packet: only applies to protocol: udp")


if __name__ == "__main__":
    testmain.main()
