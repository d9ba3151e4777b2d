#!/usr/bin/env python3
"""Restart adoption in real IPVS (one UML boot): with a long-lived TCP connection open
through the VIP, l4lbd is killed with SIGKILL and started again. The connection keeps
working, the restarted daemon issues no operation at all (and, after a config change made
while it was down, exactly the one needed), and services created by hand with ipvsadm —
one of them on an address:port the config also wants — are reported, never touched."""
import unittest

import lab
import testmain

BASE = """
services:
  - name: web
    vip: 10.0.100.1
    port: 80
    scheduler: rr
    health: {type: none}
    backends:
      - {address: 10.1.0.11, port: 8080}
      - {address: 10.1.0.12, port: 8080}
  - name: clash
    vip: 10.0.100.1
    port: 81
    scheduler: rr
    health: {type: none}
    backends:
      - {address: 10.1.0.11, port: 8080}
"""
EXTRA = """
  - name: extra
    vip: 10.0.100.1
    port: 82
    scheduler: wlc
    health: {type: none}
    backends:
      - {address: 10.1.0.11, port: 8080}
"""

GUEST = r'''
import json, os
from lab import check, finish, sh, Guest, save, wait_for, ipvsadm_table

BASE, EXTRA = __BASE__, __EXTRA__

g = Guest(clients=1, backends=3).setup()
g.add_vip("10.0.100.1")
for b in g.backends:
    g.start_echo(b, 8080, "tcp")
# Someone else's services: one unrelated, one on an address:port our config wants.
sh("ipvsadm -A -t 10.0.100.9:80 -s wlc && ipvsadm -a -t 10.0.100.9:80 -r 10.1.0.13:8080 -m")
sh("ipvsadm -A -t 10.0.100.1:81 -s sh && ipvsadm -a -t 10.0.100.1:81 -r 10.1.0.13:8080 -m -w 7")
foreign = lambda t: [l for l in t.splitlines() if "10.0.100.9:80" in l or "10.0.100.1:81" in l
                     or "10.1.0.13" in l]
before_foreign = foreign(ipvsadm_table())

d = g.daemon("restart", BASE + EXTRA)
d.start()
wait_for(lambda: "10.0.100.1:82" in sh("ipvsadm -Ln"), 30, 0.2)
st = d.wait_status()
check("first start: 2 services + 3 destinations", st["ipvs"]["operations_total"] == 5,
      json.dumps(st["ipvs"]))
check("the hand-made service on a wanted address is a conflict",
      any("10.0.100.1:81" in c for c in st["ipvs"]["conflicts"]), json.dumps(st["ipvs"]))
owned = json.load(open(f"{d.dir}/state/ipvs-owned.json"))
save("owned-1.json", json.dumps(owned, indent=1))
check("ownership record lists exactly ours",
      sorted(s["port"] for s in owned["services"]) == [80, 82], owned)

conn = g.connect("c1", "10.0.100.1", 80)
first = conn.backend
table1 = ipvsadm_table()
save("table-1.txt", table1)

d.kill()  # SIGKILL: no cleanup of any kind
check("connection survives the kill", conn.ask("after-kill") == first)
d.start()
st = d.wait_status()
check("restart adopts: zero operations", st["ipvs"]["operations_total"] == 0,
      json.dumps(st["ipvs"]))
check("table unchanged by the restart", ipvsadm_table() == table1,
      ipvsadm_table() + "\nwas\n" + table1)
check("connection survives the restart", conn.ask("after-restart") == first)

# Config change while down: the extra service goes; exactly one operation.
d.kill()
d.write_config(BASE)
d.start()
st = d.wait_status()
check("stale owned service removed with exactly one operation",
      st["ipvs"]["operations_total"] == 1, json.dumps(st["ipvs"]))
t = ipvsadm_table()
check("port 82 gone, port 80 kept", "10.0.100.1:82" not in t and "10.0.100.1:80" in t, t)
check("hand-made services untouched throughout", foreign(t) == before_foreign,
      f"{foreign(t)} vs {before_foreign}")
check("connection survives the second restart", conn.ask("after-change") == first)
conn.close()

d.kill(15)  # SIGTERM: services stay for the next start (remove_services_on_exit: false)
check("SIGTERM leaves the services in place", "10.0.100.1:80" in ipvsadm_table())
save("l4lbd.log", d.log())
finish()
'''


@unittest.skipIf(lab.available(), lab.available())
class IpvsRestart(unittest.TestCase):
    def test_adoption(self):
        script = GUEST.replace("__BASE__", repr(BASE)).replace("__EXTRA__", repr(EXTRA))
        with lab.Lab("ipvs-restart") as l:
            r = l.run(script, timeout=300)
            print(r.stdout)
            r.check()


if __name__ == "__main__":
    testmain.main()
