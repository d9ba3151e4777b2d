#!/usr/bin/env python3
"""Kernel drift repair in real IPVS (one boot). With l4lbd running and owning two services, and
someone else's service created with ipvsadm next to them, an operator changes the kernel
behind l4lbd's back: `ipvsadm -d` (a destination), `-e` (a weight), `-E` (a scheduler),
`-a` (an extra destination), `-C` (everything). After each, within a few reconcile intervals,
the kernel holds exactly the config's table again, the drift counters (status and /metrics
source) went up by the right kind, and the foreign service is exactly as it was; after
`ipvsadm -C` the foreign one is re-added by hand and l4lbd leaves it alone from then on.

Then the IPVS socket's ENOBUFS: l4lbd restarted with a tiny receive buffer on its IPVS socket
(--ipvs-rcvbuf, testing only) and the periodic check off; the table is flushed and a reload
changes every weight, so l4lbd's stale model produces a batch of operations the kernel
refuses, whose error answers overflow the buffer. l4lbd counts the ENOBUFS, re-reads the
kernel (checked resync) and converges to the new config."""
import unittest

import lab
import testmain


GUEST = r'''
import json, re, time
from lab import check, finish, sh, Guest, save, wait_for, ipvsadm_services

def config(interval, weight=1, services=2):
    """web (tcp :80, rr, weights `weight` and 2*weight) and dns (udp :53, wlc), plus
    services - 2 more tcp services on ports 2000.. (for a big enough batch)."""
    lines = ["ipvs: {reconcile_interval: %s}" % interval, "services:",
             "  - {name: web, vip: 10.0.100.1, port: 80, scheduler: rr, health: {type: none},",
             "     backends: [{address: 10.1.0.11, port: 8080, weight: %d}," % weight,
             "                {address: 10.1.0.12, port: 8080, weight: %d}]}" % (2 * weight),
             "  - {name: dns, vip: 10.0.100.1, port: 53, protocol: udp, scheduler: wlc,",
             "     health: {type: none}, backends: [{address: 10.1.0.11, port: 5353}]}"]
    table = {("TCP", "10.0.100.1:80"): ("rr", {"10.1.0.11:8080": weight,
                                               "10.1.0.12:8080": 2 * weight}),
             ("UDP", "10.0.100.1:53"): ("wlc", {"10.1.0.11:5353": 1})}
    for i in range(services - 2):
        p = 2000 + i
        lines.append("  - {name: s%d, vip: 10.0.100.1, port: %d, scheduler: rr, "
                     "health: {type: none}, backends: [%s]}" % (p, p, ", ".join(
                         "{address: 10.1.0.%d, port: 8080, weight: %d}" % (b, weight)
                         for b in (11, 12, 13))))
        table[("TCP", f"10.0.100.1:{p}")] = ("rr", {f"10.1.0.{b}:8080": weight
                                                    for b in (11, 12, 13)})
    return "\n".join(lines) + "\n", table

def kernel_table(vip):
    return ipvsadm_services(vip)

ours = lambda: kernel_table("10.0.100.1")
foreign = lambda: kernel_table("10.0.100.9")
FOREIGN = {("TCP", "10.0.100.9:80"): ("wlc", {"10.1.0.13:8080": 3})}
add_foreign = ("ipvsadm -A -t 10.0.100.9:80 -s wlc && "
               "ipvsadm -a -t 10.0.100.9:80 -r 10.1.0.13:8080 -m -w 3")

g = Guest(clients=1, backends=3).setup()
g.add_vip("10.0.100.1")
sh(add_foreign)
check("the foreign service is there", foreign() == FOREIGN, foreign())

body, want = config("1s")
d = g.daemon("drift", body)
d.start()
if not wait_for(lambda: ours() == want, 60, 0.2):
    check("first start programs the config", False, f"{ours()}\n{d.log()[-3000:]}")
    finish()

def repair(name, cmd, kind):
    before = d.wait_status()["ipvs"]["repair"]
    sh(cmd)
    t0 = time.monotonic()
    back = wait_for(lambda: ours() == want, 30, 0.1)
    took = time.monotonic() - t0
    after = d.wait_status()["ipvs"]["repair"]
    check(f"{name}: the table is the config's again ({took:.1f}s)", back,
          f"{ours()} vs {want}\n{d.log()[-2000:]}")
    check(f"{name}: counted as {kind}",
          after["drift_total"][kind] > before["drift_total"][kind]
          and after["repairs_total"] > before["repairs_total"], json.dumps(after))
    return after

repair("ipvsadm -d", "ipvsadm -d -t 10.0.100.1:80 -r 10.1.0.11:8080", "missing_destination")
check("foreign service untouched after -d", foreign() == FOREIGN, foreign())
repair("ipvsadm -e", "ipvsadm -e -t 10.0.100.1:80 -r 10.1.0.12:8080 -m -w 9",
       "destination_settings")
repair("ipvsadm -E", "ipvsadm -E -u 10.0.100.1:53 -s rr", "service_settings")
repair("ipvsadm -a", "ipvsadm -a -t 10.0.100.1:80 -r 10.1.0.13:8080 -m", "extra_destination")
check("foreign service untouched after -e, -E, -a", foreign() == FOREIGN, foreign())
# The foreign service itself may be edited by its owner: l4lbd must not put it back.
sh("ipvsadm -e -t 10.0.100.9:80 -r 10.1.0.13:8080 -m -w 4")
time.sleep(3)
check("an edit of the foreign service is left alone",
      foreign() == {("TCP", "10.0.100.9:80"): ("wlc", {"10.1.0.13:8080": 4})}, foreign())
st = repair("ipvsadm -C", "ipvsadm -C", "missing_service")
check("ipvsadm -C: the foreign service is gone (flushed), not re-created by l4lbd",
      foreign() == {}, foreign())
sh(add_foreign)
time.sleep(4)  # several reconcile intervals
check("the re-added foreign service is left alone", foreign() == FOREIGN, foreign())
check("and ours stay as configured", ours() == want, ours())
st = d.wait_status()
save("status-drift.json", json.dumps(st["ipvs"], indent=1))
rep = st["ipvs"]["repair"]
print("ipvs.repair after the drift rounds:", json.dumps(rep), flush=True)
check("drift checks ran every interval", rep["runs_total"] >= 5, json.dumps(rep))
check("no check errors", rep["errors_total"] == 0, json.dumps(rep))
check("no conflicts", st["ipvs"]["conflicts"] == [], json.dumps(st["ipvs"]))

# ENOBUFS on the IPVS socket: tiny receive buffer, periodic check off.
d.kill()
body, want = config("0", weight=1, services=40)
d.write_config(body)
d.args = ["--ipvs-rcvbuf", "1"]
d.start()
if not wait_for(lambda: ours() == want, 120, 0.2):
    check("tiny buffer: start programs the config", False, f"{d.log()[-3000:]}")
    finish()
st = d.wait_status()
check("tiny buffer: the periodic check is off", st["ipvs"]["repair"]["reconcile_interval_ms"] == 0,
      json.dumps(st["ipvs"]["repair"]))
sh("ipvsadm -C")
sh(add_foreign)
body2, want2 = config("0", weight=2, services=40)
d.write_config(body2)
d.reload()
converged = wait_for(lambda: ours() == want2, 120, 0.2)
st = d.wait_status()
rep = st["ipvs"]["repair"]
save("status-nobufs.json", json.dumps(st["ipvs"], indent=1))
print("ipvs.repair after the ENOBUFS round:", json.dumps(rep), flush=True)
print("ipvs operations:", st["ipvs"]["operations_total"], "errors:",
      st["ipvs"]["operation_errors_total"], flush=True)
check("ENOBUFS: counted", rep["nobufs_total"] >= 1, json.dumps(rep))
check("ENOBUFS: a checked resync followed", rep["resyncs_total"] >= 1, json.dumps(rep))
check("ENOBUFS: the table converged to the new config", converged,
      f"{ours()}\n{d.log()[-3000:]}")
check("ENOBUFS: the foreign service untouched", foreign() == FOREIGN, foreign())
check("ENOBUFS: no periodic check ran", rep["runs_total"] == rep["resyncs_total"],
      json.dumps(rep))
d.kill()
save("l4lbd.log", d.log()[-30000:])
finish()
'''


@unittest.skipIf(lab.available(), lab.available())
class IpvsDrift(unittest.TestCase):
    def test_drift_repair_and_nobufs(self):
        script = GUEST
        with lab.Lab("ipvs-drift") as l:
            r = l.run(script, timeout=600)
            print(r.stdout)
            r.check()


if __name__ == "__main__":
    testmain.main()
