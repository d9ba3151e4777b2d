#!/usr/bin/env python3
"""Issue 11's VRRP-timing scenario beside keepalived, inside one kernel-lab boot (real IPVS;
tests/pylib/lab.py: Debian's kernel under QEMU TCG on this host, or UML).

For each of l4lbd and keepalived in turn, in fresh network namespaces on a bridge: a master
(priority 200) and a backup (priority 100), VRRPv3 at the same advert interval; the master
carries SERVICES TCP services x BACKENDS TCP-checked real servers (every 5 s, timeout 1 s,
down on the first failure, up on the first success) programmed into IPVS (NAT, rr), the same
services for both daemons; one backends' namespace listens on 1,000 ports and closes FLAP % of
the backends' ports each second (bench/stability.py's flapper), so checks fail and recover.
A passive capture in the backup's namespace times the master's adverts with kernel receive
timestamps (tests/netns/test_stability.py's capture). Every 5 s a reload (SIGHUP) alternately
adds and removes DELTA services, for both daemons; l4lbd also answers `status` (2 clients) and
/metrics (2 clients) every 100 ms each, as in bench/stability.py (keepalived has no
equivalent to scrape). Both run with the same real-time setting (--rt: l4lbd
`realtime_priority`, keepalived `vrrp_rt_priority` and `checker_rt_priority`; 0: none).

Before the loaded runs, an idle sweep: each daemon's pair with no services at each of
--idle intervals, to show which advert interval the emulated lab can hold at all. With
--interval auto the loaded runs use the shortest idle interval at which both daemons' idle
max gap stayed under 2 x the interval.

One JSON line per measurement on stdout ("idle", "start", "result"), then "ratio" lines
(keepalived / l4lbd of the max and p99 gap under load).

  sudo nice -n 5 python3 bench/stability_lab.py [--services 200 --backends 2 --seconds 20]
      [--interval auto|MS] [--idle 10,100,1000] [--idle-seconds 5] [--rt 10] [--keep DIR]
Under QEMU TCG (this host) 200 x 2 already saturates the guest's one emulated CPU and takes
~10 minutes with the idle sweep; figures and their reading in docs/BENCHMARKS.md.
Environment: L4LB_BUILD_DIR (default build/).
"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "pylib"))
sys.path.insert(0, os.path.join(ROOT, "tests", "netns"))
sys.path.insert(0, HERE)
import netns  # noqa: E402
import stability as sb  # noqa: E402  (flapper, l4lbd services, percentiles)
import test_stability as st  # noqa: E402  (capture, scraper, status client, addresses)

KEEPALIVED = shutil.which("keepalived") or "/usr/sbin/keepalived"
VRID = 9

# test_stability's capture, run as is; only its summary is replaced, because that one counts
# gaps against a 10 ms interval and this bench runs others. argv: source, seconds, interval_ms.
CAPTURE = "SRC = " + repr(st.CAPTURE) + r'''
import json, sys
interval = float(sys.argv[3]) / 1e3
g = {"print": lambda *a, **k: print(*a, **k) if a and a[0] == "ready" else None,
     "__name__": "capture"}
exec(compile(SRC, "capture", "exec"), g)
gaps = g["gaps"]  # sorted
print(json.dumps({"adverts": len(g["stamps"]),
                  "max_gap_ms": round(gaps[-1] * 1e3, 2) if gaps else None,
                  "p99_gap_ms": round(gaps[int(len(gaps) * 0.99)] * 1e3, 2) if gaps else None,
                  "gaps_ge_2x": sum(1 for x in gaps if x >= 2 * interval),
                  "gaps_ge_3x": sum(1 for x in gaps if x >= 3 * interval)}), flush=True)
'''


def out(d):
    print(json.dumps(d), flush=True)


# ------------------------------------------------------------------------------------------
# Configurations: the same services for both daemons.

def backend_addr(j):
    return f"10.81.{1 + j // 250}.{1 + j % 250}"


def l4lbd_vrrp(priority, interval_ms, rt):
    return (f"realtime_priority: {rt}\n"
            "vrrp:\n  - name: vi\n    interface: eth0\n    vrid: 9\n"
            f"    priority: {priority}\n    advert_interval: {interval_ms}ms\n"
            f"    vips: [{st.VIP}/24]\n")


def keepalived_conf(name, priority, interval_ms, rt, services=0, backends=0):
    text = (f"global_defs {{\n  router_id {name}\n  vrrp_version 3\n  script_user root\n")
    if rt:
        # RLIMIT_RTTIME (default 10 ms of CPU between blocking calls) would kill a real-time
        # child that works longer, as the emulated CPU makes it do: the guard is lifted, the
        # scheduling kept (keepalived.conf(5): "may need to be increased for slower
        # processors").
        text += (f"  vrrp_rt_priority {rt}\n  checker_rt_priority {rt}\n"
                 "  vrrp_rlimit_rttime 10000000\n  checker_rlimit_rttime 10000000\n")
    text += ("}\n"
             f"vrrp_instance VI {{\n  state BACKUP\n  interface eth0\n"
             f"  virtual_router_id {VRID}\n  priority {priority}\n"
             f"  advert_int {interval_ms / 1000:g}\n"
             f"  virtual_ipaddress {{\n    {st.VIP}/24 dev eth0\n  }}\n}}\n")
    for i in range(services):
        port = 20000 + i % sb.PORTS
        reals = "".join(
            f"  real_server {backend_addr(j)} {port} {{\n    weight 1\n"
            "    TCP_CHECK {\n      connect_timeout 1\n      retry 0\n    }\n  }\n"
            for j in range(backends))
        text += (f"virtual_server {st.VIP} {1024 + i} {{\n  delay_loop 5\n  lb_algo rr\n"
                 f"  lb_kind NAT\n  protocol TCP\n{reals}}}\n")
    return text


class Keepalived:
    """keepalived in a namespace, in the foreground, logging to a file under the lab."""

    def __getattr__(self, name):  # is_master(), is_backup()
        if name.startswith("is_"):
            return lambda: self.state() == name[3:].upper()
        raise AttributeError(name)

    def __init__(self, nl, ns, name, text, vrrp_only=False):
        self.nl, self.ns, self.name = nl, ns, name
        self.dir = os.path.join(nl.tmp, name)
        os.makedirs(self.dir, exist_ok=True)
        self.conf = os.path.join(self.dir, "keepalived.conf")
        self.write_config(text)
        self.cmd = [KEEPALIVED, "-n", "-l", "-D", "-f", self.conf,
                    "-p", os.path.join(self.dir, "k.pid"), "-r", os.path.join(self.dir, "v.pid"),
                    "-c", os.path.join(self.dir, "c.pid")] + (["-P"] if vrrp_only else [])
        self.proc = None

    def write_config(self, text):
        with open(self.conf, "w") as f:
            f.write(text)

    def start(self):
        self.proc = self.nl.spawn(self.ns, self.cmd, log=f"{self.name}.log")
        return self

    def reload(self):
        os.kill(self.proc.pid, signal.SIGHUP)  # `ip netns exec` execs keepalived

    def log(self):
        return self.nl.read(f"{self.name}.log")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        return netns.Lab.stop(self.proc, signal.SIGTERM, 60)

    def masters(self):
        return self.log().count("Entering MASTER STATE")

    def state(self):
        found = re.findall(r"Entering (\w+) STATE", self.log())
        return found[-1] if found else None


class L4lbdPair:
    """Adapter so both daemons look alike to the scenario."""

    def __init__(self, d):
        self.d = d

    def __getattr__(self, name):
        if name.startswith("is_"):
            return lambda: self.state() == name[3:].upper()
        return getattr(self.d, name)

    def masters(self):
        return self.d.log().count("state=MASTER")

    def state(self):
        # From the log, not `l4lbctl status`: in the emulated guest a status of 50 services
        # already takes 1-2 s, of 1,000 far longer.
        found = re.findall(r"vrrp instance=vi family=ipv4 state=(\w+)", self.d.log())
        return found[-1] if found else None


def make_daemon(impl, nl, ns, name, priority, interval_ms, rt, services=0, backends=0,
                metrics=False):
    if impl == "keepalived":
        return Keepalived(nl, ns, name, keepalived_conf(name, priority, interval_ms, rt, services,
                                                        backends), vrrp_only=services == 0)
    body = (f"metrics: {{listen: \"{st.METRICS}\"}}\n" if metrics else "") + l4lbd_vrrp(
        priority, interval_ms, rt)
    if services:
        body += sb.services_body(services, backends)
    return L4lbdPair(netns.L4lbd(nl, ns, name, body, log_level="info"))


def config_text(impl, name, priority, interval_ms, rt, services, backends):
    if impl == "keepalived":
        return keepalived_conf(name, priority, interval_ms, rt, services, backends)
    return (f"metrics: {{listen: \"{st.METRICS}\"}}\n" + l4lbd_vrrp(priority, interval_ms, rt) +
            sb.services_body(services, backends))


def topology(nl, backends):
    hub = nl.bridge()
    m, b, be = nl.node("m"), nl.node("b"), nl.node("be")
    nl.link(m, hub, "eth0", [f"{st.MASTER_IP}/24"])
    nl.link(b, hub, "eth0", [f"{st.BACKUP_IP}/24"])
    nl.link(be, hub, "eth0", [f"{st.BACKEND_IP}/24"])
    for j in range(backends):
        nl.run(be, ["ip", "addr", "add", f"{backend_addr(j)}/32", "dev", "eth0"])
    nl.run(m, ["ip", "route", "add", "10.81.0.0/16", "via", st.BACKEND_IP])
    nl.run(m, ["ip", "route", "replace", "10.81.0.0/24", "dev", "eth0"])
    return m, b, be


def ipvs_services(nl, ns):
    r = nl.run(ns, ["ipvsadm", "-Ln"], check=False, timeout=120)
    return sum(1 for line in r.stdout.splitlines() if line.startswith("TCP "))


def start_capture(nl, ns, seconds, interval_ms):
    p = nl.spawn(ns, ["python3", "-c", CAPTURE, st.MASTER_IP, str(seconds), str(interval_ms)],
                 stdout=subprocess.PIPE)
    assert p.stdout.readline().strip() == b"ready"
    return p


def _cpu(path):
    """utime + stime in seconds from a /proc .../stat file, or 0 when it is gone."""
    try:
        with open(path) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_by_part(impl, d):
    """CPU seconds so far per part of the daemon: l4lbd per thread name (the loop is the
    thread named l4lbd whose id is the pid), keepalived per process (parent, vrrp, checker)."""
    parts = {}
    if impl == "l4lbd":
        pid = d.proc.pid
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/comm") as f:
                    name = f.read().strip()
            except OSError:
                continue
            name = "loop" if int(tid) == pid else name
            parts[name] = parts.get(name, 0.0) + _cpu(f"/proc/{pid}/task/{tid}/stat")
        return parts
    parts["parent"] = _cpu(f"/proc/{d.proc.pid}/stat")
    for part, pidfile in (("vrrp", "v.pid"), ("checker", "c.pid")):
        try:
            with open(os.path.join(d.dir, pidfile)) as f:
                parts[part] = _cpu(f"/proc/{int(f.read().strip())}/stat")
        except (OSError, ValueError):
            pass
    return parts


def cpu_delta(before, after):
    return {k: round(v - before.get(k, 0.0), 2) for k, v in after.items()}


def keep_logs(nl, tag):
    """Copy the daemons' logs to $LAB_OUT (the host gets them back with --keep)."""
    dest = os.environ.get("LAB_OUT")
    if not dest:
        return
    for name in os.listdir(nl.tmp):
        if name.endswith(".log"):
            shutil.copy(os.path.join(nl.tmp, name), os.path.join(dest, f"{tag}-{name}"))


# ------------------------------------------------------------------------------------------
# Guest side.

def idle(impl, interval_ms, seconds, rt):
    """The pair alone: no services, no load."""
    with netns.Lab("i") as nl:
        m, b, _ = topology(nl, 0)
        master = make_daemon(impl, nl, m, "master", 200, interval_ms, rt)
        backup = make_daemon(impl, nl, b, "backup", 100, interval_ms, rt)
        master.start()
        netns.wait_until(master.is_master, 120, 0.1, what=f"{impl} master")
        backup.start()
        netns.wait_until(backup.is_backup, 120, 0.1, what=f"{impl} backup")
        time.sleep(max(1.0, 5 * interval_ms / 1000))
        cap = start_capture(nl, b, seconds, interval_ms)
        gaps = json.loads(cap.stdout.readline())
        for d in (backup, master):
            d.stop()
        r = {"phase": "idle", "impl": impl, "interval_ms": interval_ms, "seconds": seconds,
             "rt": rt, **gaps, "backup_master_entries": backup.masters()}
        keep_logs(nl, f"idle-{impl}-{interval_ms}")
    out(r)
    return r


def loaded(impl, a, interval_ms):
    with netns.Lab("l") as nl:
        m, b, be = topology(nl, a.backends)
        per_port = max(1, a.services // sb.PORTS) * a.backends
        flap_ports = min(sb.PORTS // 2,
                         round(a.services * a.backends * a.flap / 100 / per_port))
        fl = nl.spawn(be, ["python3", "-c", sb.FLAPPER, str(sb.PORTS), str(flap_ports)],
                      stdout=subprocess.PIPE)
        assert fl.stdout.readline().strip() == b"ready"
        master = make_daemon(impl, nl, m, "master", 200, interval_ms, a.rt, a.services,
                             a.backends, metrics=True)
        backup = make_daemon(impl, nl, b, "backup", 100, interval_ms, a.rt)
        t0 = time.monotonic()
        master.start()
        netns.wait_until(lambda: master.is_master() or not master.alive(), 900, 0.2,
                         what=f"{impl} master")
        to_master = time.monotonic() - t0
        netns.wait_until(lambda: ipvs_services(nl, m) >= a.services or not master.alive(), 900,
                         0.5, what=f"{impl} programs {a.services} services")
        programmed = time.monotonic() - t0
        assert master.alive(), master.log()[-3000:]
        out({"phase": "start", "impl": impl, "services": a.services, "backends": a.backends,
             "interval_ms": interval_ms, "to_master_s": round(to_master, 2),
             "to_programmed_s": round(programmed, 2)})
        backup.start()
        netns.wait_until(backup.is_backup, 120, 0.1, what=f"{impl} backup")
        time.sleep(2)
        cpu0 = cpu_by_part(impl, master)
        cap = start_capture(nl, b, a.seconds, interval_ms)
        stop = time.monotonic() + a.seconds
        lat, errors, threads, scraper = [], [], [], None
        if impl == "l4lbd":
            scraper = nl.spawn(m, ["python3", "-c", st.SCRAPER, st.METRICS, str(a.seconds),
                                   str(a.clients)], stdout=subprocess.PIPE)
            threads = st.start_status_clients(master.sock, stop, a.clients, lat, errors)
        reloads, grow = 0, True
        while time.monotonic() < stop:
            time.sleep(min(5, max(0, stop - time.monotonic())))
            if time.monotonic() >= stop - 0.5:
                break
            n = a.services + a.delta if grow else a.services
            master.write_config(config_text(impl, "master", 200, interval_ms, a.rt, n,
                                            a.backends))
            master.reload()
            reloads, grow = reloads + 1, not grow
        for t in threads:
            t.join()
        gaps = json.loads(cap.stdout.readline())
        cpu = cpu_delta(cpu0, cpu_by_part(impl, master))
        r = {"phase": "result", "impl": impl, "services": a.services, "backends": a.backends,
             "interval_ms": interval_ms, "seconds": a.seconds, "rt": a.rt, "reloads": reloads,
             "flap_ports_per_s": flap_ports, **gaps, "master_cpu_s": cpu,
             "master_alive": master.alive()}
        if impl == "l4lbd":
            scrapes = json.loads(scraper.stdout.readline())
            r.update({"status_requests": len(lat), "status_errors": len(errors),
                      "status_p99_ms": round((sb.pctl(lat, 0.99) or 0) * 1e3, 1),
                      "status_max_ms": round(max(lat or [0]) * 1e3, 1), "scrapes": scrapes})
        else:
            r["reloads_logged"] = master.log().count("Reloading")
        for d in (backup, master):
            d.stop()
        # Over the backup's whole life (it starts after the master holds the VIP, so every
        # MASTER entry is a would-be split brain), counted once its log is complete.
        r["backup_master_entries"] = backup.masters()
        keep_logs(nl, f"load-{impl}")
    out(r)
    return r


def guest(a):
    impls = a.impl.split(",")
    interval = a.interval
    idle_results = []
    for ms in [int(x) for x in a.idle.split(",") if x]:
        for impl in impls:
            secs = max(a.idle_seconds, 20 * ms / 1000)
            idle_results.append(idle(impl, ms, secs, a.rt))
    if interval == "auto":
        ok = sorted({r["interval_ms"] for r in idle_results} - {
            r["interval_ms"] for r in idle_results
            if r["max_gap_ms"] is None or r["max_gap_ms"] >= 2 * r["interval_ms"]})
        if not ok:
            out({"phase": "choice", "error": "no idle interval held under 2 x"})
            return 1
        interval = ok[0]
        out({"phase": "choice", "interval_ms": interval,
             "rule": "shortest idle interval with every daemon's max gap < 2 x interval"})
    if a.seconds <= 0:
        return 0
    results = {impl: loaded(impl, a, int(interval)) for impl in impls}
    if {"l4lbd", "keepalived"} <= results.keys():
        l, k = results["l4lbd"], results["keepalived"]
        out({"phase": "ratio", "what": "keepalived / l4lbd",
             "max_gap": round(k["max_gap_ms"] / l["max_gap_ms"], 2),
             "p99_gap": round(k["p99_gap_ms"] / l["p99_gap_ms"], 2)})
    return 0


# ------------------------------------------------------------------------------------------
# Host side.

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--services", type=int, default=200)
    ap.add_argument("--backends", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=20, help="loaded run per daemon (0: none)")
    ap.add_argument("--delta", type=int, help="services added/removed per reload "
                    "(default: half of --services)")
    ap.add_argument("--clients", type=int, default=2)
    ap.add_argument("--flap", type=float, default=1.0, help="%% of backends flapping per second")
    ap.add_argument("--interval", default="auto", help="advert interval in ms, or auto")
    ap.add_argument("--idle", default="10,100,1000", help="idle sweep intervals (ms), '' none")
    ap.add_argument("--idle-seconds", type=float, default=5)
    ap.add_argument("--rt", type=int, default=10, help="real-time priority for both (0: none)")
    ap.add_argument("--impl", default="l4lbd,keepalived")
    ap.add_argument("--timeout", type=int, default=1500, help="guest timeout before time_scale")
    ap.add_argument("--keep", help="copy the guest's logs into this folder")
    ap.add_argument("--guest", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.delta is None:
        a.delta = a.services // 2
    if a.guest:
        return guest(a)
    import lab  # host side only
    why = lab.available()
    if why:
        out({"bench": "stability_lab", "skipped": why})
        return 77
    argv, skip = [], False
    for x in sys.argv[1:]:  # the guest gets every option but --keep
        if skip or x.startswith("--keep"):
            skip = x == "--keep" and not skip
            continue
        argv.append(x)
    script = ("import runpy, sys\n"
              f"sys.argv = [{os.path.abspath(__file__)!r}, '--guest'] + {argv!r}\n"
              f"runpy.run_path(sys.argv[0], run_name='__main__')\n")
    with lab.Lab("stab", mem="2048M") as l:
        r = l.run(script, timeout=a.timeout)
    if a.keep:
        os.makedirs(a.keep, exist_ok=True)
        for name, text in r.files.items():
            with open(os.path.join(a.keep, name), "w") as f:
                f.write(text)
    sys.stdout.write(r.stdout)
    if r.rc != 0 or r.timed_out:
        print(r.report(), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
