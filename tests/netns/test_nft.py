#!/usr/bin/env python3
"""l4lbd's own nftables table (`inet l4lb`, the rules behind `snat:`) on the host kernel, which
has nf_tables but no IPVS (services stay unprogrammed; the table does not depend on them).
In one namespace, in order: a foreign table made with `nft` before the start; the table created
at start exactly as rendered; deleted and edited behind the daemon's back, then restored by its
periodic check (and counted); changed by a reload; a reload the kernel refuses (a foreign
process holds an `owner` table of the same name) is rejected whole, reported, and leaves the
running config and table alone; a restart adopts the table without rewriting it; a reload that
drops every `snat` deletes it; and the foreign table survives all of it, including the stop.
Traffic through IPVS with SNAT needs the kernel lab: tests/lab/test_snat.py."""

import json
import os
import shutil
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
import netns  # noqa: E402
import testmain  # noqa: E402

FOREIGN = "table inet foreign {\n\tchain input {\n\t\ttype filter hook input priority filter; " \
          "policy accept;\n\t\ttcp dport 9 counter packets 0 bytes 0 accept\n\t}\n}\n"


def body(services):
    text = "services:\n"
    for name, port, snat in services:
        text += (f"  - {{name: {name}, vip: 10.79.0.100, port: {port}, snat: {snat},"
                 f" health: {{type: none}}, backends: [10.79.0.5]}}\n")
    text += ("  - {name: six, vip: 'fd00:79::100', port: 53, protocol: udp, snat: true,"
             " health: {type: none}, backends: ['fd00:79::5']}\n")
    return text


class NftTable(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        netns.require_root()
        if not shutil.which("nft"):  # in scripts/apt-packages.txt: a failure, not a skip
            raise RuntimeError("nft missing (Debian package nftables)")
        cls.lab = netns.Lab("nft")
        cls.ns = cls.lab.node("a")
        cls.lab.link(cls.ns, cls.lab.bridge(), "eth0", ["10.79.0.1/24"])
        cls.lab.run(cls.ns, ["nft", "-f", "-"], input=FOREIGN)
        cls.d = netns.L4lbd(cls.lab, cls.ns, "lb",
                            body([("web", 80, "true"), ("mail", 25, "{source: 10.79.0.1}")]))
        cls.d.start()
        netns.wait_until(cls.doc, timeout=15, what="status")

    @classmethod
    def tearDownClass(cls):
        cls.lab.close()

    @classmethod
    def doc(cls):
        r = subprocess.run([cls.d.l4lbctl, "-s", cls.d.sock, "status", "--json"],
                           capture_output=True, text=True, timeout=10)
        return json.loads(r.stdout) if r.returncode == 0 else None

    def nft(self, *args, check=True):
        return self.lab.run(self.ns, ["nft", *args], check=check)

    def table(self):
        r = self.nft("list", "table", "inet", "l4lb", check=False)
        return r.stdout if r.returncode == 0 else None

    def assert_foreign_intact(self):
        self.assertEqual(self.nft("list", "table", "inet", "foreign").stdout, FOREIGN)

    def ctl(self, *args):
        return subprocess.run([self.d.l4lbctl, "-s", self.d.sock, *args], capture_output=True,
                              text=True, timeout=20)

    def test_1_created_at_start(self):
        t = netns.wait_until(self.table, timeout=10, what="table inet l4lb")
        self.assertEqual(t, "table inet l4lb {\n\tcomment \"managed by l4lbd\"\n"
                         "\tchain postrouting {\n"
                         "\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
                         "\t\tmeta l4proto tcp ct original ip daddr 10.79.0.100 "
                         "ct original proto-dst 80 masquerade\n"
                         "\t\tmeta l4proto tcp ct original ip daddr 10.79.0.100 "
                         "ct original proto-dst 25 snat ip to 10.79.0.1\n"
                         "\t\tmeta l4proto udp ct original ip6 daddr fd00:79::100 "
                         "ct original proto-dst 53 masquerade\n"
                         "\t}\n}\n")
        n = self.doc()["nft"]
        self.assertEqual((n["table"], n["wanted"], n["present"], n["in_sync"], n["snat_rules"],
                          n["error"], n["applies_total"]),
                         ("inet l4lb", True, True, True, 3, None, 1), n)
        self.assertIn("nft: table inet l4lb written (3 SNAT rules, 0 mark rules)", self.d.log())
        self.assertIn("nftables: table inet l4lb: 3 SNAT rules, 0 mark rules, in sync", self.ctl("status").stdout)
        self.assert_foreign_intact()

    def test_2_drift_repaired(self):
        before = self.table()
        self.nft("delete", "table", "inet", "l4lb")
        # The periodic check runs every 10 s.
        netns.wait_until(self.table, timeout=25, what="table restored")
        self.assertEqual(self.table(), before)
        self.nft("flush", "chain", "inet", "l4lb", "postrouting")
        netns.wait_until(lambda: self.table() == before, timeout=25, what="rules restored")
        # The rules are visible when the worker's transaction commits; the loop's counters
        # follow with the job's continuation, a moment later.
        netns.wait_until(lambda: self.doc()["nft"]["repairs_total"] == 2, timeout=10,
                         what="second repair counted")
        self.assertIn("was changed or deleted outside l4lbd; restored", self.d.log())
        metrics = self.ctl("status", "--json")  # metrics come from the same document
        self.assertEqual(metrics.returncode, 0)
        self.assert_foreign_intact()

    def test_3_reload_changes_the_table(self):
        self.d.write_config(body([("web", 80, "false"), ("mail", 25, "true")]))
        r = self.ctl("reload")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        t = self.table()
        self.assertNotIn("proto-dst 80", t)
        self.assertIn("ct original proto-dst 25 masquerade", t)
        self.assertEqual(self.doc()["nft"]["snat_rules"], 2)
        self.assert_foreign_intact()

    def test_4_refused_reload_changes_nothing(self):
        # Stop the daemon, leave its table, and let a foreign process own `inet l4lb`
        # (flags owner: only the creating netlink socket may change it) ...
        self.d.stop()
        self.nft("delete", "table", "inet", "l4lb")
        owner = 'add table inet l4lb { flags owner; comment "managed by l4lbd"; }'
        holder = self.lab.spawn(self.ns, ["sh", "-c", f"(echo '{owner}'; sleep 60) | nft -i"])
        try:
            netns.wait_until(lambda: self.table() is not None, timeout=10, what="owner table")
            # ... then start with no SNAT (nothing to write, the table is not touched) ...
            self.d.write_config(body([("web", 80, "false"), ("mail", 25, "false")])
                                .replace("snat: true", "snat: false"))
            self.d.start()
            netns.wait_until(self.doc, timeout=15, what="status")
            gen = self.doc()["daemon"]["generation"]
            # ... and reload to a config that wants SNAT: the kernel refuses the transaction.
            self.d.write_config(body([("web", 80, "true"), ("mail", 25, "false")]))
            r = self.ctl("reload")
            self.assertNotEqual(r.returncode, 0, r.stdout)
            self.assertIn("nftables: writing table inet l4lb:", r.stdout + r.stderr)
            self.assertIn("Operation not permitted", r.stdout + r.stderr)
            doc = self.doc()
            self.assertEqual(doc["daemon"]["generation"], gen, "the running config changed")
            self.assertFalse(doc["daemon"]["last_reload"]["ok"])
            self.assertGreaterEqual(doc["nft"]["apply_errors_total"], 1)
            self.assertIn("flags owner", self.table())
            self.assertTrue(self.d.alive())
        finally:
            self.lab.stop(holder, timeout=5)
        # The owner's socket is gone, so is its table: the same reload now goes through.
        netns.wait_until(lambda: self.table() is None, timeout=10, what="owner table gone")
        r = self.ctl("reload")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("proto-dst 80 masquerade", self.table())
        self.assert_foreign_intact()

    def test_5_restart_adopts(self):
        before = self.table()
        self.d.stop()
        self.assertEqual(self.table(), before, "the table stays across a stop")
        self.d.start()
        netns.wait_until(self.doc, timeout=15, what="status")
        n = self.doc()["nft"]
        self.assertEqual((n["applies_total"], n["adoptions_total"], n["in_sync"]), (0, 1, True), n)
        self.assertIn("nft: table inet l4lb adopted as found", self.d.log())
        self.assertEqual(self.table(), before)
        self.assert_foreign_intact()

    def test_6_removed_when_no_longer_needed(self):
        self.d.write_config(body([("web", 80, "false"), ("mail", 25, "false")])
                            .replace("snat: true", "snat: false"))
        r = self.ctl("reload")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIsNone(self.table())
        self.assertIn("nft: table inet l4lb deleted (no longer needed)", self.d.log())
        n = self.doc()["nft"]
        self.assertEqual((n["wanted"], n["present"], n["in_sync"]), (False, False, True), n)
        self.d.stop()
        self.assert_foreign_intact()


if __name__ == "__main__":
    testmain.main()
