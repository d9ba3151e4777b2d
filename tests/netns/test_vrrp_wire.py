#!/usr/bin/env python3
"""l4lbd's VRRP on the wire: adverts checked by an independent dissector (tshark), and
malformed / hostile packets injected into a running l4lbd are dropped and counted, never
acted upon and never a crash.
Run: sudo L4LB_BUILD_DIR=build PYTHONPATH=tests/pylib python3 tests/netns/test_vrrp_wire.py
"""

import os
import shutil
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
import netns  # noqa: E402
import testmain  # noqa: E402

VIP4, VIP6 = "10.79.0.100", "2001:db8:79::100"
BODY = ("vrrp:\n  - name: vi\n    interface: eth0\n    vrid: 7\n    priority: 100\n"
        f"    advert_interval: 50ms\n    vips: [{VIP4}/24, \"{VIP6}/64\"]\n")

# Runs inside the attacker's namespace: python3 -c INJECT CASE [COUNT]
INJECT = r'''
import os, random, socket, struct, subprocess, sys
case = sys.argv[1]; count = int(sys.argv[2]) if len(sys.argv) > 2 else 1
def csum(data):
    if len(data) % 2: data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff
def lladdr():
    out = subprocess.run(["ip", "-6", "-o", "addr", "show", "dev", "eth0", "scope", "link"],
                         capture_output=True, text=True).stdout
    return out.split()[3].split("/")[0]
v6 = case.startswith("v6")
if v6:
    src = socket.inet_pton(socket.AF_INET6, lladdr())
    dst = socket.inet_pton(socket.AF_INET6, "ff02::12")
    addrs = socket.inet_pton(socket.AF_INET6, "2001:db8:79::100")
else:
    src = socket.inet_aton("10.79.0.2"); dst = socket.inet_aton("224.0.0.18")
    addrs = socket.inet_aton("10.79.0.100")
def advert(ver=3, typ=1, vrid=7, prio=254, count=1, interval=5, body=addrs, bad=False, v2=False):
    if v2:  # VRRPv2: auth type, 1 s interval, then auth data; v2 checksum (no pseudo-header)
        m = struct.pack("!BBBBBBH", 0x21, vrid, prio, 1, 0, 1, 0) + body + b"\0" * 8
        c = csum(m)
        return m[:6] + struct.pack("!H", c) + m[8:]
    m = struct.pack("!BBBBHH", (ver << 4) | typ, vrid, prio, count, interval, 0) + body
    if v6:
        ph = src + dst + struct.pack("!I3xB", len(m), 112)
    else:
        ph = src + dst + struct.pack("!xBH", 112, len(m))
    c = csum(ph + m) ^ (0x5555 if bad else 0)
    return m[:6] + struct.pack("!H", c) + m[8:]
ttl = 255
pkts = []
if case.endswith("checksum"): pkts = [advert(bad=True)]
elif case.endswith("ttl"): pkts = [advert()]; ttl = 254
elif case.endswith("vrid"): pkts = [advert(vrid=8)]
elif case.endswith("truncated"): pkts = [advert()[:6]]
elif case.endswith("huge_count"): pkts = [advert(count=255)]
elif case.endswith("zero_count"): pkts = [advert(count=0, body=b"")]
elif case.endswith("v2"): pkts = [advert(v2=True)]
elif case.endswith("type"): pkts = [advert(typ=2)]
elif case.endswith("zero_interval"): pkts = [advert(interval=0)]
elif case.endswith("random"):
    rnd = random.Random(4)
    pkts = [bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(0, 120))) for _ in range(count)]
    count = 1
else: raise SystemExit("unknown case " + case)
ifindex = socket.if_nametoindex("eth0")
if v6:
    s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, 112)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, ttl)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, ifindex)
    to = ("ff02::12", 0, 0, ifindex)
else:
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 112)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, ttl)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"eth0")
    to = ("224.0.0.18", 0)
import time
for _ in range(count):
    for p in pkts:
        s.sendto(p, to)
        time.sleep(0.001)  # a burst larger than the receiver's socket buffer is lost in the kernel
'''


class WireTest(unittest.TestCase):
    def setUp(self):
        netns.require_root()
        self.lab = netns.Lab("wi")
        hub = self.lab.bridge()
        self.a, self.b = self.lab.node("a"), self.lab.node("b")
        self.lab.link(self.a, hub, "eth0", ["10.79.0.1/24", "2001:db8:79::1/64"])
        self.lab.link(self.b, hub, "eth0", ["10.79.0.2/24", "2001:db8:79::2/64"])
        self.d = netns.L4lbd(self.lab, self.a, "l4lbd", BODY).start()
        for fam in ("ipv4", "ipv6"):
            netns.wait_until(lambda: self.d.state("vi", fam) == "MASTER", 5, what=f"{fam} master")

    def tearDown(self):
        if self.d.alive():
            self.d.stop()
        self.lab.close()

    def drops(self, fam):
        return self.d.instance("vi", fam)["drops"]

    def test_hostile_packets_are_dropped_and_counted(self):
        cases = [("checksum", "checksum"), ("ttl", "ttl"), ("vrid", "vrid"),
                 ("truncated", "truncated"), ("huge_count", "length"),
                 ("zero_count", "address_count"), ("v2", "version"), ("type", "type"),
                 ("zero_interval", "interval"),
                 ("v6checksum", "checksum"), ("v6ttl", "ttl"), ("v6truncated", "truncated"),
                 ("v6huge_count", "length"), ("v6vrid", "vrid")]
        before = {f: self.d.instance("vi", f) for f in ("ipv4", "ipv6")}
        for case, reason in cases:
            fam = "ipv6" if case.startswith("v6") else "ipv4"
            n0 = self.drops(fam)[reason]
            self.lab.run(self.b, ["python3", "-c", INJECT, case, "3"])
            netns.wait_until(lambda: self.drops(fam)[reason] >= n0 + 3, 3,
                             what=f"{case} counted as {reason}")
        # 300 random datagrams: all dropped (each under some reason), none accepted
        total0 = sum(self.drops("ipv4").values())
        self.lab.run(self.b, ["python3", "-c", INJECT, "random", "300"])
        netns.wait_until(lambda: sum(self.drops("ipv4").values()) >= total0 + 300, 5,
                         what="random bytes counted")
        self.assertTrue(self.d.alive(), "l4lbd survived")
        for fam in ("ipv4", "ipv6"):
            now = self.d.instance("vi", fam)
            # every injected packet carried priority 254 from a higher address: had any been
            # accepted, this Master would have stepped down
            self.assertEqual(now["state"], "MASTER", fam)
            self.assertEqual(now["adverts_received"], before[fam]["adverts_received"], fam)

    def test_tshark_reports_good_checksums(self):
        tshark = shutil.which("tshark")
        # In scripts/apt-packages.txt: a missing tshark is a broken machine, not a skip.
        self.assertIsNotNone(tshark, "tshark missing (Debian package tshark)")
        pcap = self.lab.path("adverts.pcap")
        os.chmod(self.lab.tmp, 0o755)
        # tshark may drop privileges to write; capture into a file it can create
        cap = self.lab.spawn(self.a, [tshark, "-i", "eth0", "-f", "ip proto 112 or ip6 proto 112",
                                      "-c", "20", "-w", pcap], log="tshark.log")
        try:
            cap.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.fail("capture did not finish: " + self.lab.read("tshark.log"))
        out = subprocess.run([tshark, "-r", pcap, "-T", "fields", "-e", "ip.version",
                              "-e", "ipv6.version", "-e", "vrrp.version",
                              "-e", "vrrp.checksum.status"], capture_output=True, text=True,
                             timeout=60).stdout
        rows = [line.split("\t") for line in out.splitlines() if line.strip()]
        self.assertEqual(len(rows), 20, out)
        v4 = [r for r in rows if r[0] == "4"]
        v6 = [r for r in rows if r[1] == "6"]
        self.assertTrue(v4 and v6, out)
        for r in rows:
            self.assertEqual(r[2], "3", out)
            self.assertEqual(r[3], "1", f"tshark: checksum not good: {r}\n{out}")  # 1 = Good


class AnnounceTest(unittest.TestCase):
    """Gratuitous ARP and unsolicited NA on becoming Master: garp.repeat of each, well formed;
    with garp.refresh, repeated while Master."""

    def capture(self, garp_yaml, seconds):
        """Starts l4lbd with `garp_yaml` and captures ARP/ICMPv6 on the peer for `seconds`:
        (rows of tshark fields, the Master's MAC, the garp rows, the NA rows)."""
        netns.require_root()
        tshark = shutil.which("tshark")
        # In scripts/apt-packages.txt: a missing tshark is a broken machine, not a skip.
        self.assertIsNotNone(tshark, "tshark missing (Debian package tshark)")
        with netns.Lab("an") as lab:
            hub = lab.bridge()
            a, b = lab.node("a"), lab.node("b")
            lab.link(a, hub, "eth0", ["10.79.0.1/24"])
            lab.link(b, hub, "eth0", ["10.79.0.2/24"])
            os.chmod(lab.tmp, 0o755)
            pcap = lab.path("announce.pcap")
            cap = lab.spawn(b, [tshark, "-i", "eth0", "-f", "arp or icmp6", "-a",
                                f"duration:{seconds}", "-w", pcap], log="tshark.log")
            netns.wait_until(lambda: "Capturing on" in lab.read("tshark.log"), 10,
                             what="tshark ready")
            d = netns.L4lbd(lab, a, "l4lbd", BODY + garp_yaml).start()
            netns.wait_until(lambda: d.state("vi", "ipv6") == "MASTER", 5, what="master")
            cap.wait(timeout=30)
            mac = lab.out(a, ["cat", "/sys/class/net/eth0/address"]).strip()
            out = subprocess.run(
                [tshark, "-r", pcap, "-T", "fields", "-e", "eth.src", "-e", "arp.opcode",
                 "-e", "arp.src.proto_ipv4", "-e", "arp.dst.proto_ipv4", "-e", "icmpv6.type",
                 "-e", "icmpv6.nd.na.target_address", "-e", "icmpv6.nd.na.flag.o",
                 "-e", "icmpv6.checksum.status", "-e", "icmpv6.opt.linkaddr",
                 "-e", "frame.time_relative"],
                capture_output=True, text=True, timeout=60).stdout
            d.stop()
        rows = [r.split("\t") for r in out.splitlines()]
        garps = [r for r in rows if r[1] == "1" and r[2] == VIP4 and r[3] == VIP4]
        nas = [r for r in rows if r[4] == "136" and r[5] == VIP6]
        return out, mac, garps, nas

    def test_garp_and_unsolicited_na(self):
        out, mac, garps, nas = self.capture("    garp:\n      repeat: 3\n      interval: 20ms\n", 4)
        self.assertEqual(len(garps), 3, out)
        self.assertEqual(len(nas), 3, out)
        for r in garps + nas:
            self.assertEqual(r[0], mac, out)
        for r in nas:
            self.assertIn(r[6], ("1", "True"), out)  # Override
            self.assertEqual(r[7], "1", out)  # checksum good
            self.assertEqual(r[8], mac, out)  # target link-layer address

    def test_garp_refresh_repeats_while_master(self):
        out, mac, garps, nas = self.capture(
            "    garp:\n      repeat: 1\n      interval: 20ms\n      refresh: 1s\n", 4.5)
        # One on becoming Master, then one a second while Master: about four in 4.5 s.
        for kind, rows in (("garp", garps), ("na", nas)):
            self.assertGreaterEqual(len(rows), 3, f"{kind}: {out}")
            self.assertLessEqual(len(rows), 5, f"{kind}: {out}")
            times = [float(r[9]) for r in rows]
            gaps = [b - a for a, b in zip(times, times[1:])]
            for g in gaps:
                self.assertGreater(g, 0.8, f"{kind} gaps {gaps}")
                self.assertLess(g, 1.3, f"{kind} gaps {gaps}")
        for r in garps + nas:
            self.assertEqual(r[0], mac, out)


if __name__ == "__main__":
    testmain.main()
