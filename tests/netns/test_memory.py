#!/usr/bin/env python3
"""Memory a reload frees goes back to the system soon, not when reloads settle
(docs/ARCHITECTURE.md, "Memory"; src/daemon/allocator.hpp). l4lbd runs N services x 8 backends
with TCP checks, reloads to 2N services and back to N, and its resident size must come back
near where it was before, within a few seconds: well before the trim that follows settled
reloads (Daemon::kTrimAfterQuiet, 10 s), which this test must not wait for. With glibc's
malloc (the daemon built with L4LB_JEMALLOC=OFF) the reload's freed blocks stay resident in
holes until that trim, and the test fails (docs/BENCHMARKS.md, "Stop 22"). The allocator's own
figures (daemon.allocator, l4lb_allocator_*) are read against the process's."""

import os
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
import netns  # noqa: E402
import testmain  # noqa: E402

SERVICES = 2000
BACKENDS = 8
# How long the resident size may take to come back: jemalloc's dirty decay is 250 ms
# (src/daemon/jemalloc_conf.cpp); the settled trim comes 10 s after the last reload.
SETTLE_S = 5.0
METRICS_PORT = 19466


def config_body(services):
    lines = ["node_name: memtest\n", f"metrics: {{listen: \"127.0.0.1:{METRICS_PORT}\"}}\n",
             "services:\n"]
    for i in range(services):
        bes = ", ".join(f"{{address: 127.0.{1 + j}.{1 + i % 250}, port: 9101}}"
                        for j in range(BACKENDS))
        lines.append(f"  - {{name: s{i:05d}, vip: 10.79.{i // 250}.{1 + i % 250}, port: 80, "
                     "health: {type: tcp, interval: 30s, timeout: 1s}, "
                     f"backends: [{bes}]}}\n")
    return "".join(lines)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


class ReloadMemory(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        netns.require_root()
        cls.lab = netns.Lab("mem")
        cls.ns = cls.lab.node("a")
        cls.d = netns.L4lbd(cls.lab, cls.ns, "lb", config_body(SERVICES), log_level="info")
        if cls.d.use_driver:
            raise unittest.SkipTest("needs l4lbd, not the vrrp driver")
        cls.d.start()
        netns.wait_until(lambda: "l4lbd started" in cls.d.log(), 60, what="start")

    @classmethod
    def tearDownClass(cls):
        cls.lab.close()

    def reload(self, services):
        self.d.write_config(config_body(services))
        r = self.d.ctl("reload", timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_a_reloads_freed_memory_goes_back(self):
        pid = self.d.proc.pid
        time.sleep(2)  # the first checks' results are in, the start's memory given back
        before = rss_kib(pid)
        self.reload(2 * SERVICES)
        time.sleep(1)
        grown = rss_kib(pid)
        self.reload(SERVICES)
        t0 = time.monotonic()
        # Back within a quarter of what the larger config added, or a fixed 4 MiB if that
        # is more (the new config's blocks land elsewhere than the old one's).
        allowed = before + max(4096, (grown - before) // 4)
        samples = []
        while time.monotonic() - t0 < SETTLE_S:
            samples.append(rss_kib(pid))
            if samples[-1] <= allowed:
                break
            time.sleep(0.25)
        print(f"\nRSS before {before / 1024:.1f} MiB, at {2 * SERVICES} services "
              f"{grown / 1024:.1f} MiB, back at {SERVICES}: "
              f"{', '.join(f'{s / 1024:.1f}' for s in samples)} MiB "
              f"(allowed {allowed / 1024:.1f})", file=sys.stderr)
        self.assertNotIn("free memory given back", self.d.log(),
                         "the settled trim ran: the test took too long to tell")
        self.assertLessEqual(samples[-1], allowed,
                             f"resident size still {samples[-1] / 1024:.1f} MiB "
                             f"{SETTLE_S} s after the reload back (before: "
                             f"{before / 1024:.1f} MiB)")

    def test_b_the_allocator_reports_what_it_holds(self):
        said = [l for l in self.d.log().splitlines() if "allocator: " in l]
        self.assertTrue(said and "allocator: jemalloc" in said[0], said)
        st = self.d.status_json()["daemon"]
        a, p = st["allocator"], st["process"]
        # Live blocks fit in the allocator's pages, and those in the process's resident size.
        self.assertGreater(a["allocated_bytes"], 1 << 20, a)
        self.assertLessEqual(a["allocated_bytes"], a["resident_bytes"], a)
        self.assertLessEqual(a["resident_bytes"], p["resident_bytes"], (a, p))
        text = self.lab.out(self.ns, ["curl", "-sf", f"http://127.0.0.1:{METRICS_PORT}/metrics"],
                            timeout=60)
        series = {line.split()[0]: float(line.split()[1]) for line in text.splitlines()
                  if line.startswith("l4lb_allocator_")}
        self.assertEqual(set(series), {"l4lb_allocator_allocated_bytes",
                                       "l4lb_allocator_resident_bytes"}, series)
        self.assertLessEqual(series["l4lb_allocator_allocated_bytes"],
                             series["l4lb_allocator_resident_bytes"], series)


if __name__ == "__main__":
    testmain.main()
