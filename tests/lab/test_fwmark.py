#!/usr/bin/env python3
"""fwmark services (`fwmark:`) against real IPVS (one boot). A 2,768-port range
(30000-32767, the Kubernetes NodePort range) over TCP and over UDP is ONE IPVS fwmark service
each plus one mark rule each in l4lbd's nftables table (`ipvsadm -Ln` shows FWM services and
no per-port ones). Traffic to ports across the range reaches both backends (rr) and keeps its
port; a port outside the range gets nothing (it is not marked, so the test can fail);
persistence spans the range (a client sticks to one backend on every port); a reload that
shrinks the range changes only the mark rule (zero IPVS operations) and the dropped port stops
answering. Last, the cost: the same two ranges programmed per port (5,536 services) and as
fwmark services, timed with the test driver tests/lab/ipvs_apply.cpp (--nft), with the kernel
objects counted."""
import unittest

import lab
import testmain

NFT_MODULES = ["nf_tables", "nft_ct", "nft_nat", "nft_masq", "nft_chain_nat"]
SAMPLE = [30000, 31234, 32767]  # ports with echo servers on the backends


def config(last=32767):
    b = "[10.1.0.11, 10.1.0.12]"
    return f"""
services:
  - {{name: np-tcp, vip: 10.0.100.1, ports: [30000-{last}], scheduler: rr, fwmark: true,
     health: {{type: none}}, backends: {b}}}
  - {{name: np-udp, vip: 10.0.100.1, ports: [30000-32767], protocol: udp, scheduler: rr,
     fwmark: true, health: {{type: none}}, backends: {b}}}
  - {{name: np-sticky, vip: 10.0.100.2, ports: [30000-32767], scheduler: rr, fwmark: true,
     persistence: 60s, health: {{type: none}}, backends: {b}}}
"""


GUEST = r'''
import json, subprocess, time
import lab
from lab import check, finish, sh, Guest, save, wait_for, ipvsadm_table, BUILD_DIR, write

config = __CONFIG_FN__
SAMPLE = __SAMPLE__

def ctl(d, *args):
    return subprocess.run([str(BUILD_DIR / "src/ctl/l4lbctl"), "-s", d.sock, *args],
                          capture_output=True, text=True, timeout=60)

def table():
    r = subprocess.run(["nft", "list", "table", "inet", "l4lb"], capture_output=True, text=True)
    return r.stdout if r.returncode == 0 else ""

def kernel_objects():
    services = dests = 0
    for line in ipvsadm_table().splitlines():
        w = line.split()
        if w and w[0] in ("TCP", "UDP", "FWM"):
            services += 1
        elif w and w[0] == "->" and w[1][0].isdigit():
            dests += 1
    rules = sum(1 for l in table().splitlines() if "meta mark set" in l or "masquerade" in l)
    return {"ipvs_services": services, "ipvs_destinations": dests, "nft_rules": rules}

g = Guest(clients=1, backends=2).setup()
g.add_vip("10.0.100.1")
g.add_vip("10.0.100.2")
for b in g.backends:
    for p in SAMPLE:
        g.start_echo(b, p, "tcp")
        g.start_echo(b, p, "udp")
    g.start_echo(b, 29999, "tcp")

d = g.daemon("fwm", config())
d.start()
d.wait_status()
check("three FWM services with two destinations each",
      wait_for(lambda: ipvsadm_table().count("FWM") == 3 and ipvsadm_table().count("Masq") == 6,
               30, 0.2), ipvsadm_table())
save("ipvsadm-start.txt", ipvsadm_table())
save("table-start.txt", table())
objs = kernel_objects()
check("no per-port IPVS services, three mark rules",
      objs == {"ipvs_services": 3, "ipvs_destinations": 6, "nft_rules": 3}, objs)
t = table()
check("the mark rules cover the range",
      "ip daddr 10.0.100.1 tcp dport 30000-32767 meta mark set 0x4c" in t and
      "ip daddr 10.0.100.1 udp dport 30000-32767 meta mark set 0x4c" in t, t)

results = {}
for p in SAMPLE:
    results[f"tcp/{p}"] = g.count("c1", "10.0.100.1", p, 4)
    results[f"udp/{p}"] = g.count("c1", "10.0.100.1", p, 4, proto="udp")
results["tcp/29999"] = g.count("c1", "10.0.100.1", 29999, 2, timeout=1.5)
save("traffic-start.json", json.dumps(results, indent=1))
print(results, flush=True)
for p in SAMPLE:
    for proto in ("tcp", "udp"):
        r = results[f"{proto}/{p}"]
        check(f"{proto} port {p}: both backends answer (rr over one fwmark service)",
              r == {"b1": 2, "b2": 2}, r)
check("port 29999 (outside the range, not marked) is not balanced",
      "b1" not in results["tcp/29999"] and "b2" not in results["tcp/29999"], results["tcp/29999"])

# Persistence spans the range: whatever backend the first connection got, every port follows.
sticky = {p: g.count("c1", "10.0.100.2", p, 3) for p in SAMPLE}
save("traffic-sticky.json", json.dumps(sticky, indent=1))
names = {k for r in sticky.values() for k in r}
check("persistence spans the range: one backend for all ports",
      len(names) == 1 and names <= {"b1", "b2"} and all(sum(r.values()) == 3 for r in sticky.values()),
      sticky)

# Reload: shrink the TCP range. IPVS is untouched (same mark), only the rule changes.
ops_before = d.status(timeout=60)["ipvs"]["operations_total"]
t0 = time.monotonic()
d.write_config(config(last=31999))
r = ctl(d, "reload")
reload_s = time.monotonic() - t0
check("reload shrinking the range succeeds", r.returncode == 0, r.stdout + r.stderr)
check("IPVS untouched by the range change (0 operations)",
      d.status(timeout=60)["ipvs"]["operations_total"] == ops_before,
      ops_before)
check("the mark rule now ends at 31999", "tcp dport 30000-31999 meta mark set" in table(), table())
after = {"tcp/31234": g.count("c1", "10.0.100.1", 31234, 4),
         "tcp/32767": g.count("c1", "10.0.100.1", 32767, 2, timeout=1.5)}
save("traffic-reload.json", json.dumps(after, indent=1))
check("31234 still balanced after the reload", after["tcp/31234"] == {"b1": 2, "b2": 2}, after)
check("32767 no longer balanced after the reload",
      "b1" not in after["tcp/32767"] and "b2" not in after["tcp/32767"], after)
d.write_config(config().replace("fwmark: true", "fwmark: false").replace("30000-32767", "30000-30999"))
check("turning fwmark off (per-port services) is a valid reload", ctl(d, "reload").returncode == 0)
check("per-port services replace the FWM ones",
      wait_for(lambda: "FWM" not in ipvsadm_table() and ipvsadm_table().count("TCP") == 2000, 60, 0.5),
      ipvsadm_table()[:500])
check("no mark rules left", "meta mark set" not in table(), table())
d.write_config("services: []\n")
check("reload to no services", ctl(d, "reload").returncode == 0)
d.kill(lab.signal.SIGTERM)
sh("ipvsadm -C")

# The cost, per port vs fwmark: each form applied to an empty kernel and removed again.
per_port = """services:
  - {name: np-tcp, vip: 10.0.100.1, ports: [30000-30999, 31000-31999, 32000-32767],
     scheduler: rr, health: {type: none}, backends: [10.1.0.11, 10.1.0.12]}
  - {name: np-udp, vip: 10.0.100.1, ports: [30000-30999, 31000-31999, 32000-32767],
     protocol: udp, scheduler: rr, health: {type: none}, backends: [10.1.0.11, 10.1.0.12]}
"""
fwmark = per_port.replace("scheduler: rr,", "scheduler: rr, fwmark: true,")
empty = "services: []\n"
bench = {}
for form, text in (("per_port", per_port), ("fwmark", fwmark)):
    state = f"/run/bench-{form}"
    sh(f"mkdir -p {state}")
    files = [write(f"/run/bench-{form}.yaml", text), write(f"/run/bench-{form}-empty.yaml", empty)]
    t0 = time.monotonic()
    p = subprocess.run([str(BUILD_DIR / "tests/unit/ipvs/ipvs_apply"), "--state-dir", state, "--nft",
                        files[0]], capture_output=True, text=True, timeout=1800)
    wall = time.monotonic() - t0
    lines = [json.loads(x) for x in p.stdout.splitlines() if x.startswith("{")]
    objs = kernel_objects()
    p2 = subprocess.run([str(BUILD_DIR / "tests/unit/ipvs/ipvs_apply"), "--state-dir", state, "--nft",
                         files[1]], capture_output=True, text=True, timeout=1800)
    lines2 = [json.loads(x) for x in p2.stdout.splitlines() if x.startswith("{")]
    apply = [l for l in lines if l.get("step") == "apply"]
    remove = [l for l in lines2 if l.get("step") == "apply"]
    bench[form] = {"rc": p.returncode, "objects": objs, "apply": apply, "remove": remove,
                   "wall_seconds": wall, "stderr": p.stderr[-500:]}
    print(form, json.dumps(bench[form]), flush=True)
    check(f"{form}: driver applied it", p.returncode == 0 and p2.returncode == 0 and apply,
          p.stdout[-1000:] + p.stderr[-1000:] + p2.stdout[-500:])
save("bench.json", json.dumps(bench, indent=1))
check("per port: 5,536 services; fwmark: 2 services and 2 rules",
      bench["per_port"]["objects"]["ipvs_services"] == 5536 and
      bench["fwmark"]["objects"] == {"ipvs_services": 2, "ipvs_destinations": 4, "nft_rules": 2},
      {k: v["objects"] for k, v in bench.items()})
finish()
'''


@unittest.skipIf(lab.available(), lab.available())
class FwmarkInLab(unittest.TestCase):
    def test_fwmark_ranges(self):
        import inspect
        script = (GUEST.replace("__CONFIG_FN__", "None\n" + inspect.getsource(config))
                  .replace("__SAMPLE__", repr(SAMPLE)))
        with lab.Lab("fwmark") as l:
            r = l.run(script, timeout=900, modules=NFT_MODULES)
            print(r.stdout)
            if r.rc != 0:
                print(r.report())
            print("--- bench.json\n" + r.files.get("bench.json", ""))
            r.check()


if __name__ == "__main__":
    testmain.main()
