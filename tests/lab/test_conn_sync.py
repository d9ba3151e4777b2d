#!/usr/bin/env python3
"""Connection synchronisation across failover (issue 13 section 3), in one kernel-lab boot.

The HA pair of tests/lab/e2e.py (lb-a, lb-b; client on brfront, backends ipa1..3 on brback
behind the gateway VIP) with two services on the front VIP: 8081 forwarded by NAT, 8082 by
direct routing (the backends hold the VIP on lo and answer the client straight, over a second
leg of the client on their link: a DR reply from the VIP cannot pass through the balancer). The sync daemon runs on eth1 (the backends' link), following `front-v4`.

Phase A, without `ipvs.sync_daemon` (the control: it shows the test can fail): 50
connections per service through lb-a, SIGKILL of lb-a's l4lbd, lb-b takes over by the VRRP
timeout, and every connection is tried again: lb-b's IPVS has never heard of them, so their
next segment is answered with a RST.

Phase B, with it: lb-a is restarted (stays BACKUP: preempt false) and lb-b reloaded with the
sync section; 200 connections per service (half idle after one exchange, half busy, a line
every 0.3 s) through lb-b; after 4 s (the sync master flushes its buffer every 2 s), SIGKILL
of lb-b's l4lbd; lb-a takes over and every connection must exchange data again, with the
backend it had. The kernel's sync master on lb-b outlives its l4lbd (kernel threads): lb-b
gets no more traffic, so it has nothing to send.

Phase C: lb-b's l4lbd is started again (BACKUP; it finds the master daemon its predecessor
left and stops it), 100 connections per service through lb-a, then lb-a's front link goes
down (its instances go to FAULT, lb-b takes over): every connection survives again.
"""
import json
import os
import subprocess
import sys
import time
import traceback
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "pylib"))
import e2e  # noqa: E402
import lab  # noqa: E402
import testmain  # noqa: E402

GUEST = r'''
import os, sys
sys.path.insert(0, os.path.join(os.environ["L4LB_SOURCE_DIR"], "tests/lab"))
import test_conn_sync
test_conn_sync.guest_main()
'''

NAT_PORT, DR_PORT = 8081, 8082
CLIENT_BACK = "192.168.67.10"  # the client's leg on the backends' link (DR replies)
CONTROL_N, SYNC_N, LINK_N = 50, 200, 100
SYNC_SECTION = "ipvs:\n  sync_daemon: {instance: front-v4, interface: eth1, sync_id: 7}\n"


def services_yaml():
    out = ["services:\n"]
    for name, port, forward in (("sync-nat", NAT_PORT, "nat"), ("sync-dr", DR_PORT, "dr")):
        backends = "".join(f'      - {{address: "{a[0]}"}}\n' for a in e2e.BACKENDS.values())
        out.append(f"""  - name: {name}
    vip: "{e2e.VIP4}"
    port: {port}
    protocol: tcp
    scheduler: rr
    forward: {forward}
    health: {{type: tcp, interval: 1s, timeout: 500ms, rise: 1, fall: 2}}
    backends:
{backends}""")
    return "".join(out)


class SyncScenario(e2e.Scenario):
    sync = False

    def write_config(self, node, **kw):
        os.makedirs(f"{e2e.RUN}/{node}", exist_ok=True)
        path = f"{e2e.RUN}/{node}/l4lb.yaml"
        with open(path, "w") as f:
            f.write(f"node_name: {node}\nstate_dir: {e2e.RUN}/{node}/state\n"
                    f"control: {{socket: {e2e.RUN}/{node}/ctl.sock}}\n" + e2e.vrrp_yaml(node) +
                    services_yaml() + (SYNC_SECTION if self.sync else ""))
        return path

    def start_servers(self):
        node = os.path.join(HERE, "conn_sync_node.py")
        # Direct routing: a backend answers from the VIP, and a reply with the VIP as its source
        # must not pass through the balancer (which holds the VIP and drops it as a martian). As
        # in a real DR setup, the replies take another router: here the client itself, on the
        # backends' link as well (CLIENT_BACK), reached by a source route for the VIP only; NAT
        # replies (from the backends' own addresses) still go through the gateway VIP.
        lab.sh("ip link add client-eth1 type veth peer name eth1 netns client && "
               "ip link set client-eth1 master brback up")
        lab.sh(f"ip link set eth1 up && ip addr add {CLIENT_BACK}/24 dev eth1 && "
               "for c in all default eth0 eth1; do "
               "echo 0 > /proc/sys/net/ipv4/conf/$c/rp_filter; done", ns="client")
        for b in e2e.BACKENDS:
            # The VIP on lo, never answered for in ARP.
            lab.sh(f"ip addr add {e2e.VIP4}/32 dev lo && "
                   "echo 1 > /proc/sys/net/ipv4/conf/all/arp_ignore && "
                   "echo 2 > /proc/sys/net/ipv4/conf/all/arp_announce && "
                   f"ip rule add from {e2e.VIP4} table 100 && "
                   f"ip route add default via {CLIENT_BACK} table 100", ns=b)
            p = self._spawn(f"serve-{b}", b, [sys.executable, node, "serve", b, str(NAT_PORT),
                                               str(DR_PORT)], stdout=subprocess.PIPE, text=True)
            if p.stdout.readline().strip() != "ready":
                raise RuntimeError(f"server on {b} did not start")

    def wait_up(self, node, timeout=60):
        def ok():
            h = self.backend_health(node)
            return len(h) == 2 * len(e2e.BACKENDS) and all(v == ("up", True) for v in h.values())
        e2e.wait_for(ok, timeout, f"every backend up on {node}", 0.2)

    def sync_status(self, node):
        st = self.status(node) or {}
        return st.get("ipvs", {}).get("sync")

    def wait_sync(self, node, roles, timeout=30):
        def ok():
            s = self.sync_status(node)
            return (s and s["in_sync"] and sorted(d["role"] for d in s["running"] or []) ==
                    sorted(roles)) and s
        return e2e.wait_for(ok, timeout, f"sync daemons {roles} on {node}", 0.2)

    def conn_count(self, node):
        """IPVS connection entries in `node`'s namespace (ipvsadm -Lnc, one per line)."""
        return len([x for x in lab.sh("ipvsadm -Lnc", ns=node).splitlines()[2:] if x.strip()])

    def clients(self, per_port):
        p = subprocess.Popen(
            ["ip", "netns", "exec", "client", sys.executable,
             os.path.join(HERE, "conn_sync_node.py"), "clients", e2e.VIP4,
             f"{NAT_PORT}:{per_port}", f"{DR_PORT}:{per_port}"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.procs["clients"] = p
        opened = json.loads(p.stdout.readline())
        return p, opened

    def failover_with(self, p, old, new, settle, link_down=False):
        """Connections open through `old`: wait `settle` s, SIGKILL `old`'s l4lbd (or take its
        links down), wait for `new` to be MASTER, then make every connection talk again."""
        time.sleep(settle)
        before = {"conns_" + n: self.conn_count(n) for n in (old, new)}
        wall = time.time()
        if link_down:
            lab.sh("ip link set eth0 down", ns=old)
        else:
            self.kill_lb(old)
        self.wait_states(new, "MASTER")
        master_after = max(v["since"] for v in self.status(new)["vrrp"]) - wall
        time.sleep(1.0)
        p.stdin.write("check\n")
        p.stdin.flush()
        result = json.loads(p.stdout.readline())
        p.wait(30)
        return dict(before, master_after_s=master_after, result=result)


def guest_main():
    out = os.environ["LAB_OUT"]
    sc = SyncScenario(os.environ["L4LB_SOURCE_DIR"], os.environ["L4LB_BUILD_DIR"], out)
    obs = {}

    def record(key, value):
        obs[key] = value
        with open(os.path.join(out, "conn_sync.json"), "w") as f:
            json.dump(obs, f, indent=1)
        print(f"step {key} recorded", flush=True)

    try:
        t0 = time.monotonic()
        sc.setup()
        sc.start_servers()
        # Phase A: no sync daemon.
        sc.start_lb("lb-a")
        sc.wait_states("lb-a", "MASTER")
        sc.start_lb("lb-b")
        sc.wait_states("lb-b", "BACKUP")
        for n in e2e.LB_NODES:
            sc.wait_up(n)
        p, opened = sc.clients(CONTROL_N)
        a = sc.failover_with(p, "lb-a", "lb-b", settle=3.0)
        record("control", dict(a, opened=opened, sync_b=sc.sync_status("lb-b"),
                               seconds=time.monotonic() - t0))

        # Phase B: the sync daemon, lb-a restarted with it, lb-b reloaded with it.
        sc.sync = True
        sc.start_lb("lb-a")
        sc.wait_states("lb-a", "BACKUP")
        sc.write_config("lb-b")
        r = sc.ctl("lb-b", "reload")
        sync_a = sc.wait_sync("lb-a", ["backup"])
        sync_b = sc.wait_sync("lb-b", ["master", "backup"])
        sc.wait_up("lb-a")
        record("sync_started", {
            "reload_rc": r.returncode, "reload": r.stdout + r.stderr,
            "sync_a": sync_a, "sync_b": sync_b,
            "daemons_a": lab.sh("ipvsadm -L --daemon", ns="lb-a"),
            "daemons_b": lab.sh("ipvsadm -L --daemon", ns="lb-b"),
            "text_b": sc.ctl("lb-b", "status").stdout,
            "sysctls": lab.sh("cat /proc/sys/net/ipv4/vs/sync_threshold "
                              "/proc/sys/net/ipv4/vs/sync_refresh_period "
                              "/proc/sys/net/ipv4/vs/sync_version", ns="lb-a")})
        p, opened = sc.clients(SYNC_N)
        b = sc.failover_with(p, "lb-b", "lb-a", settle=4.0)
        sync_a = sc.wait_sync("lb-a", ["master", "backup"])
        record("sync", dict(b, opened=opened, sync_a=sync_a,
                            daemons_a=lab.sh("ipvsadm -L --daemon", ns="lb-a"),
                            daemons_b_after_kill=lab.sh("ipvsadm -L --daemon", ns="lb-b"),
                            text_a=sc.ctl("lb-a", "status").stdout,
                            seconds=time.monotonic() - t0))

        # Phase C: lb-b's l4lbd starts again while its kernel still runs the sync master the
        # killed one left (replaced: it is BACKUP now), then lb-a's front link goes down.
        sc.start_lb("lb-b")
        sc.wait_states("lb-b", "BACKUP")
        sync_b = sc.wait_sync("lb-b", ["backup"])
        sc.wait_up("lb-b")
        p, opened = sc.clients(LINK_N)
        c = sc.failover_with(p, "lb-a", "lb-b", settle=4.0, link_down=True)
        record("link_down", dict(c, opened=opened, sync_b_restarted=sync_b,
                                 sync_a=sc.wait_sync("lb-a", ["backup"]),
                                 sync_b=sc.wait_sync("lb-b", ["master", "backup"]),
                                 seconds=time.monotonic() - t0))
    except Exception:
        record("error", traceback.format_exc())
    finally:
        try:
            sc.save_diagnostics()
        finally:
            sc.close()


@unittest.skipIf(lab.available(), lab.available())
class ConnSync(unittest.TestCase):
    result = None
    obs = {}

    @classmethod
    def setUpClass(cls):
        cls.lab = lab.Lab("conn-sync")
        cls.result = cls.lab.run(GUEST, timeout=360)
        try:
            cls.obs = json.loads(cls.result.files.get("conn_sync.json", "{}"))
        except ValueError:
            cls.obs = {}
        print(f"\n[conn-sync] guest finished in {cls.result.seconds:.1f}s", file=sys.stderr)
        for phase in ("control", "sync", "link_down"):
            x = cls.obs.get(phase)
            if x:
                r = x["result"]
                print(f"[conn-sync] {phase}: new master after {x['master_after_s']:.2f}s; "
                      f"IPVS entries before the kill {x['conns_lb-a']} on lb-a, "
                      f"{x['conns_lb-b']} on lb-b; survived: "
                      + ", ".join(f"{port} {r[str(port)]['survived']}/{r[str(port)]['total']} "
                                  f"{r[str(port)]['errors']}" for port in (NAT_PORT, DR_PORT)),
                      file=sys.stderr)

    @classmethod
    def tearDownClass(cls):
        cls.lab.close()

    def step(self, name):
        if name not in self.obs:
            self.fail(f"step {name} missing: {self.obs.get('error')}\n" +
                      self.result.report(tail=20000))
        return self.obs[name]

    def check(self, cond, msg):
        if not cond:
            self.fail(f"{msg}\n{self.result.report(tail=20000)}")

    def test_0_guest_ran(self):
        self.check(self.result.rc == 0 and not self.result.timed_out, "the guest failed")
        self.check("error" not in self.obs, f"the scenario raised:\n{self.obs.get('error')}")

    def test_1_without_sync_connections_break(self):
        c = self.step("control")
        self.check(c["opened"]["opened"] == 2 * CONTROL_N, f"opened {c['opened']}")
        self.check(c["sync_b"] is None, f"sync status without a sync config: {c['sync_b']}")
        for port in (NAT_PORT, DR_PORT):
            r = c["result"][str(port)]
            # Every one breaks: the new master's IPVS has no entry for it.
            self.check(r["survived"] == 0, f"port {port} without sync: {r}")

    def test_2_sync_daemons_follow_vrrp(self):
        s = self.step("sync_started")
        self.check(s["reload_rc"] == 0, f"reload: {s['reload']}")
        self.check(s["sync_a"]["wanted"] == ["backup"] and not s["sync_a"]["instance_master"],
                   f"lb-a: {s['sync_a']}")
        self.check(s["sync_b"]["wanted"] == ["master", "backup"] and
                   s["sync_b"]["instance_master"], f"lb-b: {s['sync_b']}")
        # The kernel itself (ipvsadm) as the witness.
        self.check("backup sync daemon (mcast=eth1, syncid=7" in s["daemons_a"] and
                   "master" not in s["daemons_a"], f"lb-a: {s['daemons_a']}")
        self.check("master sync daemon (mcast=eth1, syncid=7" in s["daemons_b"] and
                   "backup sync daemon" in s["daemons_b"], f"lb-b: {s['daemons_b']}")
        self.check("IPVS sync: instance front-v4 MASTER; running master+backup" in s["text_b"],
                   s["text_b"])

    def test_3_with_sync_every_connection_survives(self):
        s = self.step("sync")
        self.check(s["opened"]["opened"] == 2 * SYNC_N, f"opened {s['opened']}")
        # The backup had learnt them: at least one IPVS entry per connection.
        self.check(s["conns_lb-a"] >= 2 * SYNC_N, f"lb-a held {s['conns_lb-a']} entries")
        for port in (NAT_PORT, DR_PORT):
            r = s["result"][str(port)]
            self.check(r["survived"] == SYNC_N, f"port {port} with sync: {r}")
            self.check(len(r["backends"]) == len(e2e.BACKENDS), f"port {port}: {r}")
        self.check(s["sync_a"]["instance_master"] and s["sync_a"]["role_changes_total"] >= 1,
                   f"lb-a after the takeover: {s['sync_a']}")
        self.check("master sync daemon" in s["daemons_a"], s["daemons_a"])


    def test_4_restart_replaces_the_left_master_and_link_down_keeps_connections(self):
        s = self.step("link_down")
        # lb-b's kernel still ran the master its killed l4lbd had started; the new one, BACKUP,
        # stopped it and kept the backup.
        b = s["sync_b_restarted"]
        self.check(b["stops_total"] == 1 and b["starts_total"] == 0 and
                   [d["role"] for d in b["running"]] == ["backup"], f"lb-b restarted: {b}")
        self.check(s["opened"]["opened"] == 2 * LINK_N, f"opened {s['opened']}")
        for port in (NAT_PORT, DR_PORT):
            r = s["result"][str(port)]
            self.check(r["survived"] == LINK_N, f"port {port} after link-down: {r}")
        # The old master, in FAULT, went back to backup only.
        self.check(s["sync_a"]["wanted"] == ["backup"], f"lb-a: {s['sync_a']}")


if __name__ == "__main__":
    testmain.main()
