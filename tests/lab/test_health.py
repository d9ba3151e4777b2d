#!/usr/bin/env python3
"""Health checks driving IPVS and VRRP in the kernel lab (issue 5), one UML boot.

The HA pair of tests/lab/e2e.py (client, lb-a, lb-b, backends ipa1..ipa3) with a config of
its own: service `web` (VIP:80, on_failure remove, quorum 2) and `ldap` (VIP:389,
on_failure drain, weight 2), TCP checks every second with rise 3 and fall 2; both VRRP
instances (front VIP, backends' gateway VIP) track `web` with weight -60 and preempt.

Steps, each observed from lb-a's `l4lbctl status` (sampled) and `ipvsadm -Ln`:
  kill    ipa2 stops while a client sends requests: after exactly `fall` failed checks it
          leaves `web` in the kernel and goes to weight 0 in `ldap`; clients stop reaching it.
  return  ipa2 restarts: after exactly `rise` good checks it is back with its weights.
  quorum  lb-a alone loses ipa2 and ipa3 (unreachable routes in lb-a only, as when its
          backend link half fails): `web` is below quorum there, lb-a's priority drops by 60
          and lb-b (which still sees every backend) takes the VIPs; clients are still served.
  regain  the routes return: quorum is back on lb-a, its priority is restored and it takes
          the VIPs back (preempt).
"""
import json
import os
import subprocess
import sys
import threading
import time
import traceback
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e  # noqa: E402
import lab  # noqa: E402
import testmain  # noqa: E402

RISE, FALL, INTERVAL = 3, 2, "1s"
WEIGHT_LDAP = 2
GUEST = r'''
import os, sys
sys.path.insert(0, os.path.join(os.environ["L4LB_SOURCE_DIR"], "tests/lab"))
import test_health
test_health.guest_main()
'''


def lb_config(node):
    f4, _, b4, _, prio = e2e.LB_NODES[node]
    peer = [e2e.LB_NODES[n] for n in e2e.LB_NODES if n != node][0]
    vrrp = ""
    for name, ifname, vrid, src, dst, vip in (
            ("front-v4", "eth0", 35, f4, peer[0], f"{e2e.VIP4}/24"),
            ("gateway-v4", "eth1", 67, b4, peer[2], f"{e2e.GW4}/24")):
        vrrp += f"""  - name: {name}
    interface: {ifname}
    vrid: {vrid}
    priority: {prio}
    advert_interval: 100ms
    preempt: true
    unicast: {{source: "{src}", peers: ["{dst}"]}}
    vips: ["{vip}"]
    track: {{services: [{{service: web, weight: -60}}]}}
"""
    health = f"{{type: tcp, interval: {INTERVAL}, timeout: 500ms, rise: {RISE}, fall: {FALL}}}"
    backends = "".join(f'      - {{address: "{a[0]}"}}\n' for a in e2e.BACKENDS.values())
    ldap_backends = "".join(f'      - {{address: "{a[0]}", weight: {WEIGHT_LDAP}}}\n'
                            for a in e2e.BACKENDS.values())
    return f"""node_name: {node}
state_dir: {e2e.RUN}/{node}/state
control: {{socket: {e2e.RUN}/{node}/ctl.sock}}
vrrp:
{vrrp}services:
  - name: web
    vip: "{e2e.VIP4}"
    ports: [80]
    scheduler: rr
    forward: nat
    on_failure: remove
    quorum: 2
    health: {health}
    backends:
{backends}  - name: ldap
    vip: "{e2e.VIP4}"
    ports: [389]
    scheduler: rr
    forward: nat
    on_failure: drain
    quorum: 1
    health: {health}
    backends:
{ldap_backends}"""


class Scenario(e2e.Scenario):
    def write_config(self, node, **kw):
        os.makedirs(f"{e2e.RUN}/{node}", exist_ok=True)
        path = f"{e2e.RUN}/{node}/l4lb.yaml"
        with open(path, "w") as f:
            f.write(lb_config(node))
        return path

    def wait_states(self, node, state, timeout=20):
        return e2e.wait_for(lambda: set(self.states(node).values()) == {state} and
                            len(self.states(node)) == 2, timeout, f"{node} {state}", 0.05)

    def backend(self, node, service, addr):
        """(health, in_kernel, weight) of one backend in lb `node`'s status, and its check."""
        st = self.status(node) or {}
        row = next((b for s in st.get("services", []) if s["name"] == service
                    for b in s["backends"] if b["address"] == addr), None)
        chk = next((h for h in st.get("health", []) if h["service"] == service and
                    h["backend"] == addr), None)
        return row, chk, st

    def ask_many(self, n):
        """n requests to VIP:80 from the client, each on a new connection: answering names."""
        code = ("import sys; sys.path.insert(0, %r); import e2e_node, json\n"
                "names = []\n"
                "for _ in range(%d):\n"
                "    try: names.append(e2e_node.ask(%r, 80, 'tcp', 1.0))\n"
                "    except Exception as ex: names.append('error: %%s' %% ex)\n"
                "print(json.dumps(names))\n") % (os.path.dirname(self.me), n, e2e.VIP4)
        r = subprocess.run(["ip", "netns", "exec", "client", sys.executable, "-c", code],
                           capture_output=True, text=True, timeout=120)
        return json.loads(r.stdout.strip().splitlines()[-1])


TRAFFIC = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
import e2e_node
while True:
    t = time.monotonic()
    try:
        r = e2e_node.ask(sys.argv[2], 80, "tcp", 0.5)
    except Exception as ex:
        r = "error: %s" % ex
    print(json.dumps([t, r]), flush=True)
    time.sleep(0.05)
"""


def ipvs_table(text):
    """`ipvsadm -Ln` as {"TCP 10.232.35.199:80": {"192.168.67.11:80": weight}}."""
    table, current = {}, None
    for line in text.splitlines():
        f = line.split()
        if len(f) >= 2 and f[0] in ("TCP", "UDP"):
            current = table.setdefault(f"{f[0]} {f[1]}", {})
        elif len(f) >= 4 and f[0] == "->" and current is not None and f[1] != "RemoteAddress:Port":
            current[f[1]] = int(f[3])
    return table


WEB, LDAP = f"TCP {e2e.VIP4}:80", f"TCP {e2e.VIP4}:389"
ipa2_web = f"{e2e.BACKENDS['ipa2'][0]}:80"


class Sampler(threading.Thread):
    """Samples one backend's status on lb-a until stopped: what the kernel held at each
    moment against the check counters."""

    def __init__(self, sc, addr):
        super().__init__(daemon=True)
        self.sc, self.addr, self.samples, self.stop = sc, addr, [], threading.Event()

    def run(self):
        while not self.stop.is_set():
            web, chk, st = self.sc.backend("lb-a", "web", self.addr)
            ldap, _, _ = self.sc.backend("lb-a", "ldap", self.addr)
            if web and chk:
                self.samples.append({"t": time.monotonic(), "health": web["health"],
                                     "web_in_kernel": web["in_kernel"],
                                     "ldap_weight": ldap["weight"] if ldap else None,
                                     "ok": chk["consecutive_ok"], "fail": chk["consecutive_fail"],
                                     "checks": chk["checks"]})
            time.sleep(0.05)

    def finish(self):
        self.stop.set()
        self.join(10)
        return self.samples


def guest_main():
    out = os.environ["LAB_OUT"]
    sc = Scenario(os.environ["L4LB_SOURCE_DIR"], os.environ["L4LB_BUILD_DIR"], out)
    obs = {}
    ipa2, ipa3 = e2e.BACKENDS["ipa2"][0], e2e.BACKENDS["ipa3"][0]

    def record(key, value):
        obs[key] = value
        with open(os.path.join(out, "health.json"), "w") as f:
            json.dump(obs, f, indent=1)
        print(f"step {key} recorded", flush=True)

    def all_up():
        st = sc.status("lb-a") or {}
        rows = [b for s in st.get("services", []) for b in s["backends"]]
        return len(rows) == 6 and all(b["health"] == "up" and b["in_kernel"] for b in rows)

    try:
        sc.setup()
        for b in e2e.BACKENDS:
            sc.start_backend(b)
        sc.start_lb("lb-a")
        sc.wait_states("lb-a", "MASTER")
        sc.start_lb("lb-b")
        sc.wait_states("lb-b", "BACKUP")
        e2e.wait_for(all_up, 40, "every backend up on lb-a", 0.2)
        record("start", {"names": sc.ask_many(12), "ipvsadm": sc.ipvsadm("lb-a")})

        # kill: ipa2 stops while a client keeps asking.
        sampler = Sampler(sc, ipa2)
        sampler.start()
        time.sleep(1.5)
        served_before = sc.served("ipa2").get("80/tcp", 0)
        traffic = subprocess.Popen(["ip", "netns", "exec", "client", sys.executable, "-c",
                                    TRAFFIC, os.path.dirname(sc.me), e2e.VIP4],
                                   stdout=subprocess.PIPE, text=True,
                                   stderr=open(os.path.join(out, "traffic.err"), "w"))
        requests = []
        reader = threading.Thread(target=lambda: requests.extend(
            json.loads(line) for line in traffic.stdout), daemon=True)
        reader.start()
        e2e.wait_for(lambda: len(requests) >= 5 or traffic.poll() is not None, 60,
                     "client traffic", 0.1)
        t_stop = time.monotonic()  # before: stopping takes a while, and refusals start within it
        sc.stop_backend("ipa2")
        e2e.wait_for(lambda: f"{ipa2}:80" not in ipvs_table(sc.ipvsadm("lb-a")).get(WEB, {}),
                     30, "ipa2 out of web", 0.1)
        t_gone = time.monotonic()
        time.sleep(1.5)
        samples = sampler.finish()
        traffic.kill()
        traffic.wait(10)
        reader.join(10)
        table = sc.ipvsadm("lb-a")
        names_after = sc.ask_many(20)
        record("kill", {"samples": samples, "ipvsadm": table, "names_after": names_after,
                        "t_stop": t_stop, "t_gone": t_gone, "requests": requests,
                        "removed_after_s": t_gone - t_stop,
                        "served_before": served_before,
                        "served_after": sc.served("ipa2").get("80/tcp", 0)})

        # return: ipa2 comes back.
        sampler = Sampler(sc, ipa2)
        sampler.start()
        sc.start_backend("ipa2")
        e2e.wait_for(all_up, 30, "ipa2 back", 0.1)
        time.sleep(0.5)
        samples = sampler.finish()
        record("return", {"samples": samples, "ipvsadm": sc.ipvsadm("lb-a"),
                          "names": sc.ask_many(12)})

        # quorum: lb-a alone can no longer reach two of the three web backends.
        for a in (ipa2, ipa3):
            e2e.sh(f"ip -n lb-a route add unreachable {a}/32")
        sc.wait_states("lb-b", "MASTER", timeout=30)
        sc.wait_states("lb-a", "BACKUP", timeout=10)
        st_a, st_b = sc.status("lb-a"), sc.status("lb-b")
        record("quorum", {
            "prio_a": {v["name"]: v["priority"] for v in st_a["vrrp"]},
            "web_a": next(s for s in st_a["services"] if s["name"] == "web"),
            "vips_b": sc.vips_on("lb-b"), "vips_a": sc.vips_on("lb-a"),
            "names": sc.ask_many(6), "ipvsadm_b": sc.ipvsadm("lb-b")})

        # regain: the routes return, quorum is back, lb-a preempts.
        for a in (ipa2, ipa3):
            e2e.sh(f"ip -n lb-a route del unreachable {a}/32")
        sc.wait_states("lb-a", "MASTER", timeout=30)
        sc.wait_states("lb-b", "BACKUP", timeout=10)
        st_a = sc.status("lb-a")
        record("regain", {"prio_a": {v["name"]: v["priority"] for v in st_a["vrrp"]},
                          "vips_a": sc.vips_on("lb-a"), "names": sc.ask_many(6)})
    except Exception:
        record("error", traceback.format_exc())
        raise
    finally:
        try:
            sc.save_diagnostics()
        finally:
            sc.close()


class HealthLab(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        why = lab.available()
        if why:
            raise unittest.SkipTest(why)
        for binary in ("src/daemon/l4lbd", "src/ctl/l4lbctl"):
            if not os.access(os.path.join(lab.BUILD_DIR, binary), os.X_OK):
                raise unittest.SkipTest(f"{binary} not built in {lab.BUILD_DIR}")
        with lab.Lab("health") as l:
            cls.result = l.run(GUEST, timeout=600)
        cls.obs = json.loads(cls.result.files.get("health.json", "{}"))
        cls.log_a = cls.result.files.get("l4lbd-lb-a.log", "")

    def step(self, name):
        if "error" in self.obs:
            self.fail(f"guest failed: {self.obs['error']}\n{self.result.report()}")
        if name not in self.obs:
            self.fail(f"step {name} not reached\n{self.result.report()}")
        return self.obs[name]

    def test_1_start_all_backends_serve(self):
        s = self.step("start")
        self.assertEqual(set(s["names"]), {"ipa1", "ipa2", "ipa3"}, s)

    def test_2_killed_backend_leaves_after_fall_and_clients_stop_reaching_it(self):
        k = self.step("kill")
        samples = k["samples"]
        up = [s for s in samples if s["health"] == "up"]
        down = [s for s in samples if s["health"] == "down"]
        self.assertTrue(up and down, samples)
        # While up (fewer than `fall` failures) it stays in the kernel ...
        self.assertTrue(all(s["web_in_kernel"] and s["fail"] < FALL for s in up), up)
        # ... it goes down at `fall` consecutive failures: sampled, and exactly from the log ...
        self.assertGreaterEqual(down[0]["fail"], FALL, down[:3])
        self.assertIn(f"backend={ipa2_web} up -> down after {FALL} consecutive failures",
                      self.log_a, self.log_a[-3000:])
        # ... and once down: out of `web` (remove) and, `ldap` being checked on its own
        # schedule, weight 0 there (drain) by the end.
        self.assertTrue(all(not s["web_in_kernel"] for s in down), down)
        table = ipvs_table(k["ipvsadm"])
        ipa2 = e2e.BACKENDS["ipa2"][0]
        self.assertEqual(table[WEB], {f"{a[0]}:80": 1 for n, a in e2e.BACKENDS.items()
                                      if n != "ipa2"}, k["ipvsadm"])
        self.assertEqual(table[LDAP][f"{ipa2}:389"], 0, k["ipvsadm"])
        # Traffic during the kill: answered before the stop; after the removal (plus one
        # request timeout) every request is answered, by the two others only.
        reqs = k["requests"]
        # A request is stamped when it starts; one still connecting when the server stops may
        # be refused, so "before" ends a little earlier.
        before = [r for t, r in reqs if t < k["t_stop"] - 0.1]
        after = [r for t, r in reqs if t > k["t_gone"] + 0.6]
        self.assertTrue(before and after, reqs)
        self.assertTrue(all(not r.startswith("error") for r in before), before)
        self.assertTrue(set(after) <= {"ipa1", "ipa3"}, after)
        self.assertNotIn("ipa2", k["names_after"])
        self.assertEqual(set(k["names_after"]), {"ipa1", "ipa3"}, k["names_after"])

    def test_3_returning_backend_is_back_after_rise(self):
        r = self.step("return")
        samples = r["samples"]
        down = [s for s in samples if s["health"] == "down"]
        up = [s for s in samples if s["health"] == "up"]
        self.assertTrue(down and up, samples)
        self.assertTrue(all(s["ok"] < RISE and not s["web_in_kernel"] for s in down), down)
        self.assertGreaterEqual(up[0]["ok"], RISE, up[:3])
        self.assertIn(f"backend={ipa2_web} down -> up after {RISE} consecutive successes",
                      self.log_a, self.log_a[-3000:])
        self.assertTrue(all(s["web_in_kernel"] for s in up), up)
        table = ipvs_table(r["ipvsadm"])
        self.assertEqual(table[WEB], {f"{a[0]}:80": 1 for a in e2e.BACKENDS.values()})
        self.assertEqual(table[LDAP], {f"{a[0]}:389": WEIGHT_LDAP for a in e2e.BACKENDS.values()})
        self.assertEqual(set(r["names"]), {"ipa1", "ipa2", "ipa3"})

    def test_4_quorum_loss_moves_the_vip(self):
        q = self.step("quorum")
        self.assertFalse(q["web_a"]["quorum_met"], q["web_a"])
        self.assertEqual(q["prio_a"], {"front-v4": 90, "gateway-v4": 90})
        self.assertIn(e2e.VIP4, q["vips_b"])
        self.assertNotIn(e2e.VIP4, q["vips_a"])
        self.assertEqual(set(q["names"]), {"ipa1", "ipa2", "ipa3"}, q["names"])

    def test_5_quorum_back_restores_priority_and_vip(self):
        g = self.step("regain")
        self.assertEqual(g["prio_a"], {"front-v4": 150, "gateway-v4": 150})
        self.assertIn(e2e.VIP4, g["vips_a"])
        self.assertEqual(set(g["names"]), {"ipa1", "ipa2", "ipa3"}, g["names"])


if __name__ == "__main__":
    testmain.main()
