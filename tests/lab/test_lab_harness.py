#!/usr/bin/env python3
"""The lab harness itself: UML boots, IPVS and the topology work, traffic flows through a
hand-made (ipvsadm) NAT service over IPv4 and IPv6, TCP and UDP, and failures surface."""
import unittest

import lab
import testmain

GUEST = r'''
from lab import sh, Guest
g = Guest(clients=1, backends=2).setup()
g.add_vip("10.0.100.1"); g.add_vip("fd00:100::1")
for b in g.backends:
    g.start_echo(b, 8080, "tcp"); g.start_echo(b, 8080, "udp")
for proto, vip in (("-t", "10.0.100.1:80"), ("-u", "10.0.100.1:53"), ("-t", "[fd00:100::1]:80")):
    sh(f"ipvsadm -A {proto} {vip} -s rr")
    for i in (1, 2):
        real = f"[fd00:b::{10 + i}]:8080" if "[" in vip else f"10.1.0.{10 + i}:8080"
        sh(f"ipvsadm -a {proto} {vip} -r {real} -m")
assert g.count("c1", "10.0.100.1", 80, 4) == {"b1": 2, "b2": 2}
assert g.count("c1", "10.0.100.1", 53, 4, "udp") == {"b1": 2, "b2": 2}
assert g.count("c1", "fd00:100::1", 80, 4) == {"b1": 2, "b2": 2}
c = g.connect("c1", "10.0.100.1", 80)
assert c.ask("again") == c.backend
print("harness ok")
'''


@unittest.skipIf(lab.available(), lab.available())
class LabHarness(unittest.TestCase):
    def test_topology_and_ipvs(self):
        with lab.Lab("harness") as l:
            r = l.run(GUEST, timeout=180).check()
            self.assertIn("harness ok", r.stdout)

    def test_failure_is_reported(self):
        with lab.Lab("harness") as l:
            r = l.run("import sys; print('before'); sys.exit(3)", timeout=60)
            self.assertEqual(r.rc, 3)
            self.assertIn("before", r.stdout)
            with self.assertRaises(lab.LabError):
                r.check()


if __name__ == "__main__":
    testmain.main()
