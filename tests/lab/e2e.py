#!/usr/bin/env python3
"""The end-to-end HA pair (issue 7): shared by the CI test (test_e2e.py) and the demo (demo.py).

Inside one UML boot (real IPVS), in network namespaces:

    client ── brfront (10.232.35.0/24, 2001:db8:35::/64) ──┬── lb-a eth0 .41 / ::41
                VIP 10.232.35.199, 2001:db8:35::199        └── lb-b eth0 .31 / ::31
    lb-a eth1 .41 ┬── brback (192.168.67.0/24, 2001:db8:67::/64) ── ipa1 .11, ipa2 .12, ipa3 .13
    lb-b eth1 .31 ┘   gateway VIP 192.168.67.1, 2001:db8:67::1 (the backends' default route)

Each load balancer runs its own l4lbd with four VRRP instances (unicast peers, preempt: false,
advert_interval 250 ms):
`front-v4` / `front-v6` own the client-facing VIPs, `gateway-v4` / `gateway-v6` own the backends'
default gateway, so NAT replies always return through the current master. Each front instance
tracks eth1 and each gateway instance tracks eth0 (no weight: FAULT), so a dead link moves both
halves together. Both nodes program the same 16 IPVS services (FreeIPA's TCP 80, 443, 389, 636,
88, 464 and UDP 88, 464, over IPv4 and IPv6; rr, sh and lc; NAT; TCP and UDP health checks);
only the master receives traffic.

Issue 13 adds three things to the pair: every service's health check runs per port (so one
port failing on a backend takes the backend out of that port only), the kernel's IPVS sync
daemon follows `front-v4` (`ipvs.sync_daemon` on eth1: established connections survive a
failover), and a SNAT service (`snat: true`, TCP 8080 on both VIPs) whose one backend, `snat1`
(192.168.67.14, 2001:db8:67::14, on brback), has NO default route: it can answer only because
the balancer masquerades the client's address to its own.

Last, one fwmark service (`nodeport`, TCP 30000-32767 on the IPv4 VIP, `fwmark: true`, rr over
ipa1..ipa3): the whole range is ONE IPVS `FWM` service plus one nftables mark rule, each
connection keeps its port (the backends listen on FWM_PORTS), and it answers on lb-b after the
failover as on lb-a before it.

The programs that run inside the namespaces (echo servers, the per-port checker, the failover
probe, the VM stall record) are in e2e_node.py.
"""

import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "pylib"))
from lab import sh  # noqa: E402  (shell commands, optionally in a namespace, quoted safely)

PORTS = [(80, "tcp"), (443, "tcp"), (389, "tcp"), (636, "tcp"), (88, "tcp"), (464, "tcp"),
         (88, "udp"), (464, "udp")]
VIP4, VIP6 = "10.232.35.199", "2001:db8:35::199"
GW4, GW6 = "192.168.67.1", "2001:db8:67::1"
CLIENT = ("10.232.35.10", "2001:db8:35::10")
LB_NODES = {
    # name: (front v4, front v6, back v4, back v6, priority)
    "lb-a": ("10.232.35.41", "2001:db8:35::41", "192.168.67.41", "2001:db8:67::41", 150),
    "lb-b": ("10.232.35.31", "2001:db8:35::31", "192.168.67.31", "2001:db8:67::31", 100),
}
BACKENDS = {"ipa1": ("192.168.67.11", "2001:db8:67::11"),
            "ipa2": ("192.168.67.12", "2001:db8:67::12"),
            "ipa3": ("192.168.67.13", "2001:db8:67::13")}
# (name, ports, protocol, scheduler); each exists once per address family.
SERVICES = [("ipa-web", [80, 443], "tcp", "rr"), ("ipa-ldap", [389, 636], "tcp", "sh"),
            ("ipa-kdc-tcp", [88, 464], "tcp", "lc"), ("ipa-kdc-udp", [88, 464], "udp", "lc")]
# The SNAT variant: a backend without a route back to the clients, behind `snat: true`.
SNAT_BACKEND = ("snat1", ("192.168.67.14", "2001:db8:67::14"))
SNAT_SERVICE, SNAT_PORT, SNAT_BACKEND_PORT = "snat-web", 8080, 80
NFT_MODULES = ["nf_tables", "nft_ct", "nft_nat", "nft_masq", "nft_chain_nat"]  # for `snat`
# The per-port failure: the echo server on this backend closes (SIGUSR1) and reopens (SIGUSR2)
# its listener on this port only.
PORT_FAIL = ("ipa1", 636)
# Connection synchronisation: the kernel's sync master follows front-v4, on the backends' link.
SYNC_SECTION = "ipvs:\n  sync_daemon: {instance: front-v4, interface: eth1, sync_id: 35}\n"
# The fwmark service: one IPVS service for the whole range (IPv4 only); the backends listen
# on the sample ports the test sends to (a connection keeps its port).
FWM_SERVICE, FWM_RANGE, FWM_PORTS = "nodeport", "30000-32767", [30000, 31234, 32767]
# per family: 8 FreeIPA ports + the SNAT service; then the one fwmark service
N_SERVICES = 2 * len(SERVICES) * 2 + 2 + 1
# `l4lbctl status` entries per FreeIPA backend: 8 ports x 2 families, + 1 (the fwmark service
# is one entry, IPv4 only)
N_BACKEND_ENTRIES = 2 * 8 + 1
INSTANCES = ["front-v4", "front-v6", "gateway-v4", "gateway-v6"]
PROBE = "l4lb-probe"  # the UDP health check's datagram; backends answer "pong"
RUN = "/run/e2e"  # guest-local tmpfs: configs, sockets, counters
# 250 ms, not the 100 ms a dedicated node could use: on a loaded host the whole VM sometimes
# stands still for a third of a second (see stallwatch), which would exceed a 100 ms router's
# master-down interval (0.36 s) and make the Backup take over by the protocol's own rules.
ADVERT_MS = 250


def master_down_s(priority):
    """RFC 5798 6.1, in centiseconds as the daemon computes it."""
    mai = ADVERT_MS // 10
    return (3 * mai + (256 - priority) * mai // 256) / 100


# ---------------------------------------------------------------------------------------
# Configuration

def vrrp_yaml(node):
    f4, f6, b4, b6, prio = LB_NODES[node]
    peer = [LB_NODES[n] for n in LB_NODES if n != node][0]
    out = []
    for name, ifname, vrid, src, dst, vip, track in (
            ("front-v4", "eth0", 35, f4, peer[0], f"{VIP4}/24", "eth1"),
            ("front-v6", "eth0", 35, f6, peer[1], f"{VIP6}/64", "eth1"),
            ("gateway-v4", "eth1", 67, b4, peer[2], f"{GW4}/24", "eth0"),
            ("gateway-v6", "eth1", 67, b6, peer[3], f"{GW6}/64", "eth0")):
        out.append(f"""  - name: {name}
    interface: {ifname}
    vrid: {vrid}
    priority: {prio}
    advert_interval: {ADVERT_MS}ms
    preempt: false
    unicast: {{source: "{src}", peers: ["{dst}"]}}
    vips: ["{vip}"]
    track: {{interfaces: [{track}]}}
""")
    return "vrrp:\n" + "".join(out)


def services_yaml(schedulers=None, weights=None):
    """`schedulers` {service name: scheduler} and `weights` {(service name, backend): weight}
    override the defaults (the reload step edits these)."""
    schedulers, weights = schedulers or {}, weights or {}
    out = []
    for family, vip in ((0, VIP4), (1, VIP6)):
        for name, ports, proto, sched in SERVICES:
            name = name + ("-v6" if family else "")
            health = ("{type: tcp, interval: 1s, timeout: 500ms, rise: 2, fall: 2}"
                      if proto == "tcp" else
                      f'{{type: udp, send: "{PROBE}", expect: "pong", interval: 1s, '
                      f'timeout: 500ms, rise: 2, fall: 2}}')
            backends = "".join(
                f'      - {{address: "{addrs[family]}", weight: {weights.get((name, b), 1)}}}\n'
                for b, addrs in BACKENDS.items())
            out.append(f"""  - name: {name}
    vip: "{vip}"
    ports: {ports}
    protocol: {proto}
    scheduler: {schedulers.get(name, sched)}
    forward: nat
    health: {health}
    backends:
{backends}""")
        a = SNAT_BACKEND[1][family]
        out.append(f"""  - name: {SNAT_SERVICE}{"-v6" if family else ""}
    vip: "{vip}"
    port: {SNAT_PORT}
    protocol: tcp
    scheduler: rr
    forward: nat
    snat: true
    health: {{type: tcp, interval: 1s, timeout: 500ms, rise: 2, fall: 2}}
    backends:
      - {{address: "{a}", port: {SNAT_BACKEND_PORT}}}
""")
    # fwmark: backends take no port, each connection keeps the one it was sent to.
    backends = "".join(f'      - {{address: "{addrs[0]}"}}\n' for addrs in BACKENDS.values())
    out.append(f"""  - name: {FWM_SERVICE}
    vip: "{VIP4}"
    ports: [{FWM_RANGE}]
    protocol: tcp
    scheduler: rr
    forward: nat
    fwmark: true
    health: {{type: tcp, interval: 1s, timeout: 500ms, rise: 2, fall: 2}}
    backends:
{backends}""")
    return "services:\n" + "".join(out)


def lb_config(node, schedulers=None, weights=None):
    return (f"node_name: {node}\nstate_dir: {RUN}/{node}/state\n"
            f"control: {{socket: {RUN}/{node}/ctl.sock}}\n" + vrrp_yaml(node) +
            services_yaml(schedulers, weights) + SYNC_SECTION)


# ---------------------------------------------------------------------------------------
# Guest side: the scenario (runs as root inside the UML guest)

def _batch(commands, ns=None):
    """Runs `ip` commands (one per line, without "ip") in one process; stops at the first error."""
    p = subprocess.run(["ip"] + (["-n", ns] if ns else []) + ["-batch", "-"],
                       input="\n".join(commands) + "\n", capture_output=True, text=True,
                       timeout=60)
    if p.returncode != 0:
        raise RuntimeError(f"ip -batch failed in {ns or 'the root namespace'}:\n{p.stderr}")


def wait_for(cond, timeout, what, step=0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(step)


class Scenario:
    """The topology above, its processes, and the observations the test and the demo need."""

    def __init__(self, source_dir, build_dir, out_dir):
        self.src, self.build, self.out = source_dir, build_dir, out_dir
        self.me = os.path.join(source_dir, "tests/lab/e2e_node.py")
        self.procs = {}  # name -> Popen (l4lbd-lb-a, echo-ipa1, ...)

    # -- topology --------------------------------------------------------------------------
    def setup(self):
        os.makedirs(RUN, exist_ok=True)
        self.procs["stallwatch"] = subprocess.Popen(
            [sys.executable, self.me, "stallwatch", f"{RUN}/stalls.json"])
        nodes = [("client", [("eth0", "brfront", CLIENT)])]
        for n, (f4, f6, b4, b6, _) in LB_NODES.items():
            nodes.append((n, [("eth0", "brfront", (f4, f6)), ("eth1", "brback", (b4, b6))]))
        for n, addrs in list(BACKENDS.items()) + [SNAT_BACKEND]:
            nodes.append((n, [("eth0", "brback", addrs)]))
        # Few processes (UML spawns them slowly): one `ip -batch` for the root namespace, then
        # per namespace one shell for the sysctls and one `ip -batch` for links and addresses.
        root = [f"link add {br} type bridge\nlink set {br} up" for br in ("brfront", "brback")]
        per_ns = []
        for ns, links in nodes:
            root.append(f"netns add {ns}")
            for ifname, br, _ in links:
                host = f"{ns[:8]}-{ifname}"  # <= 15 chars
                root += [f"link add {host} type veth peer name {ifname} netns {ns}",
                         f"link set {host} master {br} up"]
            # No DAD: static addresses are usable at once (the daemon adds its VIPs nodad too).
            sysctls = ["net/ipv6/conf/all/accept_dad=0", "net/ipv6/conf/default/accept_dad=0"]
            sysctls += [f"net/ipv6/conf/{ifname}/accept_dad=0" for ifname, _, _ in links]
            if ns in LB_NODES:
                sysctls += ["net/ipv4/ip_forward=1", "net/ipv6/conf/all/forwarding=1",
                            "net/ipv4/vs/conntrack=0", "net/ipv4/vs/expire_nodest_conn=1"]
            cmds = ["link set lo up"]
            for ifname, _, (a4, a6) in links:
                cmds += [f"link set {ifname} up", f"addr add {a4}/24 dev {ifname}",
                         f"addr add {a6}/64 dev {ifname} nodad"]
            if ns in BACKENDS:  # not snat1: it has no route back to the clients
                cmds += [f"route add default via {GW4}", f"route add ::/0 via {GW6}"]
            per_ns.append((ns, sysctls, cmds))
        _batch(root)
        for ns, sysctls, cmds in per_ns:
            sh(f"ip netns exec {ns} sh -ec '" +
               "; ".join(f"echo {v} > /proc/sys/{k}" for k, v in (x.split("=") for x in sysctls)) +
               "'")
            _batch(cmds, ns)

    # -- processes -------------------------------------------------------------------------
    def _spawn(self, name, ns, argv, **kw):
        log = open(os.path.join(self.out, f"{name}.log"), "a")
        p = subprocess.Popen(["ip", "netns", "exec", ns] + argv, stdout=kw.pop("stdout", log),
                             stderr=log, **kw)
        self.procs[name] = p
        return p

    def start_backend(self, name, wait=True):
        ready = f"{RUN}/{name}.ready"
        if os.path.exists(ready):
            os.unlink(ready)
        self._spawn(f"echo-{name}", name, [sys.executable, self.me, "echo", name])
        if wait:
            self.wait_backend(name)

    def wait_backend(self, name):
        p = self.procs[f"echo-{name}"]
        wait_for(lambda: os.path.exists(f"{RUN}/{name}.ready") or p.poll() is not None, 30,
                 f"echo {name}")
        if p.poll() is not None:
            raise RuntimeError(f"echo server {name} exited rc={p.returncode}")

    def stop_backend(self, name):
        p = self.procs[f"echo-{name}"]
        p.send_signal(signal.SIGTERM)
        p.wait(10)

    def stalls(self):
        """[[monotonic time, seconds]] for every freeze of the VM longer than 100 ms."""
        try:
            with open(f"{RUN}/stalls.json") as f:
                return json.load(f)
        except (FileNotFoundError, ValueError):
            return []

    def served(self, name):
        """What backend `name` has answered so far: {"389/tcp": n, ...}."""
        try:
            with open(f"{RUN}/{name}.counts.json") as f:
                return json.load(f)
        except FileNotFoundError:
            return {}

    def write_config(self, node, **kw):
        os.makedirs(f"{RUN}/{node}", exist_ok=True)
        path = f"{RUN}/{node}/l4lb.yaml"
        with open(path, "w") as f:
            f.write(lb_config(node, **kw))
        return path

    def start_lb(self, node, **kw):
        path = self.write_config(node, **kw)
        self._spawn(f"l4lbd-{node}", node,
                    [f"{self.build}/src/daemon/l4lbd", "-c", path, "--log-level", "info"])
        wait_for(lambda: self.status(node) or self.procs[f"l4lbd-{node}"].poll() is not None,
                 30, f"l4lbd on {node} to answer")
        if self.procs[f"l4lbd-{node}"].poll() is not None:
            raise RuntimeError(f"l4lbd on {node} exited rc={self.procs[f'l4lbd-{node}'].poll()}")

    def kill_lb(self, node):
        """SIGKILL l4lbd (not `ip netns exec`, which exec()s into it: same pid)."""
        p = self.procs[f"l4lbd-{node}"]
        t = time.monotonic()
        p.send_signal(signal.SIGKILL)
        p.wait(10)
        return t

    def ctl(self, node, *args):
        return subprocess.run([f"{self.build}/src/ctl/l4lbctl", "-s", f"{RUN}/{node}/ctl.sock"] +
                              list(args), capture_output=True, text=True, timeout=20)

    def status(self, node):
        r = self.ctl(node, "status", "--json")
        try:
            return json.loads(r.stdout) if r.returncode == 0 else None
        except ValueError:
            return None

    def states(self, node):
        """{instance: state} (the -v4/-v6 instances are single-family)."""
        st = self.status(node)
        return {v["name"]: v["state"] for v in st["vrrp"]} if st else {}

    def wait_states(self, node, state, timeout=20):
        return wait_for(lambda: set(self.states(node).values()) == {state} and
                        len(self.states(node)) == len(INSTANCES), timeout,
                        f"every VRRP instance on {node} to be {state}", 0.05)

    def backend_health(self, node):
        """{(service, port, backend address): (health, in_kernel)} from l4lbctl status."""
        st = self.status(node) or {"services": []}
        return {(s["name"], s["port"], b["address"]): (b["health"], b["in_kernel"])
                for s in st["services"] for b in s["backends"]}

    def wait_all_up(self, node, timeout=40):
        def ok():
            h = self.backend_health(node)
            return (len(h) == N_BACKEND_ENTRIES * len(BACKENDS) + 2 and all(v == ("up", True) for v in h.values()))
        return wait_for(ok, timeout, f"every backend up and in the kernel on {node}", 0.2)

    def ipvsadm(self, node, extra=""):
        return sh(f"ipvsadm -Ln {extra}", ns=node)

    def ipvs_stats(self, node):
        """`ipvsadm -Ln --stats` once the kernel has folded in the latest packets: on 6.1 the
        counters it reports are refreshed by the rate estimator every 2 s."""
        time.sleep(2.2)
        return self.ipvsadm(node, "--stats")

    def mac(self, node, ifname="eth0"):
        return sh(f"cat /sys/class/net/{ifname}/address", ns=node).strip()

    def vips_on(self, node):
        text = sh("ip -o addr show", ns=node)
        return sorted(a for a in (VIP4, VIP6, GW4, GW6) if f" {a}/" in text)

    # -- the client's view -----------------------------------------------------------------
    def check(self, addr, attempts=3, ports=()):
        """The per-port check from the client: (printable lines, {"80/tcp": {...}}); every
        port of PORTS unless `ports` ("8080/tcp", ...) names others."""
        p = subprocess.run(["ip", "netns", "exec", "client", sys.executable, self.me, "check",
                            addr, str(attempts)] + list(ports), capture_output=True, text=True,
                           timeout=300)
        lines = p.stdout.splitlines()
        if p.returncode != 0 or not lines or not lines[-1].startswith("{"):
            raise RuntimeError(f"checker failed rc={p.returncode}\n{p.stdout}{p.stderr}")
        return lines[:-1], json.loads(lines[-1])

    def start_probe(self, addr, mac):
        p = subprocess.Popen(["ip", "netns", "exec", "client", sys.executable, self.me, "probe",
                              addr, mac], stdout=subprocess.PIPE, text=True)
        self.procs["probe"] = p
        if p.stdout.readline().strip() != "ready":
            raise RuntimeError("failover probe did not start")
        return p

    # -- the scenario's steps, shared by the test and the demo -----------------------------
    def start_pair(self):
        """Backends, then lb-a (becomes MASTER), then lb-b (BACKUP); all backends up."""
        self.setup()
        for b in list(BACKENDS) + [SNAT_BACKEND[0]]:
            self.start_backend(b, wait=False)
        for b in list(BACKENDS) + [SNAT_BACKEND[0]]:
            self.wait_backend(b)
        self.start_lb("lb-a")
        self.wait_states("lb-a", "MASTER")
        self.start_lb("lb-b")
        self.wait_states("lb-b", "BACKUP")
        for n in LB_NODES:
            self.wait_all_up(n)

    def failover(self, old, new):
        """SIGKILL `old`'s l4lbd. Its kernel keeps the VIPs and IPVS (as after any crash of a
        VRRP daemon), so the client's ARP entry moving to `new` marks the takeover. Returns
        seconds from the kill to `new` reporting MASTER everywhere and to the first answer
        through `new`."""
        probe = self.start_probe(VIP4, self.mac(new))
        time.sleep(0.5)
        wall = time.time()
        t_kill = self.kill_lb(old)
        self.wait_states(new, "MASTER")
        # `since` is the daemon's own transition time: exact, unlike polling l4lbctl.
        t_master = max(v["since"] for v in self.status(new)["vrrp"])
        wait_for(lambda: probe.poll() is not None, 20, "the failover probe")
        answer = json.loads(probe.stdout.readline())
        return {"master_after_s": t_master - wall,
                "answered_after_s": answer["answered_at"] - t_kill,
                "replies_before_takeover": answer["earlier_replies"]}

    def stop_backend_and_wait(self, name, node):
        """Stop backend `name`'s servers; wait until `node` has it down in every service and
        out of IPVS. Returns (seconds, {(service, port, address): (health, in_kernel)})."""
        t = time.monotonic()
        self.stop_backend(name)
        addrs = BACKENDS[name]

        def gone():
            h = {k: v for k, v in self.backend_health(node).items() if k[2] in addrs}
            table = self.ipvsadm(node)
            return (len(h) == N_BACKEND_ENTRIES and all(v == ("down", False) for v in h.values()) and
                    not any(a in table for a in addrs)) and h
        health = wait_for(gone, 30, f"{name} to leave every service on {node}", 0.2)
        return time.monotonic() - t, health

    def fail_port(self, name, port, node_list=None, fail=True):
        """Closes (fail) or reopens backend `name`'s listener on TCP `port`, and waits until
        every load balancer has it out of (or back in) that port's IPVS services. Returns
        (seconds, {node: ipvsadm -Ln})."""
        assert (name, port) == PORT_FAIL  # the echo server knows only this one
        t = time.monotonic()
        self.procs[f"echo-{name}"].send_signal(signal.SIGUSR1 if fail else signal.SIGUSR2)
        addrs = BACKENDS[name]
        tables = {}

        def done(node):
            h = {k: v for k, v in self.backend_health(node).items()
                 if k[2] in addrs and k[1] == port}
            want = ("down", False) if fail else ("up", True)
            if len(h) != 2 or any(v != want for v in h.values()):
                return False
            tables[node] = self.ipvsadm(node)
            return True
        for node in node_list or LB_NODES:
            wait_for(lambda: done(node), 30, f"{name}:{port} {'out' if fail else 'back'} on "
                     f"{node}", 0.2)
        return time.monotonic() - t, tables

    def sync_status(self, node):
        return ((self.status(node) or {}).get("ipvs") or {}).get("sync")

    def wait_sync(self, node, roles, timeout=30):
        """Waits until `node` runs exactly the sync daemons `roles`; returns its sync status."""
        def ok():
            s = self.sync_status(node)
            return (s and s["in_sync"] and sorted(d["role"] for d in s["running"] or []) ==
                    sorted(roles)) and s
        return wait_for(ok, timeout, f"sync daemons {roles} on {node}", 0.2)

    def start_sessions(self, addr, port, n):
        """`n` long-lived TCP connections from the client to addr:port (three exchanges each,
        so that the sync master has sent them). Returns (process, {"opened": ...})."""
        p = subprocess.Popen(["ip", "netns", "exec", "client", sys.executable, self.me,
                              "sessions", addr, str(port), str(n)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.procs["sessions"] = p
        return p, json.loads(p.stdout.readline())

    def check_sessions(self, p):
        """Every session exchanges one more line: {"survived", "total", "errors", ...}."""
        p.stdin.write("check\n")
        p.stdin.flush()
        result = json.loads(p.stdout.readline())
        p.wait(30)
        return result

    def ipvs_conns(self, node, vip_port):
        """IPVS connection entries (ipvsadm -Lnc) for `vip_port` ("10.232.35.199:80")."""
        return len([x for x in sh("ipvsadm -Lnc", ns=node).splitlines()[2:]
                    if f" {vip_port} " in f" {x} "])

    # -- diagnostics -----------------------------------------------------------------------
    def diagnostics(self):
        """{namespace: text}: addresses, routes, neighbours, and on the load balancers
        `l4lbctl status` and `ipvsadm -Ln` (last, so a report's tail shows them)."""
        out = {}
        for ns in ["client"] + list(LB_NODES) + list(BACKENDS) + [SNAT_BACKEND[0]]:
            parts = [f"===== {ns} ====="]
            if ns in LB_NODES:
                r = self.ctl(ns, "status")
                parts.append(f"$ l4lbctl status (rc={r.returncode})\n{r.stdout}{r.stderr}")
            for cmd in ("ip route", "ip -6 route", "ip neigh", "ip -br addr"):
                parts.append(f"$ {cmd}\n" + sh(cmd, ns=ns, check=False))
            if ns in LB_NODES:
                parts.append("$ ipvsadm -Ln\n" + sh("ipvsadm -Ln", ns=ns, check=False))
            out[ns] = "\n".join(parts)
        out["processes"] = "\n".join(f"{name}: rc={p.poll()}" for name, p in self.procs.items())
        return out

    def save_diagnostics(self):
        for name, text in self.diagnostics().items():
            with open(os.path.join(self.out, f"diag-{name}.txt"), "w") as f:
                f.write(text)

    def close(self):
        for p in self.procs.values():
            if p.poll() is None:
                p.kill()
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    pass


def ipvs_config_view(table):
    """`ipvsadm -Ln` without its header and the connection counters (which move by
    themselves as connections expire): what was programmed, line by line."""
    out = []
    for line in table.splitlines()[3:]:
        f = line.split()
        if f and f[0] == "->":
            out.append("  -> " + " ".join(f[1:4]))  # address, forward, weight
        elif f:
            out.append(" ".join(f))
    return out


def vrrp_view(status):
    """The VRRP part of a status document that a reload must not change."""
    keys = ("name", "family", "state", "priority", "since", "master", "vips", "transitions")
    return json.dumps([{k: v.get(k) for k in keys} for v in status["vrrp"]], sort_keys=True)


def ipvs_dests(table):
    """{"TCP 10.232.35.199:636": ["192.168.67.12:636", ...]} from `ipvsadm -Ln`."""
    out, service = {}, None
    for line in table.splitlines()[3:]:
        f = line.split()
        if f and f[0] == "->":
            out[service].append(f[1])
        elif f:
            service = f"{f[0]} {f[1]}"
            out[service] = []
    return out
