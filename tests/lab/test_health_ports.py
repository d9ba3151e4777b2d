#!/usr/bin/env python3
"""Every port is checked, in real IPVS (issue 13 section 1; one UML boot).

A three-port service (VIP 10.0.100.1, ports 8001-8003, NAT) over three backends, each answering
on every port; TCP checks run per service x port x backend. Then backend b2 stops answering on
8002 only:
  - exactly that destination (10.1.0.12:8002 under 10.0.100.1:8002) leaves `ipvsadm -Ln`; every
    other port keeps all three backends;
  - status says down for b2 on 8002 and up elsewhere;
  - real traffic to each port still answers (8002 from b1 and b3 only);
  - a SIGKILLed l4lbd restarts without a single IPVS operation (adoption per port);
  - b2:8002 answers again and comes back.
"""
import unittest

import lab
import testmain

BODY = """
services:
  - name: multi
    vip: 10.0.100.1
    ports: [8001, 8002, 8003]
    scheduler: rr
    forward: nat
    on_failure: remove
    quorum: 3
    health: {type: tcp, interval: 300ms, timeout: 200ms, rise: 1, fall: 2}
    backends: [10.1.0.11, 10.1.0.12, 10.1.0.13]
"""

GUEST = r'''
import json
import re
from lab import check, finish, sh, Guest, save, wait_for, ipvsadm_table

BODY = __BODY__
VIP, PORTS = "10.0.100.1", (8001, 8002, 8003)
ADDR = {"b1": "10.1.0.11", "b2": "10.1.0.12", "b3": "10.1.0.13"}

def table():
    """{vip port: {backend address:port}} from ipvsadm -Ln."""
    out = {}
    current = None
    for line in sh("ipvsadm -Ln").splitlines():
        f = line.split()
        if len(f) >= 2 and f[0] == "TCP":
            current = out.setdefault(int(f[1].rsplit(":", 1)[1]), set())
        elif len(f) >= 2 and f[0] == "->" and current is not None and f[1] != "RemoteAddress:Port":
            current.add(f[1])
    return out

def full(exclude=()):
    return {p: {f"{a}:{p}" for n, a in ADDR.items() if (n, p) not in exclude} for p in PORTS}

def health(st):
    return {(s["port"], b["address"]): b["health"] for s in st["services"] for b in s["backends"]}

g = Guest(clients=1, backends=3).setup()
g.add_vip(VIP)
echo = {(b, p): g.start_echo(b, p, "tcp") for b in g.backends for p in PORTS}

d = g.daemon("ports", BODY, log_level="debug")
d.start()
check("all 9 destinations programmed", wait_for(lambda: table() == full(), 30, 0.2),
      ipvsadm_table())
st = d.wait_status()
check("9 checks, one per port x backend",
      sorted((c["port"], c["backend"]) for c in st["health"]) ==
      sorted((p, a) for p in PORTS for a in ADDR.values()), json.dumps(st["health"]))

for p in PORTS:
    seen = g.count("c1", VIP, p, 30)
    check(f"before: port {p} answered by all three", set(seen) == {"b1", "b2", "b3"}, seen)

# b2 stops answering on 8002 only.
echo[("b2", 8002)].kill()
echo[("b2", 8002)].wait()
check("b2:8002 leaves the 8002 virtual service",
      wait_for(lambda: table() == full(exclude={("b2", 8002)}), 30, 0.1), ipvsadm_table())
t = ipvsadm_table()
save("table-port-down.txt", t)
check("exactly one destination gone, every other port keeps all backends",
      table() == full(exclude={("b2", 8002)}), t)
st = d.wait_status()
h = health(st)
check("status: b2 down on 8002 only",
      h == {(p, a): ("down" if (p, a) == (8002, "10.1.0.12") else "up")
            for p in PORTS for a in ADDR.values()}, h)
svc = {s["port"]: s for s in st["services"]}
check("healthy per port 3/2/3, service below quorum 3",
      [svc[p]["healthy"] for p in PORTS] == [3, 2, 3] and
      not any(svc[p]["quorum_met"] for p in PORTS), json.dumps([svc[p]["healthy"] for p in PORTS]))
for p in PORTS:
    seen = g.count("c1", VIP, p, 30)
    want = {"b1", "b3"} if p == 8002 else {"b1", "b2", "b3"}
    check(f"after: port {p} answered by {sorted(want)}, no errors", set(seen) == want, seen)
check("log names the port",
      re.search(r"health service=multi port=8002 backend=10\.1\.0\.12:8002 \w+ -> down", d.log())
      is not None, d.log()[-3000:])

# Restart adoption is per port too: nothing to do after a SIGKILL.
d.kill()
d.start()
st = d.wait_status()
wait_for(lambda: all(c["checks"] > 0 for c in (d.status() or st)["health"]), 10, 0.2)
st = d.wait_status()
check("restart: zero IPVS operations", st["ipvs"]["operations_total"] == 0,
      json.dumps(st["ipvs"]))
check("restart: table unchanged", table() == full(exclude={("b2", 8002)}), ipvsadm_table())

# b2:8002 answers again.
echo[("b2", 8002)] = g.start_echo("b2", 8002, "tcp")
check("b2:8002 is back", wait_for(lambda: table() == full(), 30, 0.1), ipvsadm_table())
seen = g.count("c1", VIP, 8002, 30)
check("8002 answered by all three again", set(seen) == {"b1", "b2", "b3"}, seen)
save("l4lbd.log", d.log())
finish()
'''


@unittest.skipIf(lab.available(), lab.available())
class HealthPorts(unittest.TestCase):
    def test_one_dead_port(self):
        with lab.Lab("health-ports") as l:
            r = l.run(GUEST.replace("__BODY__", repr(BODY)), timeout=600)
            print(r.stdout)
            r.check()


if __name__ == "__main__":
    testmain.main()
