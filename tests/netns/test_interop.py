#!/usr/bin/env python3
"""VRRPv3 interoperability of l4lbd with keepalived and FRRouting's vrrpd (network namespaces).

Both directions: whichever implementation has the higher priority wins, failover works either
way, and each side learns the other's advertisement interval. keepalived runs with
`vrrp_version 3` (multicast and unicast, IPv4 and IPv6); FRR runs zebra + vrrpd with their own
temp paths and moves the VIP through a macvlan carrying the virtual MAC (IPv4 and IPv6; FRR's
vrrpd has no unicast mode).
Run: sudo L4LB_BUILD_DIR=build PYTHONPATH=tests/pylib python3 tests/netns/test_interop.py
"""

import json
import os
import shutil
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
import netns  # noqa: E402
import testmain  # noqa: E402

VIP = "10.78.0.100"
VRID = 9
KEEPALIVED = shutil.which("keepalived") or "/usr/sbin/keepalived"
ZEBRA, VRRPD = "/usr/lib/frr/zebra", "/usr/lib/frr/vrrpd"


def l4lb_body(prio, interval_ms, unicast=None, vip=f"{VIP}/24"):
    text = (f"vrrp:\n  - name: vi\n    interface: eth0\n    vrid: {VRID}\n"
            f"    priority: {prio}\n    advert_interval: {interval_ms}ms\n"
            f"    vips: [\"{vip}\"]\n")
    if unicast:
        src, peers = unicast
        text += f"    unicast:\n      source: {src}\n      peers: [{', '.join(peers)}]\n"
    return text


class Keepalived:
    def __init__(self, lab, ns, name, prio, interval_ms, unicast=None, state="BACKUP",
                 vip=f"{VIP}/24"):
        self.lab, self.ns, self.name = lab, ns, name
        self.vip = vip.split("/")[0]
        d = os.path.join(lab.tmp, name)
        os.makedirs(d, exist_ok=True)
        uni = ""
        if unicast:
            src, peers = unicast
            uni = (f"    unicast_src_ip {src}\n    unicast_peer {{\n" +
                   "".join(f"        {p}\n" for p in peers) + "    }\n")
        self.conf = lab.write(f"{name}.conf", f"""global_defs {{
    router_id {name}
    vrrp_version 3
    script_user root
}}
vrrp_instance VI {{
    state {state}
    interface eth0
    virtual_router_id {VRID}
    priority {prio}
    advert_int {interval_ms / 1000:.2f}
{uni}    virtual_ipaddress {{
        {vip} dev eth0
    }}
}}
""")
        self.cmd = [KEEPALIVED, "-n", "-l", "-D", "-P", "-f", self.conf,
                    "-p", os.path.join(d, "k.pid"), "-r", os.path.join(d, "v.pid"),
                    "-c", os.path.join(d, "c.pid")]
        self.proc = None

    def start(self):
        # A SIGKILLed keepalived leaves pid files that make the next start refuse to run.
        for i, arg in enumerate(self.cmd):
            if arg in ("-p", "-r", "-c") and os.path.exists(self.cmd[i + 1]):
                os.unlink(self.cmd[i + 1])
        self.proc = self.lab.spawn(self.ns, self.cmd, log=f"{self.name}.log")
        return self

    def stop(self, sig=signal.SIGTERM):
        return netns.Lab.stop(self.proc, sig)

    def log(self):
        return self.lab.read(f"{self.name}.log")

    def has_vip(self):
        return self.lab.has_addr(self.ns, "eth0", self.vip)


class Frr:
    """zebra + vrrpd in `ns`; the VIP lives on macvlan vrrp4-<vrid> (IPv6: vrrp6-<vrid>) with
    the virtual MAC, as FRR's documentation sets it up."""

    def __init__(self, lab, ns, name, prio, interval_ms, vip6=None):
        self.lab, self.ns, self.name = lab, ns, name
        self.family = "v6" if vip6 else "v4"
        self.dir = os.path.join(lab.tmp, name)
        os.makedirs(self.dir, exist_ok=True)
        os.chmod(lab.tmp, 0o755)  # FRR drops to user frr
        os.chmod(self.dir, 0o777)
        if vip6:
            self.mv = f"vrrp6-{VRID}"
            # A random link-local: every router's macvlan has the same virtual MAC.
            lab.run(ns, ["ip", "link", "add", self.mv, "link", "eth0", "type", "macvlan", "mode",
                         "bridge"])
            lab.run(ns, ["ip", "link", "set", self.mv, "address", f"00:00:5e:00:02:{VRID:02x}",
                         "addrgenmode", "random"])
            lab.run(ns, ["ip", "addr", "add", f"{vip6}/64", "dev", self.mv, "nodad"])
            vip_line = f" vrrp {VRID} ipv6 {vip6}\n"
        else:
            self.mv = f"vrrp4-{VRID}"
            lab.run(ns, ["ip", "link", "add", self.mv, "link", "eth0", "type", "macvlan", "mode",
                         "bridge"])
            lab.run(ns, ["ip", "link", "set", self.mv, "address", f"00:00:5e:00:01:{VRID:02x}"])
            lab.run(ns, ["ip", "addr", "add", f"{VIP}/24", "dev", self.mv])
            # Only the interface holding an address answers ARP for it (FRR's recommendation).
            lab.run(ns, ["sysctl", "-qw", "net.ipv4.conf.all.arp_ignore=1"])
            vip_line = f" vrrp {VRID} ip {VIP}\n"
        lab.run(ns, ["ip", "link", "set", self.mv, "up"])
        with open(os.path.join(self.dir, "zebra.conf"), "w") as f:
            f.write("")
        with open(os.path.join(self.dir, "vrrpd.conf"), "w") as f:
            f.write(f"interface eth0\n vrrp {VRID} version 3\n vrrp {VRID} priority {prio}\n"
                    f" vrrp {VRID} advertisement-interval {interval_ms}\n" + vip_line + "!\n")
        self.common = ["-u", "frr", "-g", "frr", "--vty_socket", self.dir, "-z",
                       os.path.join(self.dir, "zserv.api"), "-P", "0", "--log", "stdout"]
        self.zebra = self.vrrpd = None

    def start(self):
        self.zebra = self.lab.spawn(self.ns, [ZEBRA, "-f", os.path.join(self.dir, "zebra.conf"),
                                              "-i", os.path.join(self.dir, "zebra.pid")] +
                                    self.common, log=f"{self.name}-zebra.log")
        netns.wait_until(lambda: os.path.exists(os.path.join(self.dir, "zserv.api")), 10,
                         what="zebra socket")
        self.start_vrrpd()
        return self

    def start_vrrpd(self):
        self.vrrpd = self.lab.spawn(self.ns, [VRRPD, "-f", os.path.join(self.dir, "vrrpd.conf"),
                                              "-i", os.path.join(self.dir, "vrrpd.pid")] +
                                    self.common, log=f"{self.name}-vrrpd.log")

    def show(self):
        r = self.lab.run(self.ns, ["vtysh", "--vty_socket", self.dir, "-c",
                                   f"show vrrp {VRID} json"], check=False)
        try:
            return json.loads(r.stdout)[0][self.family]
        except (ValueError, IndexError, KeyError, TypeError):
            return None

    def state(self):
        s = self.show()
        return s["status"] if s else None

    def log(self):
        return self.lab.read(f"{self.name}-vrrpd.log")


class InteropTest(unittest.TestCase):
    def setUp(self):
        netns.require_root()
        self.lab = netns.Lab("io")
        self.hub = self.lab.bridge()
        self.a = self.node("a", 1)  # l4lbd
        self.b = self.node("b", 2)  # the other implementation
        self.others = []

    def tearDown(self):
        if os.environ.get("L4LB_TEST_VERBOSE"):
            for o in self.others:
                print(f"--- {o.name}\n{o.log()[-3000:]}", file=sys.stderr)
        self.lab.close()

    def node(self, name, n):
        ns = self.lab.node(name)
        self.lab.link(ns, self.hub, "eth0", [f"10.78.0.{n}/24"])
        return ns

    def l4lbd(self, prio, interval_ms, unicast=None, vip=f"{VIP}/24"):
        d = netns.L4lbd(self.lab, self.a, "l4lbd", l4lb_body(prio, interval_ms, unicast, vip))
        self.others.append(d)
        return d.start()

    def wait(self, pred, what, timeout=8):
        try:
            netns.wait_until(pred, timeout, what=what)
        except AssertionError:
            logs = "\n".join(f"--- {o.name}\n{o.log()[-2500:]}" for o in self.others)
            raise AssertionError(f"timed out waiting for {what}\n{logs}")

    def stays(self, pred, seconds, what):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.assertTrue(pred(), what)
            time.sleep(0.02)

    def l4_vip(self):
        return self.lab.has_addr(self.a, "eth0", VIP)

    # -- keepalived ------------------------------------------------------------------------
    def keepalived(self, prio, interval_ms, unicast=None, vip=f"{VIP}/24", name="keepalived"):
        if not os.path.exists(KEEPALIVED):
            self.skipTest("keepalived not installed")
        k = Keepalived(self.lab, self.b, name, prio, interval_ms, unicast, vip=vip)
        self.others.append(k)
        return k.start()

    def test_keepalived_higher_priority_wins_and_failover(self):
        ka = self.keepalived(150, 100)
        self.wait(ka.has_vip, "keepalived master")
        d = self.l4lbd(100, 50)
        self.wait(lambda: d.state("vi") == "BACKUP", "l4lbd backup")
        self.wait(lambda: (d.instance("vi") or {}).get("master") == "10.78.0.2",
                  "l4lbd sees keepalived as master")
        # learned from keepalived's adverts, not our own 50 ms
        self.assertEqual(d.instance("vi")["master_adver_interval_ms"], 100)
        self.stays(lambda: not self.l4_vip() and ka.has_vip(), 0.5, "keepalived keeps the VIP")
        ka.stop(signal.SIGKILL)
        self.wait(lambda: d.state("vi") == "MASTER" and self.l4_vip(), "l4lbd takes over")
        # keepalived comes back with the higher priority and preempts us
        ka.start()
        self.wait(lambda: ka.has_vip() and d.state("vi") == "BACKUP", "keepalived preempts")
        self.wait(lambda: not self.l4_vip(), "l4lbd released the VIP")

    def test_l4lbd_higher_priority_wins_keepalived_learns_interval(self):
        # Our 500 ms adverts are longer than keepalived's own Master_Down_Interval (~180 ms):
        # it can only stay Backup if it learned our interval.
        d = self.l4lbd(150, 500)
        self.wait(lambda: d.state("vi") == "MASTER", "l4lbd master", timeout=10)
        ka = self.keepalived(100, 50)
        self.wait(lambda: "Entering BACKUP STATE" in ka.log(), "keepalived backup")
        time.sleep(0.6)
        self.stays(lambda: self.l4_vip() and not ka.has_vip(), 2.0, "l4lbd keeps the VIP")
        self.assertEqual(d.instance("vi")["drops"]["checksum"], 0)
        t0 = time.monotonic()
        d.stop(signal.SIGTERM)  # priority 0: keepalived waits only its skew time
        self.wait(ka.has_vip, "keepalived takes over")
        self.assertLess(time.monotonic() - t0, 1.4)  # < 3 x 500 ms: the priority-0 path
        self.assertFalse(self.l4_vip())

    def test_keepalived_unicast(self):
        d = self.l4lbd(150, 50, ("10.78.0.1", ["10.78.0.2"]))
        self.wait(lambda: d.state("vi") == "MASTER", "l4lbd master")
        ka = self.keepalived(100, 50, ("10.78.0.2", ["10.78.0.1"]))
        self.wait(lambda: "Entering BACKUP STATE" in ka.log(), "keepalived backup")
        self.stays(lambda: self.l4_vip() and not ka.has_vip(), 0.5, "l4lbd keeps the VIP")
        d.stop(signal.SIGKILL)
        self.wait(ka.has_vip, "keepalived takes over after SIGKILL")
        d.start()
        self.wait(lambda: d.state("vi") == "MASTER" and self.l4_vip(), "l4lbd preempts back")
        self.wait(lambda: not ka.has_vip(), "keepalived released the VIP")
        self.assertGreater(d.instance("vi")["adverts_received"], 0)
        self.assertEqual(d.instance("vi")["drops"]["not_peer"], 0)

    def test_keepalived_ipv6_both_directions(self):
        vip6 = "2001:db8:78::100"
        ka = self.keepalived(150, 100, vip=vip6 + "/64")
        self.wait(ka.has_vip, "keepalived IPv6 master")
        d = self.l4lbd(100, 50, vip=vip6 + "/64")
        self.wait(lambda: d.state("vi", "ipv6") == "BACKUP", "l4lbd IPv6 backup")
        self.wait(lambda: ((d.instance("vi", "ipv6") or {}).get("master") or "").startswith(
            "fe80:"), "l4lbd sees keepalived's link-local as master")
        self.assertEqual(d.instance("vi", "ipv6")["master_adver_interval_ms"], 100)
        self.assertEqual(d.instance("vi", "ipv6")["drops"]["checksum"], 0)
        ka.stop(signal.SIGKILL)
        self.wait(lambda: d.state("vi", "ipv6") == "MASTER" and
                  self.lab.has_addr(self.a, "eth0", vip6), "l4lbd takes over")
        # keepalived back, now the lower priority: it must accept our IPv6 adverts
        self.lab.run(self.b, ["ip", "addr", "del", vip6 + "/64", "dev", "eth0"], check=False)
        ka = self.keepalived(50, 100, vip=vip6 + "/64", name="keepalived2")
        self.wait(lambda: "Entering BACKUP STATE" in ka.log(), "keepalived IPv6 backup")
        # longer than keepalived's own Master_Down_Interval (~0.5 s at priority 50)
        self.stays(lambda: not ka.has_vip() and d.state("vi", "ipv6") == "MASTER", 1.5,
                   "l4lbd stays IPv6 master")

    # -- FRR -------------------------------------------------------------------------------
    def frr(self, prio, interval_ms, vip6=None):
        if not (os.path.exists(ZEBRA) and os.path.exists(VRRPD)):
            self.skipTest("FRR not installed")
        f = Frr(self.lab, self.b, "frr", prio, interval_ms, vip6)
        self.others.append(f)
        return f.start()

    def test_frr_higher_priority_wins_and_failover(self):
        f = self.frr(150, 100)
        self.wait(lambda: f.state() == "Master", "frr master")
        d = self.l4lbd(100, 50)
        self.wait(lambda: d.state("vi") == "BACKUP", "l4lbd backup")
        self.wait(lambda: (d.instance("vi") or {}).get("master") == "10.78.0.2",
                  "l4lbd sees frr as master")
        self.assertEqual(d.instance("vi")["master_adver_interval_ms"], 100)
        self.stays(lambda: not self.l4_vip() and f.state() == "Master", 0.5, "frr stays master")
        netns.Lab.stop(f.vrrpd, signal.SIGKILL)
        self.wait(lambda: d.state("vi") == "MASTER" and self.l4_vip(), "l4lbd takes over")
        f.start_vrrpd()
        self.wait(lambda: f.state() == "Master" and d.state("vi") == "BACKUP", "frr preempts")

    def test_l4lbd_higher_priority_wins_frr_learns_interval(self):
        d = self.l4lbd(150, 500)
        self.wait(lambda: d.state("vi") == "MASTER", "l4lbd master", timeout=10)
        f = self.frr(100, 50)
        self.wait(lambda: f.state() == "Backup", "frr backup")
        self.wait(lambda: f.show()["masterAdverInterval"] == 500, "frr learned 500 ms")
        self.stays(lambda: f.state() == "Backup" and self.l4_vip(), 1.5, "l4lbd stays master")
        d.stop(signal.SIGTERM)
        self.wait(lambda: f.state() == "Master", "frr takes over", timeout=3)
        self.assertFalse(self.l4_vip())

    def test_frr_ipv6_both_directions(self):
        vip6 = "2001:db8:78::100"
        f = self.frr(150, 100, vip6=vip6)
        self.wait(lambda: f.state() == "Master", "frr IPv6 master")
        d = self.l4lbd(100, 50, vip=vip6 + "/64")
        self.wait(lambda: d.state("vi", "ipv6") == "BACKUP", "l4lbd IPv6 backup")
        self.wait(lambda: ((d.instance("vi", "ipv6") or {}).get("master") or "").startswith(
            "fe80:"), "l4lbd sees frr's link-local as master")
        self.assertEqual(d.instance("vi", "ipv6")["master_adver_interval_ms"], 100)
        self.assertEqual(d.instance("vi", "ipv6")["drops"]["checksum"], 0)
        self.assertFalse(self.lab.has_addr(self.a, "eth0", vip6))
        # frr gone: l4lbd takes over; frr back with a lower priority learns our interval.
        netns.Lab.stop(f.vrrpd, signal.SIGKILL)
        self.wait(lambda: d.state("vi", "ipv6") == "MASTER" and
                  self.lab.has_addr(self.a, "eth0", vip6), "l4lbd takes over IPv6")
        with open(os.path.join(f.dir, "vrrpd.conf")) as fh:
            conf = fh.read().replace(f"priority 150", "priority 50")
        with open(os.path.join(f.dir, "vrrpd.conf"), "w") as fh:
            fh.write(conf)
        f.start_vrrpd()
        self.wait(lambda: f.state() == "Backup", "frr IPv6 backup")
        self.wait(lambda: f.show()["masterAdverInterval"] == 50, "frr learned 50 ms")
        self.stays(lambda: f.state() == "Backup" and d.state("vi", "ipv6") == "MASTER", 1.5,
                   "l4lbd stays IPv6 master")


if __name__ == "__main__":
    testmain.main()
