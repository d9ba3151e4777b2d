#!/usr/bin/env python3
"""Kernel refusals in real IPVS (one UML boot without the ip_vs_mh module): an unknown
scheduler and destinations the kernel refuses (broadcast, IPv6 link-local) each get a
clear error naming the exact operation, and the rest of the batch is applied. Also: no
CAP_NET_ADMIN, and (on a host without IPVS) a missing module, are reported once, clearly."""
import os
import subprocess
import unittest

import lab
import testmain

CONFIG = """
services:
  - name: good
    vip: {vip4}
    port: 80
    scheduler: rr
    health: {{type: none}}
    backends:
      - {{address: 10.1.0.11, port: 8080}}
      - {{address: 255.255.255.255, port: 8080}}
      - {{address: 10.1.0.12, port: 8080}}
  - name: nomodule
    vip: {vip4}
    port: 81
    scheduler: mh
    health: {{type: none}}
    backends:
      - {{address: 10.1.0.11, port: 8080}}
  - name: good6
    vip: "{vip6}"
    port: 80
    scheduler: wlc
    health: {{type: none}}
    backends:
      - {{address: "fe80::1", port: 8080}}
      - {{address: "fd00:b::11", port: 8080}}
"""

GUEST = r'''
import json, os, subprocess
from lab import check, finish, sh, Guest, save, wait_for, ipvsadm_table, apply_configs, write, BUILD_DIR

CONFIG = __CONFIG__

g = Guest(clients=1, backends=2).setup()
for v in ("10.0.100.1", "fd00:100::1", "10.0.100.5", "fd00:100::5"):
    g.add_vip(v)
for b in g.backends:
    g.start_echo(b, 8080, "tcp")

# 1. The driver: per-operation results.
os.makedirs("/run/drv", exist_ok=True)
cfg = write("/run/drv/c.yaml", CONFIG.format(vip4="10.0.100.5", vip6="fd00:100::5"))
rc, lines = apply_configs("/run/drv/state", cfg)
save("driver.json", "\n".join(json.dumps(l) for l in lines))
res = lines[-1]
failed = {f["operation"]: (f["errno"], f["message"]) for f in res.get("failed", [])}
print(json.dumps(res, indent=1))
check("driver: three operations failed", len(failed) == 3, failed)
mh = [v for k, v in failed.items() if k.startswith("add-service tcp 10.0.100.5:81 mh")]
check("unknown scheduler: ENOENT with a clear message",
      mh == [(2, "scheduler 'mh' not available in the kernel (module ip_vs_mh not loaded?)")], failed)
bc = [v for k, v in failed.items() if "255.255.255.255:8080" in k and k.startswith("add-dest")]
check("broadcast destination refused: EINVAL, named", len(bc) == 1 and bc[0][0] == 22, failed)
ll = [v for k, v in failed.items() if "[fe80::1]:8080" in k and k.startswith("add-dest")]
check("link-local destination refused: EINVAL, named", len(ll) == 1 and ll[0][0] == 22, failed)
check("the refused service's destinations are skipped, not sent",
      len(res.get("skipped", [])) == 1 and "10.0.100.5:81" in res["skipped"][0], res.get("skipped"))
check("the rest applied: 2 services + 3 destinations", res.get("applied") == 5, res)
t = ipvsadm_table()
check("kernel holds the rest",
      "10.0.100.5:80" in t and "10.1.0.11:8080" in t and "10.1.0.12:8080" in t and
      "[fd00:100::5]:80" in t and "[fd00:b::11]:8080" in t and "10.0.100.5:81" not in t, t)

# 2. l4lbd: same refusals logged and counted; traffic flows through what was applied.
d = g.daemon("errors", CONFIG.format(vip4="10.0.100.1", vip6="fd00:100::1"))
d.start()
wait_for(lambda: "[fd00:100::1]:80" in sh("ipvsadm -Ln"), 30, 0.2)
st = d.wait_status()
save("status.json", json.dumps(st, indent=1))
# Three operations are refused at start; a refused operation is retried with backoff (0.5 s,
# 1 s, ...: daemon/ipvs_repair), and each retry the kernel refuses again is counted too, so
# the count is a multiple of three by the time status is read, and the retries are recorded.
errors = st["ipvs"]["operation_errors_total"]
check("l4lbd counts the three refused operations (and their retries)",
      errors >= 3 and errors % 3 == 0, json.dumps(st["ipvs"]))
log = d.log()
check("l4lbd logs the scheduler error clearly",
      "scheduler 'mh' not available in the kernel (module ip_vs_mh not loaded?)" in log, log[-3000:])
check("l4lbd logs the refused destination", "255.255.255.255:8080" in log and "refused" in log,
      log[-3000:])
counts = g.count("c1", "10.0.100.1", 80, 10)
check("traffic flows through the applied part", counts == {"b1": 5, "b2": 5}, counts)

# 3. Without CAP_NET_ADMIN (an unprivileged user namespace): one clear error.
p = subprocess.run(["unshare", "-U", "--", str(BUILD_DIR / "tests/unit/ipvs/ipvs_apply"),
                    "--state-dir", "/run/drv/unpriv", cfg], capture_output=True, text=True)
print(p.stdout, p.stderr)
check("no CAP_NET_ADMIN is reported as such",
      p.returncode == 3 and "IPVS is not available: no CAP_NET_ADMIN" in p.stdout, p.stdout + p.stderr)
d.kill(15)
finish()
'''


class IpvsUnavailable(unittest.TestCase):
    @unittest.skipIf(os.path.exists("/proc/net/ip_vs"), "this host has IPVS")
    def test_missing_module_on_the_host(self):
        driver = lab.BUILD_DIR / "tests/unit/ipvs/ipvs_apply"
        if not driver.exists():
            self.skipTest(f"{driver} not built")
        p = subprocess.run([str(driver), "--state-dir", "/nonexistent/never-written"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 3, p.stdout + p.stderr)
        self.assertIn("IPVS is not available: module ip_vs not loaded", p.stdout)


@unittest.skipIf(lab.available(), lab.available())
class IpvsErrors(unittest.TestCase):
    def test_refusals(self):
        script = GUEST.replace("__CONFIG__", repr(CONFIG))
        with lab.Lab("ipvs-errors") as l:
            r = l.run(script, timeout=300, exclude=("ip_vs_mh",))
            print(r.stdout)
            r.check()


if __name__ == "__main__":
    testmain.main()
