#!/usr/bin/env python3
"""UDP one-packet scheduling and the namespace-wide IPVS settings against real IPVS (one UML
boot). A UDP service with `one_packet: true` spreads 300 datagrams sent from ONE client source
port over its three backends, while the same stream to a service without it lands on one
backend; a reload turning it on edits that service in place (`ipvsadm -Ln` shows `ops`).
`ipvs.timeouts` show up in `ipvsadm -L --timeout` after start and after a reload that changes
them; `ipvs.sysctls` read back from /proc/sys/net/ipv4/vs; a write refused by a read-only
/proc/sys (what ProtectKernelTunables does) is an error in the log and status, and the daemon
keeps running."""
import unittest

import lab
import testmain


def config(plain_ops=False, timeouts="{tcp: 1000s, tcpfin: 60s, udp: 45s}",
           sysctls="{conntrack: 1, expire_nodest_conn: 1, expire_quiescent_template: 1}"):
    text = f"""
ipvs:
  timeouts: {timeouts}
  sysctls: {sysctls}
services:
"""
    for name, port, ops in (("traps", 162, True), ("plain", 163, plain_ops)):
        text += f"""  - name: {name}
    vip: 10.0.100.1
    port: {port}
    protocol: udp
    scheduler: rr
    one_packet: {str(ops).lower()}
    health: {{type: none}}
    backends: [10.1.0.11, 10.1.0.12, 10.1.0.13]
"""
    return text


GUEST = r'''
import json, socket, subprocess, time
import lab
from lab import check, finish, sh, Guest, save, wait_for, ipvsadm_table, BUILD_DIR

config = __CONFIG_FN__

def ctl(d, *args):
    return subprocess.run([str(BUILD_DIR / "src/ctl/l4lbctl"), "-s", d.sock, *args],
                          capture_output=True, text=True, timeout=30)

def one_port_stream(port, n=300, src_port=40000):
    """n datagrams to the VIP from ONE socket (one source port) in c1; counts replies by the
    answering backend's name, and by the address the reply came from."""
    code = f"""
import json, socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", {src_port}))
s.settimeout(1)
by_name, by_source, lost = {{}}, {{}}, 0
for i in range({n}):
    s.sendto(b"x%d" % i, ("10.0.100.1", {port}))
    try:
        data, peer = s.recvfrom(1000)
    except OSError:
        lost += 1
        if lost == 5:
            s.settimeout(0.05)  # replies are not coming: do not wait a second for each
        continue
    name = data.decode().partition(":")[0]
    by_name[name] = by_name.get(name, 0) + 1
    by_source[peer[0]] = by_source.get(peer[0], 0) + 1
print(json.dumps({{"backends": by_name, "sources": by_source, "lost": lost}}))
"""
    return json.loads(sh(f"python3 -c {lab._shq(code)}", ns="c1", timeout=120))

def dest_inpkts(port):
    """Per-destination InPkts of VIP:port from ipvsadm -Ln --stats --exact. The kernel folds
    its per-CPU counters into these every 2 s (the rate estimator), so wait for a fold first:
    read at once they lag (189 of 300 in one run)."""
    time.sleep(2.5)
    out, rows, inside = sh("ipvsadm -Ln --stats --exact"), {}, False
    for line in out.splitlines():
        w = line.split()
        if w and w[0] == "UDP":
            inside = w[1] == f"10.0.100.1:{port}"
        elif inside and w and w[0] == "->" and w[1].startswith("10.1.0."):
            rows[w[1]] = int(w[3])
    return rows

def service_line(port):
    for line in ipvsadm_table().splitlines():
        w = line.split()
        if len(w) > 1 and w[0] == "UDP" and w[1] == f"10.0.100.1:{port}":
            return line
    return ""

def timeouts():
    return sh("ipvsadm -L --timeout").strip()

def sysctl(name):
    with open(f"/proc/sys/net/ipv4/vs/{name}") as f:
        return int(f.read())

g = Guest(clients=1, backends=3).setup()
g.add_vip("10.0.100.1")
for b in g.backends:
    for port in (162, 163):
        g.start_echo(b, port, "udp")
kernel_defaults = timeouts()
save("timeouts-before.txt", kernel_defaults)
sysctls_before = {n: sysctl(n) for n in ("conntrack", "expire_nodest_conn", "expire_quiescent_template")}
save("sysctls-before.json", json.dumps(sysctls_before))

d = g.daemon("udp", config())
d.start()
st = d.wait_status()
check("both services programmed with 3 backends",
      wait_for(lambda: ipvsadm_table().count("Masq") == 6, 20, 0.2), ipvsadm_table())
save("ipvsadm-start.txt", ipvsadm_table())

# 1. Timeouts and sysctls at start.
check("ipvsadm -L --timeout shows the configured timeouts",
      timeouts() == "Timeout (tcp tcpfin udp): 1000 60 45", f"before: {kernel_defaults!r} now: {timeouts()!r}")
vals = {n: sysctl(n) for n in ("conntrack", "expire_nodest_conn", "expire_quiescent_template")}
check("sysctls read back as configured", vals == {"conntrack": 1, "expire_nodest_conn": 1,
      "expire_quiescent_template": 1}, f"before {sysctls_before} now {vals}")
tuning = d.status()["ipvs"]["tuning"]
save("status-tuning-start.json", json.dumps(tuning, indent=1))
check("status reports the kernel's timeouts", tuning["timeouts"]["kernel"] ==
      {"tcp": 1000, "tcpfin": 60, "udp": 45} and tuning["timeouts"]["error"] is None, tuning)
check("status reports the sysctls without error",
      [(s["name"], s["value"], s["error"]) for s in tuning["sysctls"]] ==
      [("conntrack", 1, None), ("expire_nodest_conn", 1, None), ("expire_quiescent_template", 1, None)],
      tuning)
text = ctl(d, "status").stdout
check("l4lbctl status shows timeouts and sysctls",
      "IPVS timeouts: tcp 1000s tcpfin 60s udp 45s" in text and
      "IPVS sysctls: conntrack=1 expire_nodest_conn=1 expire_quiescent_template=1" in text, text)

# 2. One-packet scheduling: one source port, 300 datagrams.
check("ipvsadm -Ln shows ops on the one_packet service only",
      service_line(162).split()[-1] == "ops" and "ops" not in service_line(163),
      f"{service_line(162)!r} {service_line(163)!r}")
ops_run = one_port_stream(162)
plain_run = one_port_stream(163, src_port=40001)
ops_stats, plain_stats = dest_inpkts(162), dest_inpkts(163)
save("spread.json", json.dumps({"ops": ops_run, "plain": plain_run, "ops_inpkts": ops_stats,
                                "plain_inpkts": plain_stats}, indent=1))
print("one_packet:", ops_run, ops_stats)
print("plain:", plain_run, plain_stats)
check("one_packet: IPVS sent 300 datagrams, each backend about a third (rr: 100 each)",
      sum(ops_stats.values()) == 300 and all(90 <= v <= 110 for v in ops_stats.values())
      and len(ops_stats) == 3, ops_stats)
check("one_packet: every backend answered about a third",
      sorted(ops_run["backends"]) == ["b1", "b2", "b3"] and
      all(90 <= v <= 110 for v in ops_run["backends"].values()), ops_run)
check("without one_packet: all 300 datagrams from one port reach one backend",
      len(plain_run["backends"]) == 1 and sum(plain_run["backends"].values()) == 300, plain_run)
check("without one_packet: IPVS counted them on one destination",
      sorted(plain_stats.values())[:2] == [0, 0], plain_stats)
check("without one_packet: replies come from the VIP",
      plain_run["sources"] == {"10.0.100.1": 300}, plain_run)
# Documented (CONFIG.md, and a config warning): with nat and no connection entry, replies
# leave untranslated, from the backend's own address.
check("one_packet with nat: replies are not translated back to the VIP",
      "10.0.100.1" not in ops_run["sources"], ops_run)

# 3. Reload: one_packet on for `plain` (an edit, not delete + add), new timeouts (tcpfin
#    dropped from the file: stays at the last value written), conntrack back to 0.
ops_before = d.status()["ipvs"]["operations_total"]
d.write_config(config(plain_ops=True, timeouts="{tcp: 2000s, udp: 30s}",
                      sysctls="{conntrack: 0, expire_nodest_conn: 1, expire_quiescent_template: 1}"))
r = ctl(d, "reload")
check("reload succeeds", r.returncode == 0, r.stdout + r.stderr)
check("reload lists the changes", "ipvs.timeouts" in r.stdout and "ipvs.sysctls" in r.stdout
      and "one_packet" in r.stdout, r.stdout)
check("ipvsadm -Ln shows ops on both after the reload",
      service_line(162).split()[-1] == "ops" and service_line(163).split()[-1] == "ops",
      ipvsadm_table())
ops_after = d.status()["ipvs"]["operations_total"]
check("turning one_packet on was exactly one operation (an edit)", ops_after - ops_before == 1,
      f"{ops_before} -> {ops_after}")
check("timeouts after reload", timeouts() == "Timeout (tcp tcpfin udp): 2000 60 30", timeouts())
check("conntrack written back to 0", sysctl("conntrack") == 0)
sh("ipvsadm -Z")
again = one_port_stream(163, src_port=40002)
again_stats = dest_inpkts(163)
save("spread-after-reload.json", json.dumps({"plain_now_ops": again, "inpkts": again_stats}, indent=1))
print("plain after reload:", again, again_stats)
# Spread evenly over all three. (Under QEMU's emulation IPVS counted only about half of the
# 300 datagrams here, 152 in one run, while the first service counted all 300: not explained
# yet, so the check is on the spread, not the total.)
total = sum(again_stats.values())
check("after the reload every backend answered a third of the 300",
      sorted(again["backends"].values()) == [100, 100, 100], again)
check("after the reload the second service spreads one source port too",
      len(again_stats) == 3 and total >= 100
      and max(again_stats.values()) - min(again_stats.values()) <= total // 10, again_stats)

# 4. A read-only /proc/sys/net/ipv4/vs (as ProtectKernelTunables makes it): the write fails,
#    the error is in the log and in status, the daemon keeps running and applies the rest.
sh("mount --bind /proc/sys/net/ipv4/vs /proc/sys/net/ipv4/vs && "
   "mount -o remount,bind,ro /proc/sys/net/ipv4/vs")
d.write_config(config(plain_ops=True, timeouts="{tcp: 2000s, udp: 20s}",
                      sysctls="{conntrack: 1, expire_nodest_conn: 1, expire_quiescent_template: 1}"))
r = ctl(d, "reload")
check("reload with a read-only /proc/sys still succeeds", r.returncode == 0, r.stdout + r.stderr)
tuning = d.status()["ipvs"]["tuning"]
save("status-tuning-readonly.json", json.dumps(tuning, indent=1))
ct = [s for s in tuning["sysctls"] if s["name"] == "conntrack"][0]
# Either the write is refused (EROFS, with the systemd hint) or it does not stick (read back
# 0): status says so either way and the daemon goes on.
check("status reports that conntrack is not as configured",
      ct["value"] == 0 and ct["error"] and ("Read-only file system" in ct["error"]
                                            or "configured 1" in ct["error"]), ct)
check("the log has the error", "conntrack" in d.log() and "ipvs sysctl" in d.log(),
      d.log()[-1500:])
check("timeouts still applied over netlink", timeouts() == "Timeout (tcp tcpfin udp): 2000 60 20",
      timeouts())
check("daemon still running", d.proc.poll() is None)
text = ctl(d, "status").stdout
check("l4lbctl status shows the error", "IPVS sysctl conntrack: ERROR" in text, text)
sh("umount /proc/sys/net/ipv4/vs")

save("status.json", json.dumps(d.status(), indent=1))
save("ipvsadm.txt", ipvsadm_table())
d.kill(lab.signal.SIGTERM)
finish()
'''


@unittest.skipIf(lab.available(), lab.available())
class UdpTuningInLab(unittest.TestCase):
    def test_one_packet_timeouts_sysctls(self):
        import inspect
        script = GUEST.replace("__CONFIG_FN__", "None\n" + inspect.getsource(config))
        with lab.Lab("udp") as l:
            r = l.run(script, timeout=400)
            print(r.stdout)
            if r.rc != 0:
                print(r.report())
            for name in ("spread.json", "spread-after-reload.json", "status-tuning-start.json"):
                print(f"--- {name}\n{r.files.get(name, '')}")
            r.check()


if __name__ == "__main__":
    testmain.main()
