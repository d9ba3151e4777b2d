#!/usr/bin/env python3
"""VRRPv3 between real l4lbd processes on one bridge (network namespaces).

Each test builds its own namespaces (names carry the pid) and removes them afterwards.
Intervals are short (50 ms) and every wait polls a condition with a deadline.
Run: sudo L4LB_BUILD_DIR=build PYTHONPATH=tests/pylib python3 tests/netns/test_vrrp.py
"""

import json
import os
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
import netns  # noqa: E402
import testmain  # noqa: E402

VIP4 = "10.77.0.100"
VIP6 = "2001:db8:77::100"


def body(prio=100, interval="50ms", vips=(VIP4 + "/24",), extra="", name="vi", vrid=7,
         iface="eth0"):
    vip_list = ", ".join(f'"{v}"' for v in vips)
    return (f"vrrp:\n  - name: {name}\n    interface: {iface}\n    vrid: {vrid}\n"
            f"    priority: {prio}\n    advert_interval: {interval}\n"
            f"    vips: [{vip_list}]\n" + extra)


class VrrpTest(unittest.TestCase):
    def setUp(self):
        netns.require_root()
        self.lab = netns.Lab("vr")
        self.hub = self.lab.bridge()
        self.daemons = []
        self.ports = {}

    def tearDown(self):
        for d in self.daemons:
            if d.alive():
                d.stop(signal.SIGTERM, timeout=5)
        if os.environ.get("L4LB_TEST_VERBOSE"):
            for d in self.daemons:
                print(f"--- {d.name}\n{d.log()[-4000:]}", file=sys.stderr)
        self.lab.close()

    def node(self, name, n, v6=False):
        ns = self.lab.node(name)
        addrs = [f"10.77.0.{n}/24"] + ([f"2001:db8:77::{n}/64"] if v6 else [])
        self.ports[ns] = self.lab.link(ns, self.hub, "eth0", addrs)
        return ns

    def daemon(self, ns, name, text):
        d = netns.L4lbd(self.lab, ns, name, text).start()
        self.daemons.append(d)
        return d

    def wait_state(self, d, state, family="ipv4", timeout=5, name="vi"):
        try:
            netns.wait_until(lambda: d.state(name, family) == state, timeout,
                             what=f"{d.name} {family} {state}")
        except AssertionError:
            raise AssertionError(f"{d.name} is {d.state(name, family)}, wanted {state}\n"
                                 f"{d.log()[-3000:]}")

    def has_vip(self, ns, vip=VIP4):
        return self.lab.has_addr(ns, "eth0", vip)

    def only_master_holds_vip(self, pairs, vip=VIP4):
        for ns, d in pairs:
            is_master = d.state("vi", "ipv6" if ":" in vip else "ipv4") == "MASTER"
            self.assertEqual(self.has_vip(ns, vip), is_master, f"{d.name} vip vs state")

    # -- tracked services ----------------------------------------------------------------------
    def test_tracked_service_below_quorum_hands_over_and_back(self):
        """The whole chain from a check to the wire: the backend stops answering, its service
        falls below quorum, the instance's priority drops by the track weight and the backup
        takes over; the backend answers again and the master preempts back."""
        a, b = self.node("a", 1), self.node("b", 2)
        port = 18080
        listen = ("import socket,sys\n"
                  "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
                  f"s.bind(('127.0.0.1', {port})); s.listen(16); print('ready', flush=True)\n"
                  "while True: s.accept()[0].close()\n")

        def start_backend():
            p = self.lab.spawn(a, [sys.executable, "-c", listen], stdout=subprocess.PIPE)
            self.assertEqual(p.stdout.readline().strip(), b"ready")
            return p

        track = "    track:\n      services: [{service: web, weight: -150}]\n"
        web = ("services:\n  - name: web\n    vip: " + VIP4 + "\n    port: 80\n"
               "    health: {type: tcp, interval: 100ms, timeout: 50ms, rise: 1, fall: 1}\n"
               f"    backends:\n      - {{address: 127.0.0.1, port: {port}}}\n")
        backend = start_backend()
        try:
            da = self.daemon(a, "a", body(200, extra=track) + web)
            db = self.daemon(b, "b", body(100))
            self.wait_state(da, "MASTER", timeout=10)
            self.wait_state(db, "BACKUP")
            self.assertEqual(da.instance("vi")["priority"], 200)

            netns.Lab.stop(backend)  # the only backend: web is below its quorum of 1
            self.wait_state(db, "MASTER", timeout=10)
            self.wait_state(da, "BACKUP")
            self.assertEqual(da.instance("vi")["priority"], 50)
            self.assertEqual(da.instance("vi")["priority_configured"], 200)
            self.assertIn("BELOW QUORUM", da.log())
            self.only_master_holds_vip([(a, da), (b, db)])

            backend = start_backend()  # quorum restored: 200 again, and a preempts
            self.wait_state(da, "MASTER", timeout=10)
            self.wait_state(db, "BACKUP")
            self.assertEqual(da.instance("vi")["priority"], 200)
            self.assertIn("quorum restored", da.log())
            self.only_master_holds_vip([(a, da), (b, db)])
        finally:
            netns.Lab.stop(backend)

    def test_taking_over_a_thousand_vips_keeps_adverts_on_time(self):
        """64 instances x 16 VIPs change hands by preemption. Taking over 1,024 addresses must
        not hold the new Master's VRRP thread: its adverts keep time, and the old Master,
        now Backup, never sees a Master_Down (it goes MASTER once per instance, at its start,
        and never again). Each VIP added used to be recorded with two fsyncs on that thread,
        and each record formatted every address again: adverts went out up to 1 s apart at
        100 ms."""
        a, b = self.node("a", 1), self.node("b", 2)
        def many(prio):
            text = "vrrp:\n"
            for k in range(64):
                vips = ", ".join(f'"10.{80 + (k * 16 + v) // 250}.{(k * 16 + v) % 250}.1/32"'
                                 for v in range(16))
                text += (f"  - name: vi{k}\n    interface: eth0\n    vrid: {k + 1}\n"
                         f"    priority: {prio}\n    advert_interval: 100ms\n"
                         f"    vips: [{vips}]\n")
            return text
        db = self.daemon(b, "b", many(100))
        netns.wait_until(lambda: all(db.state(f"vi{k}") == "MASTER" for k in range(64)), 20,
                         what="b MASTER of all 64")
        da = self.daemon(a, "a", many(150))
        netns.wait_until(lambda: all(da.state(f"vi{k}") == "MASTER" for k in range(64)), 20,
                         what="a MASTER of all 64 (preempted)")
        netns.wait_until(lambda: all(db.state(f"vi{k}") == "BACKUP" for k in range(64)), 10,
                         what="b BACKUP of all 64")
        time.sleep(2)  # 20 advert intervals: room for a Master_Down on b
        self.assertEqual(db.log().count("state=MASTER from=BACKUP"), 64, db.log()[-3000:])
        self.assertTrue(all(db.state(f"vi{k}") == "BACKUP" for k in range(64)))
        n = int(self.lab.run(a, ["sh", "-c", "ip -4 addr show dev eth0 | grep -c 'inet 10.8'"])
                .stdout)
        self.assertEqual(n, 1024)
        worst = max(i["advert_send_intervals"].get("max", 0) for i in da.status_json()["vrrp"])
        print(f"\n1,024 VIPs taken over: advert interval max {worst * 1000:.1f} ms at 100 ms",
              file=sys.stderr)

    # -- election ------------------------------------------------------------------------------
    def test_election_by_priority(self):
        a, b, c = self.node("a", 1), self.node("b", 2), self.node("c", 3)
        da = self.daemon(a, "a", body(100))
        db = self.daemon(b, "b", body(150))
        dc = self.daemon(c, "c", body(120))
        self.wait_state(db, "MASTER")
        self.wait_state(da, "BACKUP")
        self.wait_state(dc, "BACKUP")
        netns.wait_until(lambda: da.instance("vi")["master"] == "10.77.0.2", 3,
                         what="a sees b as master")
        self.assertEqual(dc.instance("vi")["master"], "10.77.0.2")
        self.only_master_holds_vip([(a, da), (b, db), (c, dc)])
        # stays that way: no flapping over many advert intervals
        time.sleep(0.5)
        self.assertEqual(db.state("vi"), "MASTER")
        self.assertEqual(da.state("vi"), "BACKUP")
        self.assertGreater(da.instance("vi")["adverts_received"], 3)

    def test_tie_broken_by_primary_address(self):
        a, b = self.node("a", 1), self.node("b", 2)
        # Cut both off the bridge (carrier stays up) so both become Master, then join them.
        for ns in (a, b):
            self.lab.run(self.hub, ["ip", "link", "set", self.ports[ns], "nomaster"])
        da = self.daemon(a, "a", body(100))
        db = self.daemon(b, "b", body(100))
        self.wait_state(da, "MASTER")
        self.wait_state(db, "MASTER")
        for ns in (a, b):
            self.lab.run(self.hub, ["ip", "link", "set", self.ports[ns], "master", "br0"])
        self.wait_state(da, "BACKUP")
        self.assertEqual(db.state("vi"), "MASTER")  # 10.77.0.2 > 10.77.0.1
        netns.wait_until(lambda: not self.has_vip(a), 2, what="vip gone from a")
        self.assertTrue(self.has_vip(b))

    # -- preemption ----------------------------------------------------------------------------
    def test_preempt(self):
        a, b = self.node("a", 1), self.node("b", 2)
        db = self.daemon(b, "b", body(100))
        self.wait_state(db, "MASTER")
        da = self.daemon(a, "a", body(150))
        self.wait_state(da, "MASTER")
        self.wait_state(db, "BACKUP")
        self.only_master_holds_vip([(a, da), (b, db)])

    def test_nopreempt(self):
        a, b = self.node("a", 1), self.node("b", 2)
        db = self.daemon(b, "b", body(100))
        self.wait_state(db, "MASTER")
        da = self.daemon(a, "a", body(150, extra="    preempt: false\n"))
        self.wait_state(da, "BACKUP")
        time.sleep(0.6)  # many Master_Down_Intervals: a higher priority must still not preempt
        self.assertEqual(da.state("vi"), "BACKUP")
        self.assertEqual(db.state("vi"), "MASTER")
        # and it still takes over when the Master goes away
        db.stop()
        self.wait_state(da, "MASTER")

    def test_preempt_delay(self):
        a, b = self.node("a", 1), self.node("b", 2)
        db = self.daemon(b, "b", body(100))
        self.wait_state(db, "MASTER")
        da = self.daemon(a, "a", body(150, extra="    preempt_delay: 1500ms\n"))
        self.wait_state(da, "BACKUP")
        t0 = time.monotonic()
        time.sleep(0.7)  # > 3 Master_Down_Intervals (~0.17 s each), < preempt_delay
        self.assertEqual(da.state("vi"), "BACKUP")
        self.wait_state(da, "MASTER", timeout=5)
        self.assertGreater(time.monotonic() - t0, 0.7)
        self.wait_state(db, "BACKUP")

    # -- failover ------------------------------------------------------------------------------
    def test_priority_zero_handover_on_sigterm(self):
        a, b = self.node("a", 1), self.node("b", 2)
        # 1 s adverts: Master_Down_Interval is 3.6 s, Skew_Time 0.6 s. A takeover well under
        # 3 s can only come from the priority-0 advert.
        da = self.daemon(a, "a", body(150, interval="1s"))
        db = self.daemon(b, "b", body(100, interval="1s"))
        self.wait_state(da, "MASTER", timeout=8)
        self.wait_state(db, "BACKUP")
        netns.wait_until(lambda: db.instance("vi")["adverts_received"] > 0, 3,
                         what="b hears a")
        t0 = time.monotonic()
        self.assertEqual(da.stop(signal.SIGTERM), 0)
        netns.wait_until(lambda: self.has_vip(b), 3, 0.005, what="vip on b")
        self.assertLess(time.monotonic() - t0, 2.5)
        self.assertFalse(self.has_vip(a), "a removed its VIP on shutdown")
        self.assertIn("MASTER from=BACKUP", db.log())

    def test_takeover_after_sigkill(self):
        a, b, c = self.node("a", 1), self.node("b", 2), self.node("c", 3)
        da = self.daemon(a, "a", body(150))
        db = self.daemon(b, "b", body(120))
        dc = self.daemon(c, "c", body(100))
        self.wait_state(da, "MASTER")
        self.wait_state(db, "BACKUP")
        self.wait_state(dc, "BACKUP")
        da.stop(signal.SIGKILL)
        self.wait_state(db, "MASTER")
        self.wait_state(dc, "BACKUP")
        self.assertTrue(self.has_vip(b))
        self.assertFalse(self.has_vip(c))
        # the next-highest is the new Master as seen from c
        netns.wait_until(lambda: dc.instance("vi")["master"] == "10.77.0.2", 2, what="c sees b")

    def test_interface_down_fault_and_back(self):
        a, b = self.node("a", 1), self.node("b", 2)
        da = self.daemon(a, "a", body(150))
        db = self.daemon(b, "b", body(100))
        self.wait_state(da, "MASTER")
        self.wait_state(db, "BACKUP")
        self.lab.run(a, ["ip", "link", "set", "eth0", "down"])
        self.wait_state(da, "FAULT")
        self.wait_state(db, "MASTER")
        self.assertFalse(self.has_vip(a))
        self.assertTrue(self.has_vip(b))
        self.lab.run(a, ["ip", "link", "set", "eth0", "up"])
        self.wait_state(da, "MASTER")  # higher priority, preempt
        self.wait_state(db, "BACKUP")
        self.assertTrue(self.has_vip(a))

    def test_vip_removed_from_outside_is_restored(self):
        a, b = self.node("a", 1), self.node("b", 2)
        da = self.daemon(a, "a", body(150, vips=(VIP4 + "/24", VIP6 + "/64")))
        db = self.daemon(b, "b", body(100, vips=(VIP4 + "/24", VIP6 + "/64")))
        self.wait_state(da, "MASTER")
        self.wait_state(db, "BACKUP")
        for round_ in (1, 2):
            self.lab.run(a, ["ip", "addr", "del", VIP4 + "/24", "dev", "eth0"])
            netns.wait_until(lambda: self.has_vip(a), 3, what="VIP restored on the master")
            netns.wait_until(lambda: da.instance("vi")["vip_repairs"] == round_, 3,
                             what=f"repair {round_} counted")
        self.assertEqual(da.state("vi"), "MASTER")
        self.assertEqual(db.state("vi"), "BACKUP")
        # On a Backup nothing is restored: the VIP is not ours to hold.
        self.assertFalse(self.has_vip(b))
        self.assertEqual(db.instance("vi")["vip_repairs"], 0)

    def test_interface_recreated_with_new_ifindex_recovers(self):
        a, b = self.node("a", 1), self.node("b", 2)
        da = self.daemon(a, "a", body(150))
        db = self.daemon(b, "b", body(100))
        self.wait_state(da, "MASTER")
        self.wait_state(db, "BACKUP")
        # Delete the cable and make a new one: a new interface with the same name and a new
        # ifindex. The router must fault, then re-bind its socket and win the election again.
        self.lab.run(a, ["ip", "link", "del", "eth0"])
        self.wait_state(da, "FAULT")
        self.wait_state(db, "MASTER")
        self.ports[a] = self.lab.link(a, self.hub, "eth0", ["10.77.0.1/24"])
        self.wait_state(da, "MASTER", timeout=8)
        self.wait_state(db, "BACKUP")
        netns.wait_until(lambda: self.has_vip(a), 3, what="VIP on the new interface")
        self.assertFalse(self.has_vip(b))
        # Adverts really leave through the new interface: b keeps hearing a.
        before = db.instance("vi")["adverts_received"]
        time.sleep(0.5)
        self.assertGreater(db.instance("vi")["adverts_received"], before + 3)

    def test_rtnetlink_overflow_is_resynchronised(self):
        a, b = self.node("a", 1), self.node("b", 2)
        # A tiny event buffer, then a burst of 3,000 address events: the kernel drops events
        # (ENOBUFS) and l4lbd must re-read links and addresses instead of deciding on a view
        # with holes in it.
        da = netns.L4lbd(self.lab, a, "a", body(150), log_level="info",
                         args=["--netlink-rcvbuf", "2048"]).start()
        self.daemons.append(da)
        db = self.daemon(b, "b", body(100))
        self.wait_state(da, "MASTER")
        self.wait_state(db, "BACKUP")
        self.lab.dummy(a, "burst0")

        def rtnl():
            r = subprocess.run([da.l4lbctl, "-s", da.sock, "status", "--json"],
                               capture_output=True, text=True, timeout=5)
            return json.loads(r.stdout).get("rtnetlink", {}) if r.returncode == 0 else {}
        # Rounds alternately add and delete 3,000 addresses; in each, the VIP is deleted from
        # outside at a different moment of the storm. After an overflow the kernel drops
        # further events silently until the socket's queue is empty, so a resync that leaves
        # the queue full would miss the deletion: the VIP must come back every time.
        for round_, delay in enumerate((0.0, 0.1, 0.3, 0.6, 1.5), start=1):
            verb = "add" if round_ % 2 else "del"
            batch = "".join(f"addr {verb} 10.{90 + i // 250}.{i % 250}.1/32 dev burst0\n"
                            for i in range(3000))
            storm = self.lab.spawn(a, ["ip", "-batch", "-"], stdin=subprocess.PIPE)
            storm.stdin.write(batch.encode())
            storm.stdin.close()
            time.sleep(delay)
            self.lab.run(a, ["ip", "addr", "del", VIP4 + "/24", "dev", "eth0"])
            storm.wait(timeout=30)
            netns.wait_until(lambda: self.has_vip(a), 5,
                             what=f"VIP restored after the storm of round {round_}")
            netns.wait_until(lambda: da.instance("vi")["vip_repairs"] == round_, 3,
                             what=f"repair {round_} counted")
        self.assertGreaterEqual(rtnl().get("overflows", 0), 1)
        self.assertGreaterEqual(rtnl().get("resyncs", 0), 1)
        self.assertEqual(rtnl().get("resync_errors", 0), 0)
        self.assertEqual(da.state("vi"), "MASTER")
        self.assertEqual(db.state("vi"), "BACKUP")
        # The view after the re-read is the truth: a link going down is still a fault.
        self.lab.run(a, ["ip", "link", "set", "eth0", "down"])
        self.wait_state(da, "FAULT")
        self.wait_state(db, "MASTER")

    def test_tracked_interface_weight_and_fault(self):
        a, b = self.node("a", 1), self.node("b", 2)
        self.lab.dummy(a, "trk0")
        self.lab.dummy(a, "trk1")
        track = ("    track:\n      interfaces:\n        - {name: trk0, weight: -100}\n"
                 "        - trk1\n")
        da = self.daemon(a, "a", body(150, extra=track))
        db = self.daemon(b, "b", body(100))
        self.wait_state(da, "MASTER")
        self.wait_state(db, "BACKUP")
        # weight: 150 - 100 = 50 < 100, b preempts at once
        self.lab.run(a, ["ip", "link", "set", "trk0", "down"])
        netns.wait_until(lambda: da.instance("vi")["priority"] == 50, 3, what="priority 50")
        self.wait_state(db, "MASTER")
        self.wait_state(da, "BACKUP")
        self.lab.run(a, ["ip", "link", "set", "trk0", "up"])
        self.wait_state(da, "MASTER")
        self.assertEqual(da.instance("vi")["priority"], 150)
        # no weight: FAULT
        self.lab.run(a, ["ip", "link", "set", "trk1", "down"])
        self.wait_state(da, "FAULT")
        self.wait_state(db, "MASTER")
        self.lab.run(a, ["ip", "link", "set", "trk1", "up"])
        self.wait_state(da, "MASTER")

    # -- IPv6 ----------------------------------------------------------------------------------
    def test_ipv6_instance(self):
        a, b = self.node("a", 1, v6=True), self.node("b", 2, v6=True)
        vips = (VIP6 + "/64",)
        da = self.daemon(a, "a", body(150, vips=vips))
        db = self.daemon(b, "b", body(100, vips=vips))
        self.wait_state(da, "MASTER", "ipv6")
        self.wait_state(db, "BACKUP", "ipv6")
        master = db.instance("vi", "ipv6")["master"]
        self.assertTrue(master.startswith("fe80:"), master)  # adverts come from link-local
        self.assertTrue(self.has_vip(a, VIP6))
        self.assertFalse(self.has_vip(b, VIP6))
        da.stop(signal.SIGKILL)
        self.wait_state(db, "MASTER", "ipv6")
        self.assertTrue(self.has_vip(b, VIP6))
        self.lab.run(b, ["ping", "-6", "-c1", "-W2", VIP6])

    def test_dual_stack_instance_runs_one_router_per_family(self):
        a, b = self.node("a", 1, v6=True), self.node("b", 2, v6=True)
        vips = (VIP4 + "/24", VIP6 + "/64")
        da = self.daemon(a, "a", body(150, vips=vips))
        db = self.daemon(b, "b", body(100, vips=vips))
        for fam in ("ipv4", "ipv6"):
            self.wait_state(da, "MASTER", fam)
            self.wait_state(db, "BACKUP", fam)
        self.assertTrue(self.has_vip(a, VIP4) and self.has_vip(a, VIP6))

    # -- unicast -------------------------------------------------------------------------------
    def test_unicast_and_non_peer_ignored(self):
        a, b, c = self.node("a", 1), self.node("b", 2), self.node("c", 3)

        def uni(me, peers):
            return (f"    unicast:\n      source: 10.77.0.{me}\n"
                    f"      peers: [{', '.join('10.77.0.%d' % p for p in peers)}]\n")

        da = self.daemon(a, "a", body(150, extra=uni(1, [2])))
        db = self.daemon(b, "b", body(100, extra=uni(2, [1])))
        self.wait_state(da, "MASTER")
        self.wait_state(db, "BACKUP")
        # c claims a higher priority and sends to a and b, which do not list it as a peer
        dc = self.daemon(c, "c", body(200, extra=uni(3, [1, 2])))
        self.wait_state(dc, "MASTER")
        netns.wait_until(lambda: da.instance("vi")["drops"]["not_peer"] > 3 and
                         db.instance("vi")["drops"]["not_peer"] > 3, 3, what="not_peer drops")
        self.assertEqual(da.state("vi"), "MASTER")
        self.assertEqual(db.state("vi"), "BACKUP")
        # a's adverts really are unicast: c (not a's peer) never receives them
        self.assertEqual(dc.instance("vi")["adverts_received"], 0)
        da.stop(signal.SIGKILL)
        self.wait_state(db, "MASTER")

    # -- restart and reload ----------------------------------------------------------------------
    def test_restart_after_crash_recognises_its_own_vip(self):
        a, b = self.node("a", 1), self.node("b", 2)
        da = self.daemon(a, "a", body(100))
        self.wait_state(da, "MASTER")
        self.assertTrue(self.has_vip(a))
        da.stop(signal.SIGKILL)  # nothing removes the VIP now
        self.assertTrue(self.has_vip(a))
        db = self.daemon(b, "b", body(150))
        self.wait_state(db, "MASTER")
        # same state_dir: the restarted a knows the leftover VIP is its own and drops it as
        # soon as it sees b as Master
        da.start()
        self.wait_state(da, "BACKUP")
        netns.wait_until(lambda: not self.has_vip(a), 3, what="stale VIP removed from a")
        db.stop(signal.SIGKILL)
        self.wait_state(da, "MASTER")
        self.assertTrue(self.has_vip(a))
        da.stop(signal.SIGTERM)
        self.assertFalse(self.has_vip(a))

    def test_foreign_vip_is_used_but_never_removed(self):
        a = self.node("a", 1)
        self.lab.run(a, ["ip", "addr", "add", VIP4 + "/24", "dev", "eth0"])
        da = self.daemon(a, "a", body(100))
        self.wait_state(da, "MASTER")
        da.stop(signal.SIGTERM)
        self.assertTrue(self.has_vip(a), "an address l4lbd did not add stays")

    def test_reload_applies_changes_in_place(self):
        a, b = self.node("a", 1), self.node("b", 2)
        da = self.daemon(a, "a", body(150))
        db = self.daemon(b, "b", body(100))
        self.wait_state(da, "MASTER")
        self.wait_state(db, "BACKUP")
        t0 = da.instance("vi")["transitions"]
        # priority and a second VIP: no re-election, the new VIP appears on the Master
        da.write_config(body(160, vips=(VIP4 + "/24", "10.77.0.101/24")))
        da.reload()
        netns.wait_until(lambda: da.instance("vi")["priority"] == 160, 5, what="new priority")
        netns.wait_until(lambda: self.has_vip(a, "10.77.0.101"), 3, what="new VIP")
        self.assertEqual(da.state("vi"), "MASTER")
        self.assertEqual(da.instance("vi")["transitions"], t0)
        # the second VIP dropped again: it leaves the Master, and its absence is no repair
        da.write_config(body(160))
        da.reload()
        netns.wait_until(lambda: not self.has_vip(a, "10.77.0.101"), 3, what="dropped VIP gone")
        time.sleep(0.3)
        self.assertFalse(self.has_vip(a, "10.77.0.101"))
        self.assertEqual(da.instance("vi")["vip_repairs"], 0)
        self.assertEqual(da.state("vi"), "MASTER")
        # a lower priority than b's: b preempts
        da.write_config(body(50, vips=(VIP4 + "/24", "10.77.0.101/24")))
        da.reload()
        self.wait_state(db, "MASTER")
        self.wait_state(da, "BACKUP")
        self.assertFalse(self.has_vip(a, "10.77.0.101"))

    def test_tracked_service_below_quorum_lowers_priority(self):
        a, b = self.node("a", 1), self.node("b", 2)
        # One backend nobody listens on: the service is below its quorum of 1 after one check.
        svc = ("    track:\n      services:\n        - {service: web, weight: -100}\n"
               "services:\n  - name: web\n    vip: 10.77.0.100\n    port: 80\n"
               "    quorum: 1\n    health:\n      type: tcp\n      interval: 100ms\n"
               "      timeout: 50ms\n      fall: 1\n      rise: 1\n"
               "    backends:\n      - address: 10.77.0.1\n        port: 8080\n")
        da = self.daemon(a, "a", body(150, extra=svc))
        if da.use_driver:
            self.skipTest("needs l4lbd (health checks), not the vrrp driver")
        db = self.daemon(b, "b", body(100))
        netns.wait_until(lambda: (da.instance("vi") or {}).get("priority") == 50, 10,
                         what="priority 150 - 100")
        self.wait_state(db, "MASTER")
        self.wait_state(da, "BACKUP")
        # the backend comes up: quorum regained, a preempts again
        srv = self.lab.tcp_listener(a, "10.77.0.1", 8080, backlog=16)
        netns.wait_until(lambda: da.instance("vi")["priority"] == 150, 10, what="priority back")
        self.wait_state(da, "MASTER")
        self.wait_state(db, "BACKUP")
        netns.Lab.stop(srv, signal.SIGKILL)


if __name__ == "__main__":
    testmain.main()
