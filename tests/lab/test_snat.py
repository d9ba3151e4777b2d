#!/usr/bin/env python3
"""SNAT (`snat:`) against real IPVS (one boot): the backends have NO route back to the clients
(their default routes are deleted), so a NAT-mode service answers only when l4lbd's nftables
table translates the traffic to the balancer's address. Over IPv4 and IPv6 (masquerade) and
UDP (`snat: {source: ...}`), while a service without SNAT to the same backends gets no answer
(the test can fail). Then, in the same boot: a long-lived connection shows the backend's peer
is the balancer; net.ipv4.vs.conntrack is set to 1; a reload moves SNAT from one service to
another; the table deleted behind the daemon's back is restored by its periodic check; a
restart adopts the table without rewriting it and traffic keeps flowing; a reload without SNAT
deletes the table; and a foreign table made with `nft` survives start, reloads and stop."""
import unittest

import lab
import testmain

# nf_tables and the expressions the table uses: on-demand loading is off in the guest.
NFT_MODULES = ["nf_tables", "nft_ct", "nft_nat", "nft_masq", "nft_chain_nat"]


def config(web=True, plain=False, dns=True):
    b4 = "[10.1.0.11, 10.1.0.12]"
    b6 = '["fd00:b::11", "fd00:b::12"]'
    low = lambda v: str(v).lower()  # noqa: E731
    dns_snat = "{source: 10.1.0.2}" if dns else "false"
    return f"""
services:
  - {{name: web4, vip: 10.0.100.1, port: 80, scheduler: rr, snat: {low(web)},
     health: {{type: none}}, backends: {b4}}}
  - {{name: web6, vip: "fd00:100::1", port: 80, scheduler: rr, snat: {low(web)},
     health: {{type: none}}, backends: {b6}}}
  - {{name: dns4, vip: 10.0.100.1, port: 53, protocol: udp, scheduler: rr,
     snat: {dns_snat}, health: {{type: none}}, backends: {b4}}}
  - {{name: plain4, vip: 10.0.100.2, port: 80, scheduler: rr, snat: {low(plain)},
     health: {{type: none}}, backends: {b4}}}
"""


GUEST = r'''
import json, subprocess, time
import lab
from lab import check, finish, sh, Guest, save, wait_for, ipvsadm_table, BUILD_DIR

config = __CONFIG_FN__

FOREIGN = ("table inet foreign {\n\tchain input {\n\t\ttype filter hook input priority filter; "
           "policy accept;\n\t\ttcp dport 9 counter packets 0 bytes 0 accept\n\t}\n}\n")

def ctl(d, *args):
    return subprocess.run([str(BUILD_DIR / "src/ctl/l4lbctl"), "-s", d.sock, *args],
                          capture_output=True, text=True, timeout=60)

def table():
    r = subprocess.run(["nft", "list", "table", "inet", "l4lb"], capture_output=True, text=True)
    return r.stdout if r.returncode == 0 else None

def foreign_intact():
    return sh("nft list table inet foreign") == FOREIGN

def answered(counts, n):
    """All n connections answered, by both backends."""
    return sorted(counts) == ["b1", "b2"] and sum(counts.values()) == n

def unanswered(counts, n):
    return sum(v for k, v in counts.items() if k.startswith("error:")) == n

def traffic(tag, web_answers=True, plain_answers=False):
    # A connection that should be answered gets the lab's stretched timeout (a guest emulated
    # beside other guests can stall for seconds: one answered connection timed out at 2 s in
    # a local run); one that should not be answered waits a short fixed time.
    def wait(answers):
        return 2.0 * lab.time_scale() if answers else 1.5
    r = {"web4": g.count("c1", "10.0.100.1", 80, 4, timeout=wait(web_answers)),
         "web6": g.count("c1", "fd00:100::1", 80, 4, timeout=wait(web_answers)),
         "dns4": g.count("c1", "10.0.100.1", 53, 4, proto="udp", timeout=wait(True)),
         "plain4": g.count("c1", "10.0.100.2", 80, 2, timeout=wait(plain_answers))}
    save(f"traffic-{tag}.json", json.dumps(r, indent=1))
    print(tag, r, flush=True)
    return r

g = Guest(clients=1, backends=2).setup()
g.add_vip("10.0.100.1")
g.add_vip("10.0.100.2")
g.add_vip("fd00:100::1")
sh("ip addr add 10.1.0.2/24 dev brb")  # the configured SNAT source of dns4
for b in g.backends:
    g.start_echo(b, 80, "tcp")
    g.start_echo(b, 53, "udp")
    # No route back to the clients: only translated traffic can be answered.
    sh("ip route del default && ip -6 route del default", ns=b)
save("backend-routes.txt", sh("ip route; ip -6 route", ns="b1"))
subprocess.run(["nft", "-f", "-"], input=FOREIGN, text=True, check=True)
check("conntrack of IPVS is off before the start", sh("sysctl -n net.ipv4.vs.conntrack").strip() == "0")

d = g.daemon("snat", config())
d.start()
d.wait_status()
check("all four services programmed", wait_for(lambda: ipvsadm_table().count("Masq") == 8, 30, 0.2),
      ipvsadm_table())
check("table inet l4lb written", wait_for(lambda: table() is not None, 20, 0.2), d.log()[-2000:])
save("table-start.txt", table() or "")
t = table() or ""
check("the table has the three SNAT rules",
      "ct original ip daddr 10.0.100.1 ct original proto-dst 80 masquerade" in t and
      "ct original ip6 daddr fd00:100::1 ct original proto-dst 80 masquerade" in t and
      "meta l4proto udp ct original ip daddr 10.0.100.1 ct original proto-dst 53 snat ip to 10.1.0.2" in t
      and "10.0.100.2" not in t, t)
check("net.ipv4.vs.conntrack set to 1 for SNAT",
      sh("sysctl -n net.ipv4.vs.conntrack").strip() == "1")
check("foreign table intact after start", foreign_intact(), sh("nft list ruleset"))

r = traffic("start")
check("IPv4 with SNAT (masquerade): every connection answered", answered(r["web4"], 4), r)
check("IPv6 with SNAT (masquerade): every connection answered", answered(r["web6"], 4), r)
check("UDP with SNAT to a configured source: every datagram answered", answered(r["dns4"], 4), r)
check("without SNAT the backends cannot answer (no route back)", unanswered(r["plain4"], 2), r)

# What the backend sees: the balancer's address, not the client's.
conn = g.connect("c1", "10.0.100.1", 80)
peers = sh("ss -tnH state established", ns=conn.backend)
save("backend-peers.txt", peers)
check("the backend's peer is the balancer (10.1.0.1), not the client",
      ("[::ffff:10.1.0.1]:" in peers or " 10.1.0.1:" in peers) and "10.0.0.11" not in peers,
      peers)
conn.close()

st = d.status()
save("status-start.json", json.dumps(st.get("nft"), indent=1))
check("status: table in sync with 3 SNAT rules",
      st["nft"]["in_sync"] and st["nft"]["snat_rules"] == 3 and st["nft"]["error"] is None, st["nft"])
check("l4lbctl status shows the table", "nftables: table inet l4lb: 3 SNAT rules, 0 mark rules, in sync"
      in ctl(d, "status").stdout)

# Reload: SNAT off for web, on for plain.
d.write_config(config(web=False, plain=True))
rr = ctl(d, "reload")
check("reload moving SNAT succeeds", rr.returncode == 0, rr.stdout + rr.stderr)
r = traffic("reload", web_answers=False, plain_answers=True)
check("after reload: plain4 now answered", answered(r["plain4"], 2), r)
check("after reload: web4 and web6 no longer answered",
      unanswered(r["web4"], 4) and unanswered(r["web6"], 4), r)
check("foreign table intact after reload", foreign_intact())

# Back, then drift: delete the table behind the daemon's back.
d.write_config(config())
check("reload back", ctl(d, "reload").returncode == 0)
sh("nft delete table inet l4lb")
check("deleted table restored by the periodic check",
      wait_for(lambda: table() is not None, 30, 0.5), d.log()[-2000:])
# The table is visible as soon as the worker's transaction commits; the loop's copy of the
# counters follows with the job's continuation, a moment later.
check("repair counted", wait_for(lambda: d.status()["nft"]["repairs_total"] == 1, 10, 0.2),
      d.status()["nft"])
r = traffic("repaired")
check("after the repair: IPv4 and IPv6 answered", answered(r["web4"], 4) and answered(r["web6"], 4), r)

# Restart: adopted, not rewritten; traffic flows.
before = table()
d.kill(lab.signal.SIGTERM)
check("table kept across the stop", table() == before)
d.start()
d.wait_status()
st = d.status()
check("restart adopts the table without writing it",
      st["nft"]["adoptions_total"] == 1 and st["nft"]["applies_total"] == 0 and st["nft"]["in_sync"],
      st["nft"])
r = traffic("restart")
check("after the restart: IPv4, IPv6, UDP answered",
      answered(r["web4"], 4) and answered(r["web6"], 4) and answered(r["dns4"], 4), r)

# No SNAT left: the table goes, the foreign one stays.
d.write_config(config(web=False, plain=False, dns=False))
check("reload without SNAT", ctl(d, "reload").returncode == 0)
check("table deleted when no longer needed", table() is None, table())
d.kill(lab.signal.SIGTERM)
check("foreign table intact after stop", foreign_intact(), sh("nft list ruleset"))
save("l4lbd.log", d.log())
finish()
'''


@unittest.skipIf(lab.available(), lab.available())
class SnatInLab(unittest.TestCase):
    def test_snat(self):
        import inspect
        script = GUEST.replace("__CONFIG_FN__", "None\n" + inspect.getsource(config))
        with lab.Lab("snat") as l:
            r = l.run(script, timeout=400, modules=NFT_MODULES)
            print(r.stdout)
            if r.rc != 0:
                print(r.report())
            r.check()


if __name__ == "__main__":
    testmain.main()
