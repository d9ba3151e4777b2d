#!/usr/bin/env python3
"""End to end (issue 7): the HA pair of tests/lab/e2e.py in one UML boot, every step asserted.

The guest runs the scenario and records what it observed in e2e.json (after every step, so a
timeout still leaves the earlier steps); the host asserts each step. Any failure prints the
logs of every node: l4lbd logs, echo server logs, and per namespace `ip addr`, routes,
neighbours, `ipvsadm -Ln` and `l4lbctl status` (diagnostics.txt).

Steps: start (lb-a MASTER, lb-b BACKUP, both programmed) -> every port through the VIPs ->
ipa1's listener on 636 closes -> only the two 636 services lose ipa1, on both balancers, every
port still answers; reopened, ipa1 comes back -> the SNAT service answers from snat1, which has
no route back -> the fwmark service (30000-32767) is one FWM service and answers on sample
ports -> long-lived connections through lb-a -> SIGKILL lb-a's l4lbd -> lb-b takes
over, every port again (and SNAT and the fwmark ports), through lb-b; the long-lived connections, synchronised by the
IPVS sync daemon, still exchange data with their backends -> stop backend ipa2 ->
it leaves IPVS and gets no new connection, every port still answers -> edit lb-b's config and
`l4lbctl reload` -> only the edited entries change -> lb-a restarts and stays BACKUP.
"""
import json
import os
import sys
import time
import traceback
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "pylib"))  # lab.py, when run by hand
import e2e  # noqa: E402
import lab  # noqa: E402
import testmain  # noqa: E402

GUEST = r'''
import os, sys
sys.path.insert(0, os.path.join(os.environ["L4LB_SOURCE_DIR"], "tests/lab"))
import test_e2e
test_e2e.guest_main()
'''

# The reload step's edit: one scheduler and one weight.
RELOAD_SCHEDULERS = {"ipa-web": "wlc"}
RELOAD_WEIGHTS = {("ipa-kdc-tcp", "ipa3"): 2}
STOPPED = "ipa2"
SESSIONS = 12  # long-lived connections across the failover (TCP 80 over IPv4)
SNAT_PORTS = [f"{e2e.SNAT_PORT}/tcp"]
FWM_PORTS = [f"{p}/tcp" for p in e2e.FWM_PORTS]


def ipvs_stats(table):
    """{"TCP 10.232.35.199:80": conns} from `ipvsadm -Ln --stats`."""
    out = {}
    for line in table.splitlines():
        f = line.split()
        if len(f) >= 3 and f[0] in ("TCP", "UDP", "FWM"):
            out[f"{f[0]} {f[1]}"] = int(f[2])
    return out


def guest_main():
    out = os.environ["LAB_OUT"]
    sc = e2e.Scenario(os.environ["L4LB_SOURCE_DIR"], os.environ["L4LB_BUILD_DIR"], out)
    obs = {}

    def record(key, value):
        obs[key] = value
        obs.setdefault("t", {})[key] = time.monotonic()  # to match against stalls
        with open(os.path.join(out, "e2e.json"), "w") as f:
            json.dump(obs, f, indent=1)
        print(f"step {key} recorded", flush=True)

    def both_checks(attempts, ports=()):
        return {fam: sc.check(addr, attempts, ports) for fam, addr in (("ipv4", e2e.VIP4),
                                                                        ("ipv6", e2e.VIP6))}

    try:
        t0 = time.monotonic()
        obs["t0"] = t0
        sc.start_pair()
        record("start", {"seconds": time.monotonic() - t0,
                         "states": {n: sc.states(n) for n in e2e.LB_NODES},
                         "vips": {n: sc.vips_on(n) for n in e2e.LB_NODES},
                         "ipvs": {n: sc.ipvsadm(n) for n in e2e.LB_NODES}})

        record("before", both_checks(3))

        # One port of one backend fails: per-port health checks take ipa1 out of the 636
        # services only (both families, both balancers); reopened, it comes back.
        name, port = e2e.PORT_FAIL
        fail_s, failed = sc.fail_port(name, port)
        checks = both_checks(2)
        record("port_fail", {"removed_after_s": fail_s, "ipvs": failed, "checks": checks,
                             "status_text": sc.ctl("lb-a", "status").stdout})
        back_s, restored = sc.fail_port(name, port, fail=False)
        obs["port_fail"].update(restored_after_s=back_s, ipvs_restored=restored)
        record("port_fail", obs["port_fail"])

        # SNAT: snat1 has no route back; only the masquerading balancer makes it answer.
        record("snat", {
            "routes": lab.sh("ip route; ip -6 route", ns=e2e.SNAT_BACKEND[0]),
            "nft": {n: (sc.status(n) or {}).get("nft") for n in e2e.LB_NODES},
            "conntrack": {n: lab.sh("cat /proc/sys/net/ipv4/vs/conntrack", ns=n).strip()
                          for n in e2e.LB_NODES},
            "nft_table": lab.sh("nft list table inet l4lb", ns="lb-a", check=False),
            "checks": both_checks(3, SNAT_PORTS)})

        # fwmark: the whole 30000-32767 range is one FWM service; sample ports answer via lb-a.
        served0 = {b: sc.served(b) for b in e2e.BACKENDS}
        checks = {"ipv4": sc.check(e2e.VIP4, 3, FWM_PORTS)}
        time.sleep(0.2)  # the echo servers count a request just after answering it
        record("fwmark", {
            "ipvs": {n: sc.ipvsadm(n) for n in e2e.LB_NODES},
            "nft": {n: (sc.status(n) or {}).get("nft") for n in e2e.LB_NODES},
            "checks": checks, "served_before": served0,
            "served_after": {b: sc.served(b) for b in e2e.BACKENDS}})

        # Long-lived connections through lb-a; lb-b's sync backup learns them.
        sync = {"lb-a": sc.wait_sync("lb-a", ["master", "backup"]),
                "lb-b": sc.wait_sync("lb-b", ["backup"])}
        sessions, opened = sc.start_sessions(e2e.VIP4, 80, SESSIONS)
        time.sleep(3.0)  # the sync master sends its buffer every 2 s

        # Failover. lb-a's kernel keeps its VIPs and IPVS after the kill, so lb-b's counters
        # (and lb-a's standing still) prove where the traffic went.
        stats_b0 = sc.ipvs_stats("lb-b")
        learned = sc.ipvs_conns("lb-b", f"{e2e.VIP4}:80")
        times = sc.failover("lb-a", "lb-b")
        survived = sc.check_sessions(sessions)
        record("sessions", {"sync_before": sync, "opened": opened, "learned_by_lb_b": learned,
                            "after_failover": survived, "sync_b_after": sc.sync_status("lb-b")})
        stats_a1 = sc.ipvs_stats("lb-a")
        checks = both_checks(3)
        snat_checks = both_checks(3, SNAT_PORTS)
        fwm_checks = {"ipv4": sc.check(e2e.VIP4, 3, FWM_PORTS)}
        record("failover", dict(times, **{
            "fwm_checks": fwm_checks,
            "states_b": sc.states("lb-b"), "vips_b": sc.vips_on("lb-b"),
            "checks": checks, "snat_checks": snat_checks,
            "stats_b_before": stats_b0, "stats_b_after": sc.ipvs_stats("lb-b"),
            "stats_a_before_checks": stats_a1, "stats_a_after": sc.ipvsadm("lb-a", "--stats")}))

        # A backend stops: every service on lb-b marks it down and removes it from IPVS.
        served0 = {b: sc.served(b) for b in e2e.BACKENDS}
        removed_s, health = sc.stop_backend_and_wait(STOPPED, "lb-b")
        table = sc.ipvsadm("lb-b")
        checks = both_checks(6)
        time.sleep(0.2)  # the echo servers count a request just after answering it
        record("backend_stop", {
            "removed_after_s": removed_s,
            "health": {f"{k[0]}:{k[1]}:{k[2]}": v for k, v in health.items()},
            "ipvs": table, "status_text": sc.ctl("lb-b", "status").stdout, "checks": checks,
            "served_before": served0, "served_after": {b: sc.served(b) for b in e2e.BACKENDS}})

        # Reload: edit one scheduler and one weight; nothing else may move.
        st0 = sc.status("lb-b")
        table0 = sc.ipvsadm("lb-b")
        sc.write_config("lb-b", schedulers=RELOAD_SCHEDULERS, weights=RELOAD_WEIGHTS)
        r = sc.ctl("lb-b", "reload")
        table1 = sc.ipvsadm("lb-b")
        st1 = sc.status("lb-b")
        record("reload", {"rc": r.returncode, "output": r.stdout + r.stderr,
                          "ipvs_before": table0, "ipvs_after": table1,
                          "vrrp_before": e2e.vrrp_view(st0), "vrrp_after": e2e.vrrp_view(st1),
                          "generation": [st0["daemon"]["generation"],
                                         st1["daemon"]["generation"]],
                          "checks": both_checks(3)})

        # lb-a comes back: preempt is false, so it stays BACKUP and lb-b keeps the VIPs.
        sc.start_lb("lb-a")
        sc.wait_states("lb-a", "BACKUP")
        time.sleep(1.0)  # ten advert intervals: long enough for a wrong preemption to show
        record("rejoin", {"states": {n: sc.states(n) for n in e2e.LB_NODES},
                          "vips": {n: sc.vips_on(n) for n in e2e.LB_NODES},
                          "checks": both_checks(1)})
    except Exception:
        record("error", traceback.format_exc())
    finally:
        record("stalls", sc.stalls())
        try:
            sc.save_diagnostics()
        finally:
            sc.close()


@unittest.skipIf(lab.available(), lab.available())
class EndToEnd(unittest.TestCase):
    """One boot for the whole class; each test asserts one step of the scenario."""

    result = None
    obs = {}

    @classmethod
    def setUpClass(cls):
        cls.lab = lab.Lab("e2e")
        cls.result = cls.lab.run(GUEST, timeout=540, modules=e2e.NFT_MODULES)
        try:
            cls.obs = json.loads(cls.result.files.get("e2e.json", "{}"))
        except ValueError:
            cls.obs = {}
        print(f"\n[e2e] guest finished in {cls.result.seconds:.1f}s", file=sys.stderr)
        stalls = cls.obs.get("stalls") or []
        if stalls:
            print(f"[e2e] the VM stood still {len(stalls)} times for more than 100 ms, longest "
                  f"{max(x[1] for x in stalls):.2f}s (a loaded host; lb-b's master-down "
                  f"interval is {e2e.master_down_s(100):.2f}s)", file=sys.stderr)
        f = cls.obs.get("failover")
        if f:
            print(f"[e2e] failover: lb-b MASTER {f['master_after_s']:.3f}s and first answer "
                  f"through lb-b {f['answered_after_s']:.3f}s after SIGKILL", file=sys.stderr)
        p = cls.obs.get("port_fail")
        if p and "restored_after_s" in p:
            print(f"[e2e] {e2e.PORT_FAIL[0]}:{e2e.PORT_FAIL[1]} out of IPVS on both balancers "
                  f"{p['removed_after_s']:.1f}s after its listener closed, back "
                  f"{p['restored_after_s']:.1f}s after it reopened", file=sys.stderr)
        x = cls.obs.get("sessions")
        if x:
            a = x["after_failover"]
            print(f"[e2e] long-lived connections: {x['opened']['opened']}/{SESSIONS} opened "
                  f"through lb-a, {x['learned_by_lb_b']} IPVS entries for them on lb-b before "
                  f"the kill, {a['survived']}/{a['total']} exchanged data after the failover "
                  f"({a['same_backend']} with the same backend) {a['errors']}", file=sys.stderr)

    @classmethod
    def tearDownClass(cls):
        cls.lab.close()

    def step(self, name):
        if "error" in self.obs and name not in self.obs:
            self.fail(f"the guest failed before step {name}:\n{self.obs['error']}\n" +
                      self.result.report())
        self.assertIn(name, self.obs, f"step {name} missing\n{self.result.report()}")
        return self.obs[name]

    def check(self, cond, msg):
        if not cond:
            self.fail(f"{msg}\n{self.result.report(tail=20000)}")

    def all_ports_ok(self, checks, label, ports=None):
        for fam, (lines, results) in checks.items():
            print(f"[e2e] {label}, {fam}:\n  " + "\n  ".join(lines), file=sys.stderr)
            self.check(len(results) == len(ports or e2e.PORTS), f"{label} {fam}: ports missing")
            for port, r in results.items():
                self.check(r["ok"], f"{label} {fam}: Port {port}: >> Failed {r['errors']}")

    def test_0_guest_ran(self):
        self.check(self.result.rc == 0 and not self.result.timed_out, "the guest failed")
        self.check("error" not in self.obs, f"the scenario raised:\n{self.obs.get('error')}")

    def test_1_start(self):
        s = self.step("start")
        self.check(set(s["states"]["lb-a"].values()) == {"MASTER"}, f"lb-a {s['states']}")
        self.check(set(s["states"]["lb-b"].values()) == {"BACKUP"}, f"lb-b {s['states']}")
        self.check(s["vips"]["lb-a"] == sorted([e2e.VIP4, e2e.VIP6, e2e.GW4, e2e.GW6]) and
                   s["vips"]["lb-b"] == [], f"VIPs {s['vips']}")
        for n, table in s["ipvs"].items():
            view = e2e.ipvs_config_view(table)
            services = [x for x in view if not x.startswith("  ->")]
            dests = [x for x in view if x.startswith("  ->")]
            self.check(len(services) == e2e.N_SERVICES and len(dests) == 48 + 2 + 3 and
                       all(" Masq 1" in d for d in dests), f"{n}: IPVS table\n{table}")

    def test_2_every_port_before_failover(self):
        checks = self.step("before")
        self.all_ports_ok(checks, "before failover")
        for fam, (_, results) in checks.items():
            # rr spreads 3 fresh connections over the 3 backends; sh keeps one client on one
            for port in ("80/tcp", "443/tcp"):
                self.check(sorted(results[port]["backends"]) == ["ipa1", "ipa2", "ipa3"],
                           f"{fam} {port} (rr): {results[port]}")
            for port in ("389/tcp", "636/tcp"):
                self.check(len(set(results[port]["backends"])) == 1,
                           f"{fam} {port} (sh): {results[port]}")

    def test_2a_per_port_failure(self):
        p = self.step("port_fail")
        name, port = e2e.PORT_FAIL
        start = {n: e2e.ipvs_dests(t) for n, t in self.step("start")["ipvs"].items()}
        self.check("ipvs_restored" in p, "ipa1 did not come back")
        for n in e2e.LB_NODES:
            failed = e2e.ipvs_dests(p["ipvs"][n])
            self.check(failed.keys() == start[n].keys(), f"{n}: services changed\n{failed}")
            lost = {svc: sorted(set(start[n][svc]) - set(failed[svc])) for svc in start[n]}
            lost = {svc: d for svc, d in lost.items() if d}
            # Exactly the two 636 lines (IPv4, IPv6) lost exactly ipa1; nothing else moved.
            self.check(lost == {f"TCP {e2e.VIP4}:{port}": [f"{e2e.BACKENDS[name][0]}:{port}"],
                                f"TCP [{e2e.VIP6}]:{port}": [f"[{e2e.BACKENDS[name][1]}]:{port}"]}
                       and all(set(failed[s]) <= set(start[n][s]) for s in failed),
                       f"{n}: lost {lost}\n{p['ipvs'][n]}")
            restored = e2e.ipvs_dests(p["ipvs_restored"][n])
            self.check({k: sorted(v) for k, v in restored.items()} ==
                       {k: sorted(v) for k, v in start[n].items()},
                       f"{n} after reopening:\n{p['ipvs_restored'][n]}")
        self.all_ports_ok(p["checks"], f"with {name}:{port} closed")
        for fam, (_, results) in p["checks"].items():
            self.check(name not in results[f"{port}/tcp"]["backends"],
                       f"{fam} {port}: {results[f'{port}/tcp']}")

    def test_2b_snat_without_route_back(self):
        s = self.step("snat")
        self.check("default" not in s["routes"], f"snat1 has a default route:\n{s['routes']}")
        for n in e2e.LB_NODES:
            nft = s["nft"][n]
            self.check(nft and nft["in_sync"] and nft["snat_rules"] == 2 and
                       nft["error"] is None, f"{n} nft: {nft}")
            self.check(s["conntrack"][n] == "1", f"{n} vs/conntrack {s['conntrack'][n]}")
        self.check(f"ct original proto-dst {e2e.SNAT_PORT} masquerade" in s["nft_table"],
                   s["nft_table"])
        self.all_ports_ok(s["checks"], "SNAT service", SNAT_PORTS)
        for fam, (_, results) in s["checks"].items():
            self.check(results[SNAT_PORTS[0]]["backends"] == [e2e.SNAT_BACKEND[0]] * 3,
                       f"{fam}: {results}")

    def test_2c_fwmark_range(self):
        s = self.step("fwmark")
        lo, hi = (int(x) for x in e2e.FWM_RANGE.split("-"))
        for n in e2e.LB_NODES:
            table = s["ipvs"][n]
            dests = e2e.ipvs_dests(table)
            fwm = [k for k in dests if k.startswith("FWM ")]
            # One FWM service with the three backends; no per-port service in the range.
            self.check(len(fwm) == 1 and sorted(d.rsplit(":", 1)[0] for d in dests[fwm[0]]) ==
                       sorted(a[0] for a in e2e.BACKENDS.values()), f"{n}: FWM\n{table}")
            in_range = [k for k in dests if not k.startswith("FWM ") and
                        lo <= int(k.rsplit(":", 1)[1]) <= hi]
            self.check(not in_range, f"{n}: per-port services in the range {in_range}")
            nft = s["nft"][n]
            self.check(nft and nft["in_sync"] and nft["mark_rules"] == 1, f"{n} nft: {nft}")
        self.all_ports_ok(s["checks"], "fwmark range via lb-a", FWM_PORTS)
        _, results = s["checks"]["ipv4"]
        # rr over ONE service: 9 connections on 3 ports reach all three backends.
        self.check(sorted({b for r in results.values() for b in r["backends"]}) ==
                   sorted(e2e.BACKENDS), f"{results}")
        # Each connection kept its port: the backends' listeners on those ports counted them.
        before, after = s["served_before"], s["served_after"]
        for port in FWM_PORTS:
            n = sum(after[b].get(port, 0) - before[b].get(port, 0) for b in e2e.BACKENDS)
            self.check(n == 3, f"{port}: backends counted {n}: {before} {after}")

    def test_3_failover(self):
        f = self.step("failover")
        self.check(set(f["states_b"].values()) == {"MASTER"}, f"lb-b {f['states_b']}")
        self.check(f["vips_b"] == sorted([e2e.VIP4, e2e.VIP6, e2e.GW4, e2e.GW6]),
                   f"lb-b VIPs {f['vips_b']}")
        self.all_ports_ok(f["checks"], "after failover")
        # The checks went through lb-b (every service gained connections there), not
        # through lb-a's orphaned kernel state (which gained none).
        b0, b1 = ipvs_stats(f["stats_b_before"]), ipvs_stats(f["stats_b_after"])
        a0, a1 = ipvs_stats(f["stats_a_before_checks"]), ipvs_stats(f["stats_a_after"])
        self.all_ports_ok(f["snat_checks"], "SNAT after failover", SNAT_PORTS)
        self.all_ports_ok(f["fwm_checks"], "fwmark range after failover", FWM_PORTS)
        self.check(len(b1) == e2e.N_SERVICES and all(b1[s] >= b0.get(s, 0) + 3 for s in b1),
                   f"lb-b did not carry every service:\n{b0}\n{b1}")
        self.check(a0 == a1, f"lb-a still carried traffic:\n{a0}\n{a1}")

    def test_3a_long_lived_connections_survive(self):
        s = self.step("sessions")
        self.check(s["sync_before"]["lb-a"]["instance_master"] and
                   not s["sync_before"]["lb-b"]["instance_master"], f"{s['sync_before']}")
        o, a = s["opened"], s["after_failover"]
        self.check(o["opened"] == SESSIONS and len(set(o["backends"])) == len(e2e.BACKENDS),
                   f"opened {o}")
        self.check(s["learned_by_lb_b"] >= SESSIONS, f"lb-b knew {s['learned_by_lb_b']}")
        self.check(a["survived"] == SESSIONS and a["same_backend"] == SESSIONS,
                   f"after the failover: {a}")
        self.check(s["sync_b_after"]["instance_master"] and
                   "master" in [d["role"] for d in s["sync_b_after"]["running"]],
                   f"lb-b sync after the takeover: {s['sync_b_after']}")

    def test_4_backend_stop(self):
        s = self.step("backend_stop")
        self.check(all(v == ["down", False] for v in s["health"].values()) and
                   len(s["health"]) == e2e.N_BACKEND_ENTRIES, f"{STOPPED} health on lb-b: {s['health']}")
        for a in e2e.BACKENDS[STOPPED]:
            self.check(a not in s["ipvs"], f"{a} still in IPVS:\n{s['ipvs']}")
        self.all_ports_ok(s["checks"], f"after stopping {STOPPED}")
        requests = 0
        for fam, (_, results) in s["checks"].items():
            for port, r in results.items():
                self.check(STOPPED not in r["backends"], f"{fam} {port} reached {STOPPED}")
                requests += len(r["backends"])
        # Every request was served by a live backend, and the stopped one served nothing.
        before, after = s["served_before"], s["served_after"]
        self.check(after[STOPPED] == before[STOPPED], f"{STOPPED} served: {before} {after}")
        gained = sum(sum(after[b].values()) - sum(before[b].values())
                     for b in e2e.BACKENDS if b != STOPPED)
        self.check(gained == requests, f"live backends served {gained}, sent {requests}")

    def test_5_reload_changes_only_what_changed(self):
        r = self.step("reload")
        self.check(r["rc"] == 0, f"l4lbctl reload failed:\n{r['output']}")
        self.check(r["generation"][1] == r["generation"][0] + 1, f"generation {r['generation']}")
        self.check(r["vrrp_before"] == r["vrrp_after"],
                   f"VRRP changed:\n{r['vrrp_before']}\n{r['vrrp_after']}")
        before = e2e.ipvs_config_view(r["ipvs_before"])
        after = e2e.ipvs_config_view(r["ipvs_after"])
        self.check(len(before) == len(after), f"tables differ in size:\n{before}\n{after}")
        ipa3 = e2e.BACKENDS["ipa3"][0]
        expected, service = [], None
        for line in before:
            if not line.startswith("  ->"):
                service = line
                if line.startswith(f"TCP {e2e.VIP4}:80 ") or line.startswith(
                        f"TCP {e2e.VIP4}:443 "):
                    line = line.replace(" rr", " wlc")
            elif service.startswith((f"TCP {e2e.VIP4}:88 ", f"TCP {e2e.VIP4}:464 ")) and \
                    line.startswith(f"  -> {ipa3}:"):
                line = line.replace(" Masq 1", " Masq 2")
            expected.append(line)
        self.check(expected != before, "the edit changed nothing in the expectation")
        self.check(after == expected,
                   "ipvsadm -Ln after the reload:\n" + "\n".join(after) +
                   "\nexpected:\n" + "\n".join(expected))
        self.all_ports_ok(r["checks"], "after the reload")

    def test_6_rejoin_without_preemption(self):
        r = self.step("rejoin")
        self.check(set(r["states"]["lb-a"].values()) == {"BACKUP"}, f"{r['states']}")
        self.check(set(r["states"]["lb-b"].values()) == {"MASTER"}, f"{r['states']}")
        # lb-a's crash left the VIPs on its interfaces; a BACKUP must not keep them.
        self.check(r["vips"]["lb-b"] == sorted([e2e.VIP4, e2e.VIP6, e2e.GW4, e2e.GW6]) and
                   r["vips"]["lb-a"] == [], f"VIPs {r['vips']}")
        self.all_ports_ok(r["checks"], "after lb-a rejoined")


if __name__ == "__main__":
    testmain.main()
