#!/usr/bin/env python3
"""l4lbd programs real IPVS inside UML (one boot): the exact `ipvsadm -Ln` table for IPv4
and IPv6, TCP and UDP, NAT/DR/TUN; real traffic through the VIPs (rr spreads evenly, sh
keeps a client on one backend, lc sends new connections to the least loaded); the
`--stats` counters match the traffic and l4lbd's own netlink dump."""
import unittest

import lab
import testmain

CONFIG = """
services:
  - name: web4
    vip: 10.0.100.1
    port: 80
    scheduler: rr
    health: {type: none}
    backends:
      - {address: 10.1.0.11, port: 8080}
      - {address: 10.1.0.12, port: 8080}
      - {address: 10.1.0.13, port: 8080}
  - name: dns4
    vip: 10.0.100.1
    port: 53
    protocol: udp
    scheduler: rr
    health: {type: none}
    backends:
      - {address: 10.1.0.11, port: 8053}
      - {address: 10.1.0.12, port: 8053}
      - {address: 10.1.0.13, port: 8053}
  - name: web6
    vip: "fd00:100::1"
    port: 80
    scheduler: rr
    health: {type: none}
    backends:
      - {address: "fd00:b::11", port: 8080}
      - {address: "fd00:b::12", port: 8080}
      - {address: "fd00:b::13", port: 8080}
  - name: dns6
    vip: "fd00:100::1"
    port: 53
    protocol: udp
    scheduler: sh
    scheduler_flags: [sh-fallback, sh-port]
    health: {type: none}
    backends:
      - {address: "fd00:b::11", port: 8053, weight: 2}
      - {address: "fd00:b::12", port: 8053, weight: 3}
  - name: sticky
    vip: 10.0.100.1
    port: 81
    scheduler: sh
    health: {type: none}
    backends:
      - {address: 10.1.0.11, port: 8080}
      - {address: 10.1.0.12, port: 8080}
      - {address: 10.1.0.13, port: 8080}
  - name: least
    vip: 10.0.100.1
    port: 82
    scheduler: lc
    health: {type: none}
    backends:
      - {address: 10.1.0.11, port: 8080}
      - {address: 10.1.0.12, port: 8080}
  - name: direct
    vip: 10.0.100.2
    port: 80
    scheduler: rr
    forward: dr
    health: {type: none}
    backends:
      - {address: 10.1.0.11}
      - {address: 10.1.0.12}
  - name: tunnel
    vip: 10.0.100.3
    port: 80
    scheduler: wrr
    forward: tun
    persistence: 60s
    health: {type: none}
    backends:
      - {address: 10.1.0.11, weight: 1, upper_threshold: 100, lower_threshold: 10}
      - {address: 10.1.0.12, weight: 2}
"""

# What `ipvsadm -Ln` must show (whitespace-normalised; services in any order).
EXPECTED = """
TCP 10.0.100.1:80 rr
-> 10.1.0.11:8080 Masq 1 0 0
-> 10.1.0.12:8080 Masq 1 0 0
-> 10.1.0.13:8080 Masq 1 0 0
UDP 10.0.100.1:53 rr
-> 10.1.0.11:8053 Masq 1 0 0
-> 10.1.0.12:8053 Masq 1 0 0
-> 10.1.0.13:8053 Masq 1 0 0
TCP [fd00:100::1]:80 rr
-> [fd00:b::11]:8080 Masq 1 0 0
-> [fd00:b::12]:8080 Masq 1 0 0
-> [fd00:b::13]:8080 Masq 1 0 0
UDP [fd00:100::1]:53 sh (sh-fallback,sh-port)
-> [fd00:b::11]:8053 Masq 2 0 0
-> [fd00:b::12]:8053 Masq 3 0 0
TCP 10.0.100.1:81 sh
-> 10.1.0.11:8080 Masq 1 0 0
-> 10.1.0.12:8080 Masq 1 0 0
-> 10.1.0.13:8080 Masq 1 0 0
TCP 10.0.100.1:82 lc
-> 10.1.0.11:8080 Masq 1 0 0
-> 10.1.0.12:8080 Masq 1 0 0
TCP 10.0.100.2:80 rr
-> 10.1.0.11:80 Route 1 0 0
-> 10.1.0.12:80 Route 1 0 0
TCP 10.0.100.3:80 wrr persistent 60
-> 10.1.0.11:80 Tunnel 1 0 0
-> 10.1.0.12:80 Tunnel 2 0 0
"""

GUEST = r'''
import json, time
import lab
from lab import check, finish, sh, Guest, save, wait_for, ipvsadm_table

CONFIG = __CONFIG__
EXPECTED = __EXPECTED__

def blocks(text):
    """{service line: [destination lines]} with whitespace normalised."""
    out, cur = {}, None
    for line in text.splitlines():
        words = line.split()
        if not words or words[0] in ("Prot", "IP"):
            continue
        if words[0] == "->":
            if words[1] == "RemoteAddress:Port":
                continue
            out[cur].append(" ".join(words))
        else:
            cur = " ".join(words)
            out[cur] = []
    return {k: sorted(v) for k, v in out.items()}

def dest_row(table, service_prefix, dest):
    """ipvsadm -Ln columns of one destination: [Forward, Weight, Active, Inactive]."""
    cur = None
    for line in table.splitlines():
        w = line.split()
        if not w:
            continue
        if w[0] != "->":
            cur = " ".join(w)
        elif cur and cur.startswith(service_prefix) and w[1] == dest:
            return w[2:]
    return None

g = Guest(clients=2, backends=3).setup()
for v in ("10.0.100.1", "fd00:100::1", "10.0.100.2", "10.0.100.3"):
    g.add_vip(v)
# DR and TUN: the backends own the VIPs themselves and answer the client directly (via
# the LB, their router), so the LB must accept packets from its own VIP addresses.
for k in ("net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0",
          "net.ipv4.conf.all.accept_local=1", "net.ipv4.conf.brb.accept_local=1",
          "net.ipv4.conf.brb.rp_filter=0"):
    sh(f"sysctl -qw {k}")
for b in g.backends:
    sh("ip addr add 10.0.100.2/32 dev lo && "
       "sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 "
       "net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 && "
       "ip link set tunl0 up && ip addr add 10.0.100.3/32 dev tunl0 && "
       "sysctl -qw net.ipv4.conf.tunl0.rp_filter=0", ns=b)
    g.start_echo(b, 8080, "tcp")
    g.start_echo(b, 8053, "udp")
    g.start_echo(b, 80, "tcp")

d = g.daemon("prog", CONFIG)
d.start()
st = d.wait_status()
ok = wait_for(lambda: len(blocks(sh("ipvsadm -Ln"))) == 8, 30, 0.2)
table = sh("ipvsadm -Ln")
save("ipvsadm-Ln.txt", table)
check("ipvsadm -Ln shows exactly the configured table", blocks(table) == blocks(EXPECTED),
      f"\n{table}")
st = d.status()
check("status: ipvs available, no conflicts", st["ipvs"]["available"] and not st["ipvs"]["conflicts"],
      json.dumps(st["ipvs"]))
check("status: operations = 8 services + 20 destinations", st["ipvs"]["operations_total"] == 28,
      json.dumps(st["ipvs"]))

# NAT traffic.
rr4 = g.count("c1", "10.0.100.1", 80, 30)
check("rr tcp v4 spreads evenly", rr4 == {"b1": 10, "b2": 10, "b3": 10}, rr4)
rru = g.count("c1", "10.0.100.1", 53, 30, "udp")
check("rr udp v4 spreads evenly", rru == {"b1": 10, "b2": 10, "b3": 10}, rru)
rr6 = g.count("c2", "fd00:100::1", 80, 30)
check("rr tcp v6 spreads evenly", rr6 == {"b1": 10, "b2": 10, "b3": 10}, rr6)
u6 = g.count("c2", "fd00:100::1", 53, 10, "udp")
check("sh udp v6 answers", sum(v for k, v in u6.items() if not k.startswith("error")) == 10, u6)
sticky = {}
for c in g.clients:
    sticky[c] = g.count(c, "10.0.100.1", 81, 12)
check("sh keeps each client on one backend",
      all(len(v) == 1 and sum(v.values()) == 12 and not list(v)[0].startswith("error")
          for v in sticky.values()), sticky)

# lc: two held connections on each backend; close b1's; the next two new ones must both
# go to b1 (fewest active), where rr would alternate.
held = [g.connect(g.clients[i % 2], "10.0.100.1", 82) for i in range(4)]
on = lambda name: [c for c in held if c.backend == name]
check("lc balances held connections", len(on("b1")) == 2 and len(on("b2")) == 2,
      [c.backend for c in held])
for c in on("b1"):
    c.close()
wait_for(lambda: (dest_row(sh("ipvsadm -Ln"), "TCP 10.0.100.1:82", "10.1.0.11:8080") or
                  ["", "", "x"])[2] == "0", 20, 0.2)
new = [g.connect("c1", "10.0.100.1", 82) for _ in range(2)]
check("lc sends new connections to the least loaded", [c.backend for c in new] == ["b1", "b1"],
      [c.backend for c in new])
for c in on("b2") + new:
    check(f"held connection to {c.backend} still answers", c.ask("still") == c.backend)
    c.close()

# DR and TUN.
dr = g.count("c1", "10.0.100.2", 80, 10)
check("dr traffic reaches both backends", dr == {"b1": 5, "b2": 5}, dr)
tun = g.count("c1", "10.0.100.3", 80, 6)
check("tun traffic (persistent) stays on one backend",
      len(tun) == 1 and list(tun.values()) == [6] and not list(tun)[0].startswith("error"), tun)

# Counters: ipvsadm --stats and l4lbd's own dump agree with the traffic.
stats = sh("ipvsadm -Ln --stats")
save("ipvsadm-Ln-stats.txt", stats)
print(stats)
conns = {}
for line in stats.splitlines():
    w = line.split()
    if w and w[0] in ("TCP", "UDP"):
        conns[w[0] + " " + w[1]] = int(w[2])
check("ipvsadm --stats counts the NAT connections",
      conns.get("TCP 10.0.100.1:80") == 30 and conns.get("UDP 10.0.100.1:53") == 30 and
      conns.get("TCP [fd00:100::1]:80") == 30, conns)
# This UML kernel leaves the DR/TUN service counters at 0, so the connection table is the
# witness that IPVS (and not something else) carried that traffic.
conn_table = sh("ipvsadm -Lnc")
save("ipvsadm-Lnc.txt", conn_table)
via = lambda vip: sum(1 for line in conn_table.splitlines() if f" {vip}:80 " in line)
check("the IPVS connection table holds the DR and TUN connections",
      via("10.0.100.2") == 10 and via("10.0.100.3") >= 1, conn_table)
st = d.status()
web4 = [s for s in st.get("services", []) if s.get("name") == "web4"]
save("status.json", json.dumps(st, indent=1))
def find_conns(obj):
    if isinstance(obj, dict):
        if "conns_total" in obj:
            return obj["conns_total"]
        for v in obj.values():
            r = find_conns(v)
            if r is not None:
                return r
    if isinstance(obj, list):
        for v in obj:
            r = find_conns(v)
            if r is not None:
                return r
    return None
check("l4lbd's netlink dump sees the same counter", find_conns(web4) == 30,
      json.dumps(web4)[:2000])
d.kill()
finish()
'''


@unittest.skipIf(lab.available(), lab.available())
class IpvsProgram(unittest.TestCase):
    def test_table_and_traffic(self):
        script = GUEST.replace("__CONFIG__", repr(CONFIG)).replace("__EXPECTED__", repr(EXPECTED))
        with lab.Lab("ipvs-prog") as l:
            r = l.run(script, timeout=400)
            print(r.stdout)
            r.check()


if __name__ == "__main__":
    testmain.main()
