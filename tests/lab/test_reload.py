#!/usr/bin/env python3
"""The reload transaction against real IPVS and a real VRRP instance (one UML boot), with
traffic flowing: adding a port makes it reachable while a long-lived TCP connection on another
port survives; removing a backend removes exactly it; a broken file leaves `ipvsadm -Ln`, the
VIPs and the VRRP state byte-for-byte unchanged; ten reloads of an unchanged file issue zero
netlink operations and zero VRRP transitions."""
import unittest

import lab
import testmain


def config(ports=(80,), backends=(11, 12, 13), broken=False):
    text = """
vrrp:
  - name: front
    interface: brc
    vrid: 40
    priority: 150
    advert_interval: 100ms
    vips: [10.0.0.100/24, "fd00:c::100/64"]
services:
"""
    for port in ports:
        text += f"""  - name: web{port}
    vip: 10.0.0.100
    port: {port}
    scheduler: rr
    health: {{type: tcp, interval: 500ms, timeout: 300ms, rise: 1, fall: 2}}
    backends:
"""
        for b in backends:
            text += f"      - {{address: 10.1.0.{b}, port: 8080}}\n"
    if broken:
        text += "    bogus_key: 1\n  - name: web80\n    vip: not-an-address\n"
    return text


GUEST = r'''
import json, subprocess
import lab
from lab import check, finish, sh, Guest, save, wait_for, ipvsadm_table, BUILD_DIR

config = __CONFIG_FN__

def ctl(d, *args):
    return subprocess.run([str(BUILD_DIR / "src/ctl/l4lbctl"), "-s", d.sock, *args],
                          capture_output=True, text=True, timeout=30)

def vrrp_state(d):
    return [{k: i[k] for k in ("name", "family", "state", "priority", "since", "transitions",
                               "master")} for i in d.status()["vrrp"]]

def ipvs_config():
    """ipvsadm -Ln without the connection counters, which move with traffic and timers."""
    rows = []
    for line in ipvsadm_table().splitlines():
        w = line.split()
        rows.append(" ".join(w[:4]) if w and w[0] == "->" else line)
    return "\n".join(rows) + "\n"

def addrs():
    return sh("ip -o addr show dev brc")

g = Guest(clients=2, backends=3).setup()
for b in g.backends:
    g.start_echo(b, 8080, "tcp")

d = g.daemon("reload", config((80,)))
d.start()
d.wait_status()
check("becomes MASTER", wait_for(lambda: all(i["state"] == "MASTER" for i in d.status()["vrrp"]), 20, 0.1),
      d.status()["vrrp"])
check("backends up and programmed", wait_for(
    lambda: ipvsadm_table().count("Masq") == 3, 20, 0.2), ipvsadm_table())
first = g.count("c1", "10.0.0.100", 80, 6)
check("port 80 answers through the VIP", first == {"b1": 2, "b2": 2, "b3": 2}, first)

held = g.connect("c2", "10.0.0.100", 80)
check("long-lived connection open", held.backend in ("b1", "b2", "b3"), held.backend)

# 1. Add port 81.
before = ipvs_config()
d.write_config(config((80, 81)))
r = ctl(d, "reload")
check("reload adding a port succeeds", r.returncode == 0, r.stdout + r.stderr)
def port_dests(port):
    """Destinations under VIP:port in ipvsadm -Ln."""
    section = ipvsadm_table().split(f"10.0.0.100:{port} ")
    return section[1].split("TCP")[0].count("Masq") if len(section) > 1 else -1

# The new service's backends join after their first passing check (wait_first_check).
check("port 81 is programmed with its backends once checked",
      wait_for(lambda: port_dests(81) == 3, 10, 0.2), ipvsadm_table())
added = g.count("c1", "10.0.0.100", 81, 6)
check("port 81 reachable after reload", sum(v for k, v in added.items() if not k.startswith("error")) == 6, added)
check("long-lived connection survived", held.ask("after-add") == held.backend)
after = ipvs_config()
check("port 80's table untouched", before.split("TCP")[1] in after, f"{before}\n---\n{after}")

# 2. Remove one backend (not the one holding the long-lived connection).
victim = [b for b in ("b1", "b2", "b3") if b != held.backend][0]
victim_ip = {"b1": 11, "b2": 12, "b3": 13}[victim]
keep = tuple(x for x in (11, 12, 13) if x != victim_ip)
before = ipvs_config()
d.write_config(config((80, 81), backends=keep))
r = ctl(d, "reload")
check("reload removing a backend succeeds", r.returncode == 0, r.stdout + r.stderr)
after = ipvs_config()
gone = [line for line in before.splitlines() if line not in after.splitlines()]
check("exactly the removed backend's two destinations are gone",
      len(gone) == 2 and all(f"10.1.0.{victim_ip}:8080" in line for line in gone), gone)
check("nothing was added", all(line in before.splitlines() for line in after.splitlines()),
      f"{before}\n---\n{after}")
check("long-lived connection survived the removal", held.ask("after-remove") == held.backend)
spread = g.count("c1", "10.0.0.100", 80, 6)
check("removed backend gets no new connections", victim not in spread and
      sum(spread.values()) == 6, spread)

# 3. A broken file changes nothing.
table, vips, state, ops = ipvs_config(), addrs(), vrrp_state(d), d.status()["ipvs"]["operations_total"]
d.write_config(config((80,), broken=True))
r = ctl(d, "reload")
check("broken reload is rejected", r.returncode == 1, r.stdout + r.stderr)
check("every error reported with its position", r.stderr.count("l4lb.yaml:") >= 2, r.stderr)
check("ipvsadm -Ln unchanged", ipvs_config() == table, f"{table}\n---\n{ipvs_config()}")
check("VIPs unchanged", addrs() == vips)
check("VRRP state unchanged", vrrp_state(d) == state, f"{state}\n{vrrp_state(d)}")
check("no netlink operation", d.status()["ipvs"]["operations_total"] == ops)
check("connection still up", held.ask("after-broken") == held.backend)

# 4. Ten reloads of an unchanged file: zero operations, zero transitions.
d.write_config(config((80, 81), backends=keep))
ops = d.status()["ipvs"]["operations_total"]
state = vrrp_state(d)
outs = [ctl(d, "reload") for _ in range(10)]
check("ten reloads succeed with no changes",
      all(o.returncode == 0 and "no changes" in o.stdout for o in outs), [o.stdout for o in outs])
check("zero netlink operations", d.status()["ipvs"]["operations_total"] == ops)
check("zero VRRP transitions", vrrp_state(d) == state, f"{state}\n{vrrp_state(d)}")
check("ipvsadm -Ln unchanged after ten reloads", ipvs_config() == table,
      f"{table}\n---\n{ipvs_config()}")

# 5. Restart after SIGKILL with health checks configured: the live destinations are adopted and
#    kept until their first check (no remove + re-add), the held connection survives, and the
#    new daemon issues no operation at all.
table = ipvs_config()
d.kill()
watch = []
d.start()
d.wait_status()
def settled():
    watch.append(ipvs_config())
    st = d.status()
    return all(c["status"] == "up" for c in st["health"]) and len(st["health"]) == 4
check("restarted daemon's checks come up", wait_for(settled, 20, 0.05), d.status()["health"])
check("the table never changed during the restart", all(t == table for t in watch),
      [t for t in watch if t != table][:1])
check("zero operations after restart", d.status()["ipvs"]["operations_total"] == 0,
      d.status()["ipvs"])
check("connection survived the restart", held.ask("after-restart") == held.backend)
check("adoption logged", "adopted" in d.log(), d.log()[-2000:])

save("status.json", json.dumps(d.status(), indent=1))
save("ipvsadm.txt", ipvsadm_table())
held.close()
d.kill(lab.signal.SIGTERM)
finish()
'''


@unittest.skipIf(lab.available(), lab.available())
class ReloadInLab(unittest.TestCase):
    def test_reload_transaction(self):
        import inspect
        script = GUEST.replace("__CONFIG_FN__", "None\n" + inspect.getsource(config))
        with lab.Lab("reload") as l:
            r = l.run(script, timeout=400)
            print(r.stdout)
            if r.rc != 0:
                print(r.report())
            r.check()


if __name__ == "__main__":
    testmain.main()
