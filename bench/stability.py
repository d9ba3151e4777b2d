#!/usr/bin/env python3
"""Issue 11's stress scenario on the host (network namespaces, no IPVS): a master (priority
200) and a backup (100) at advert_interval 10ms; the master has SERVICES services x BACKENDS
TCP-checked backends (every 5 s); CLIENTS clients ask for the full `status` document on the
control socket, one more for the summary that `l4lbctl status` shows, and CLIENTS scrape
/metrics, each every 100 ms; every 5 s a reload alternately adds and removes DELTA
services; FLAP % of the backends change state each second (listening ports closed and reopened
in the backends' namespace); for SECONDS. A passive capture in the backup's namespace times the
master's adverts (kernel timestamps).

Prints JSON lines: one per phase ("start": time to MASTER, RSS) and one "result" with the max and
p99 advert gap, the loop's lag and the workers' queue delay (from the daemon's own histograms),
status and scrape latency, peak RSS, backup transitions.
Run: sudo nice -n 5 python3 bench/stability.py [--services 10000 --backends 8 --seconds 60]
Environment: L4LB_BUILD_DIR (default build/).
"""

import argparse
import json
import re
import multiprocessing
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "pylib"))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "netns"))
import netns  # noqa: E402
import test_stability as st  # noqa: E402  (capture, scraper, status client, VRRP body)

PORTS = 1000  # backends listen on 20000..20999; a port serves every backend address

# In the backends' namespace: listens on every port; each second closes `flap` ports chosen at
# random and reopens the ones closed the second before.
FLAPPER = r'''
import random, selectors, socket, sys, time
ports, flap = int(sys.argv[1]), int(sys.argv[2])
sel = selectors.DefaultSelector(); socks = {}
def open_port(p):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", 20000 + p)); s.listen(4096); s.setblocking(False)
    sel.register(s, selectors.EVENT_READ); socks[p] = s
for p in range(ports): open_port(p)
print("ready", flush=True)
closed, nxt, rnd = [], time.monotonic() + 1, random.Random(11)
while True:
    for key, _ in sel.select(timeout=max(0, nxt - time.monotonic())):
        try:
            c, _ = key.fileobj.accept(); c.close()
        except OSError:
            pass
    if time.monotonic() >= nxt and flap:
        nxt += 1
        for p in closed: open_port(p)
        closed = rnd.sample([p for p in range(ports) if p in socks], flap)
        for p in closed:
            sel.unregister(socks[p]); socks.pop(p).close()
'''


def services_body(count, backends):
    lines = ["services:"]
    for i in range(count):
        port = 20000 + i % PORTS
        bes = ", ".join(f"{{address: 10.81.{1 + j // 250}.{1 + j % 250}, port: {port}}}"
                        for j in range(backends))
        lines.append(f"  - {{name: s{i}, vip: {st.VIP}, port: {1024 + i}, protocol: tcp, "
                     f"scheduler: rr, health: {{type: tcp, interval: 5s, timeout: 1s, rise: 1, "
                     f"fall: 1}}, backends: [{bes}]}}")
    return "\n".join(lines) + "\n"


def memory_kinds_kib(pid):
    """Resident kB by kind of mapping: the main arena ([heap]), the threads' malloc arenas
    (glibc's 64 MiB-aligned heaps), other anonymous memory (mmapped chunks, stacks), files."""
    kinds, cur = {}, None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            head = line.split()
            if "-" in head[0] and len(head) >= 5:
                lo, hi = (int(x, 16) for x in head[0].split("-"))
                name = head[5] if len(head) > 5 else ""
                if name == "[heap]":
                    cur = "main_arena"
                elif name:
                    cur = "file" if name.startswith("/") else "other"
                elif lo % (64 << 20) == 0 and head[1].startswith("rw"):
                    cur = "thread_arenas"
                else:
                    cur = "anon"
            elif head[0] == "Rss:":
                kinds[cur] = kinds.get(cur, 0) + int(head[1])
    return kinds


def status_client(sock, stop, results, view=None):
    """One status client in a process of its own, every 100 ms until the monotonic time `stop`
    (system-wide on Linux), of the full document or of `view`; puts (view, latencies, error
    texts). Not a thread: parsing one full reply
    (over 100 MB at 10,000 x 8) holds the interpreter lock for seconds, and a client thread that
    cannot read meanwhile falls 16 MiB behind the other and is rightly dropped by the daemon
    (the slow-reader cap, docs/ARCHITECTURE.md)."""
    lat, errors = [], []
    while time.monotonic() < stop:
        try:
            dt, _ = st.status_raw(sock, timeout=120, view=view)
            lat.append(dt)
        except (OSError, ValueError) as e:
            errors.append(str(e))
        time.sleep(0.1)
    results.put((view, lat, errors))


class MasterDied(Exception):
    pass


def backup_vrrp(backup):
    """The backup's instance counters that say what it heard: transitions, adverts received and
    dropped (by reason)."""
    inst = [i for i in backup.status() or [] if i["name"] == "vi"]
    if not inst:
        return None
    out = {k: inst[0][k] for k in ("state", "transitions", "adverts_received")}
    out["drops"] = nonzero_drops(inst[0])
    return out


def nonzero_drops(instance):
    """An instance's adverts dropped, by reason, leaving out the reasons never seen."""
    return {k: v for k, v in instance["drops"].items() if v}


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        fields = dict(l.split(":", 1) for l in f if ":" in l)
    if "VmRSS" not in fields:  # a zombie: the master is gone
        raise MasterDied()
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def pctl(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * q))] if values else None


def start_tracer(pid):
    """bpftrace with bench/vrrp_wakeups.bt on the master's VRRP thread, once it is attached."""
    proc = subprocess.Popen(["bpftrace", os.path.join(HERE, "vrrp_wakeups.bt"), str(pid)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    while "Attaching" not in (line := proc.stdout.readline()):
        if not line:
            raise RuntimeError("bpftrace did not attach (is it installed, and run as root?)")
    # The tracer's clock is CLOCK_MONOTONIC, the capture's the wall clock.
    return proc, time.time() - time.monotonic()


def why_late(task, kstack):
    """What kept the CPU from the woken VRRP thread, from the stack at which `task` let it go:
    "user" (it was in user space, where it is preempted at the first interrupt: the reschedule
    interrupt, or any, came late, so the vCPU was stopped),
    "idle" (the CPU was idle and came back late: the same), "syscall" or "kernel" (a long
    kernel path of `task` with no preemption point, on this preempt=none kernel), "fault" (a
    page fault of `task`), or "" (no stack: a wait under 3 ms)."""
    if task.startswith("swapper"):
        return "idle"
    text = " ".join(kstack)
    for mark, why in (("exc_page_fault", "fault"), ("exit_to_user_mode_loop", "syscall"),
                      ("__cond_resched", "kernel"), ("irqentry_exit_to_user_mode", "user")):
        if mark in text:
            return why
    return kstack[2].split("+")[0] if len(kstack) > 2 else ""


def stop_tracer(tracer, log):
    """The late wake-ups the tracer saw: [wall time, timer late ms, run-queue wait ms, cpu, task,
    why (see why_late), the task's innermost user frame]; and the master's threads' waits for
    its mmap_lock of 5 ms or more."""
    proc, wall_minus_mono = tracer
    proc.send_signal(2)
    out, _ = proc.communicate(timeout=30)
    if log:
        with open(log, "w") as f:
            f.write(out)
    wakeups, lines = [], []  # lines: the kernel stack, a blank line, the user stack
    def close():
        groups = [g.split("\n") for g in "\n".join(lines).strip().split("\n\n") if g]
        if wakeups and groups:
            wakeups[-1][5] = why_late(wakeups[-1][4], groups[0])
            wakeups[-1][6] = groups[1][0][:80] if len(groups) > 1 else ""
    locks = []  # [wall time, wait ms, write, thread]: waits for the mmap_lock of 5 ms or more
    for line in out.splitlines():
        f = line.split(maxsplit=5)
        if len(f) == 5 and f[0] == "M":
            locks.append([int(f[1]) / 1e9 + wall_minus_mono, int(f[2]) / 1e3, f[3] == "1", f[4]])
            continue
        if len(f) == 6 and f[0] == "W":
            close()
            lines = []
            wakeups.append([int(f[1]) / 1e9 + wall_minus_mono, int(f[2]) / 1e3, int(f[3]) / 1e3,
                            int(f[4]), f[5], "", ""])
        else:
            lines.append(line.strip())
    close()
    return wakeups, locks


def wakeups_within(wakeups, g0, g1):
    """The late wake-ups that ran during the gap [g0, g1] (the advert after it is sent ~0.1 ms
    after the wake-up that ends it): [timer late ms, run-queue wait ms, cpu, task, why, frame]."""
    return [[round(irq, 1), round(runq, 1), cpu, task, why, frame]
            for t, irq, runq, cpu, task, why, frame in wakeups if g0 < t <= g1 + 0.002]


def late_wakeup_summary(wakeups):
    """Over the whole run: how many wake-ups came 5 ms or more late, by cause; the waits of 5
    ms or more by the task and reason that kept the CPU (see why_late)."""
    behind = {}
    for _, _, runq, _, task, why, _ in wakeups:
        if runq >= 5:
            key = f"{task} {why}".strip()
            behind[key] = behind.get(key, 0) + 1
    return {"timer_late_ge_5ms": sum(1 for w in wakeups if w[1] >= 5),
            "timer_late_max_ms": round(max((w[1] for w in wakeups), default=0), 1),
            "runq_ge_5ms": sum(1 for w in wakeups if w[2] >= 5),
            "runq_max_ms": round(max((w[2] for w in wakeups), default=0), 1),
            "runq_ge_5ms_behind": behind,
            # Waits of 3 ms or more behind one of l4lbd's own threads in a long kernel path.
            "behind_own_kernel_path": [[round(w[2], 1), w[4], w[5], w[6]] for w in wakeups
                                       if w[2] >= 3 and w[4].startswith("l4lb")
                                       and w[5] in ("syscall", "kernel", "fault")]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--services", type=int, default=10000)
    ap.add_argument("--backends", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--delta", type=int, default=5000, help="services added/removed per reload")
    ap.add_argument("--clients", type=int, default=2)
    ap.add_argument("--flap", type=float, default=1.0, help="%% of backends flapping per second")
    ap.add_argument("--trace", action="store_true",
                    help="trace the master's VRRP thread with bpftrace (bench/vrrp_wakeups.bt) and "
                         "say, for each long advert gap, how late its timer interrupt came and how "
                         "long it waited for its CPU, behind which task")
    ap.add_argument("--trace-log", help="with --trace, keep the tracer's whole output here")
    ap.add_argument("--cpu-hogs", type=int, default=0,
                    help="that many busy processes at nice 0 beside the master for the run: a node "
                    "busy with other work, where the daemon's nice +10 workers get little CPU "
                    "(shows whether a worker can hold up the loop or the VRRP thread)")
    ap.add_argument("--mem-detail", action="store_true",
                    help="a JSON line per second: the master's resident memory by mapping kind "
                    "(reading smaps takes the master's mmap lock: its threads may be late, "
                    "a VRRP thread lateness of 70 ms was seen once; not for timing figures)")
    a = ap.parse_args()
    netns.require_root()
    out = lambda d: print(json.dumps(d), flush=True)  # noqa: E731
    with netns.Lab("sb") as lab:
        hub = lab.bridge()
        m, b, be = lab.node("m"), lab.node("b"), lab.node("be")
        lab.link(m, hub, "eth0", [f"{st.MASTER_IP}/24"])
        lab.link(b, hub, "eth0", [f"{st.BACKUP_IP}/24"])
        lab.link(be, hub, "eth0", [f"{st.BACKEND_IP}/24"])
        for j in range(a.backends):
            lab.run(be, ["ip", "addr", "add", f"10.81.{1 + j // 250}.{1 + j % 250}/32",
                         "dev", "eth0"])
        lab.run(m, ["ip", "route", "add", "10.81.0.0/16", "via", st.BACKEND_IP])
        lab.run(m, ["ip", "route", "replace", "10.81.0.0/24", "dev", "eth0"])
        # 1 % of backends = that many ports' worth (a port serves services/PORTS services)
        per_port = max(1, a.services // PORTS) * a.backends
        flap_ports = min(PORTS // 2, round(a.services * a.backends * a.flap / 100 / per_port))
        fl = lab.spawn(be, ["python3", "-c", FLAPPER, str(PORTS), str(flap_ports)],
                       stdout=subprocess.PIPE)
        assert fl.stdout.readline().strip() == b"ready"
        base = f"metrics: {{listen: \"{st.METRICS}\"}}\n" + st.vrrp_body(200)
        master = tracer = None
        try:
            master = netns.L4lbd(lab, m, "master", base + services_body(a.services, a.backends),
                                 log_level="info")
            backup = netns.L4lbd(lab, b, "backup", st.vrrp_body(100), log_level="info")
            t0 = time.monotonic()
            master.start()
            netns.wait_until(lambda: "state=MASTER" in master.log(), 600, what="master")
            out({"phase": "start", "services": a.services, "backends": a.backends,
                 "to_master_s": round(time.monotonic() - t0, 2),
                 "rss_kib": rss_kib(master.proc.pid)[0]})
            tracer = start_tracer(master.proc.pid) if a.trace else None
            # The master's adverts as the backup hears them while it starts, before the measured
            # window: a backup that takes over in its first Master_Down interval (30 ms here) did
            # so either in a gap of the master's adverts or on its own.
            start_capture = lab.spawn(b, ["python3", "-c", st.CAPTURE, st.MASTER_IP, "2.5"],
                                      stdout=subprocess.PIPE)
            assert start_capture.stdout.readline().strip() == b"ready"
            backup_started = time.time()
            backup.start()
            netns.wait_until(lambda: "state=BACKUP" in backup.log(), 30, what="backup")
            start_gaps = json.loads(start_capture.stdout.readline())  # after its 2.5 s
            backup_at_capture = backup_vrrp(backup)
            capture = lab.spawn(b, ["python3", "-c", st.CAPTURE, st.MASTER_IP, str(a.seconds)],
                                stdout=subprocess.PIPE)
            assert capture.stdout.readline().strip() == b"ready"
            # A process on each CPU beside the master at the daemons' priority that only sleeps: its
            # stalls, and the vCPUs' steal time, are the host's (see test_stability.PROBE).
            probe = lab.spawn(m, ["python3", "-c", st.PROBE, str(a.seconds), str(st.RT_PRIORITY)],
                              stdout=subprocess.PIPE)
            assert probe.stdout.readline().strip() == b"ready"
            for _ in range(a.cpu_hogs):  # killed with the lab, if not ended by then
                lab.spawn(m, ["timeout", str(a.seconds), "python3", "-c",
                              "import os\nos.setpriority(os.PRIO_PROCESS, 0, 0)\nwhile True: pass"])
            scraper = lab.spawn(m, ["python3", "-c", st.SCRAPER, st.METRICS, str(a.seconds),
                                    str(a.clients)], stdout=subprocess.PIPE)
            stop = time.monotonic() + a.seconds
            capture_wall = time.time()  # to place the backup's transitions, if any, in the run
            lat, errors, rss = [], [], []
            results = multiprocessing.get_context("fork").Queue()
            # The full document's clients, and one of `l4lbctl status` (the summary view), whose
            # answer is the one issue 11 wants within 100 ms.
            clients = [multiprocessing.get_context("fork").Process(
                target=status_client, args=(master.sock, stop, results, view))
                for view in [None] * a.clients + ["summary"]]
            summary_lat, summary_errors = [], []
            for c in clients:
                c.start()
            reloads, grow = 0, True
            t_run = time.monotonic()
            while time.monotonic() < stop:
                until = min(stop, time.monotonic() + 5)
                # Each sample closes a phase of 5 s; a last phase cut short by the run's end
                # (the reloads themselves take time, more so under --trace) would be sampled
                # within a second of its reload, both configs alive: it is not a phase figure.
                whole = until - time.monotonic() >= 4.5
                while time.monotonic() < until:
                    time.sleep(min(1, max(0, until - time.monotonic())))
                    if a.mem_detail:
                        out({"phase": "memory", "t": round(time.monotonic() - t_run, 1),
                             "rss_kib": rss_kib(master.proc.pid)[0],
                             **memory_kinds_kib(master.proc.pid)})
                if whole:
                    rss.append(rss_kib(master.proc.pid))
                if time.monotonic() >= stop - 0.5:
                    break
                n = a.services + a.delta if grow else a.services
                master.write_config(base + services_body(n, a.backends))
                master.reload()
                reloads, grow = reloads + 1, not grow
            # The threads' lag over the storm itself, before anything that follows it (the arenas
            # are trimmed once reloads have settled, during the final full status below).
            _, during = st.status_raw(master.sock, timeout=60, view="summary")
            for _ in clients:
                view, client_lat, client_errors = results.get()
                (summary_lat if view else lat).extend(client_lat)
                (summary_errors if view else errors).extend(client_errors)
            for c in clients:
                c.join()
            gaps = json.loads(capture.stdout.readline())
            probed = json.loads(probe.stdout.readline())
            long_gaps = gaps.pop("long_gaps")  # >= 2 x the interval
            own = [g for g in long_gaps if not st.host_explains(g, probed)]
            wakeups, lock_waits = stop_tracer(tracer, a.trace_log) if tracer else (None, None)
            scrapes = json.loads(scraper.stdout.readline())
            _, final = st.status_raw(master.sock, timeout=300)
            daemon = final["status"]["daemon"]
            def lag_of(d):
                return {f"{l['thread']}_{l['kind']}": {"max_ms": round(l["histogram"]["max"] * 1e3, 1),
                                                        "count": l["histogram"]["count"]}
                        for l in d.get("lag", [])}
            lag = lag_of(during["status"]["daemon"])
            lag_after = lag_of(daemon)
            binst = [i for i in backup.status() or [] if i["name"] == "vi"]
            out({"phase": "result", "services": a.services, "backends": a.backends,
                 "cpu_hogs": a.cpu_hogs, "seconds": a.seconds, "reloads": reloads, "flap_ports_per_s": flap_ports,
                 "advert_max_gap_ms": gaps["max_gap_ms"], "advert_p99_gap_ms": gaps["p99_gap_ms"],
                 "adverts": gaps["adverts"], "gaps_ge_20ms": gaps["gaps_over_20ms"],
                 "gaps_ge_30ms": gaps["gaps_over_30ms"],
                 "gaps_ge_20ms_of_its_own": len(own),  # not during a host stall or steal
                 "own_gap_max_ms": round(max(((b - a) * 1e3 for a, b in own), default=0), 1),
                 "host_stalls": len(probed["stalls"]),
                 "host_stall_max_ms": round(max(((e - s) * 1e3 for s, e, _ in probed["stalls"]),
                                                default=0), 1),
                 # Where in the run (s since the clients started) the long gaps and the host's
                 # stalls of 20 ms or more fell, with their length in ms: [at, ms].
                 "long_gaps_at": [[round(g0 - capture_wall, 2), round((g1 - g0) * 1e3, 1)]
                                  for g0, g1 in long_gaps],
                 "host_stalls_at": [[round(s - capture_wall, 2), round((e - s) * 1e3, 1), cpu]
                                    for s, e, cpu in probed["stalls"] if e - s >= 0.02],
                 # With --trace: for each long gap, the VRRP thread's late wake-ups within it.
                 **({"long_gaps_traced": [
                     {"at": round(g0 - capture_wall, 2), "ms": round((g1 - g0) * 1e3, 1),
                      "wakeups": wakeups_within(wakeups, g0, g1)} for g0, g1 in long_gaps],
                     "late_wakeups": late_wakeup_summary(wakeups),
                 # The master's threads' waits for its mmap_lock of 5 ms or more: [at, ms,
                 # write, thread] (a daemon-wide stall with both vCPUs running would show here).
                 "mmap_lock_waits": [[round(t - capture_wall, 2), round(ms, 1), w, th]
                                     for t, ms, w, th in lock_waits]} if tracer else {}),
                 "lag": lag,  # at the storm's end
                 "lag_with_settled_trim": lag_after,  # at the final status, ~10 s later
                 "status_requests": len(lat), "status_errors": len(errors),
                 "status_error_texts": errors[:5],
                 # Status and scrape readers the daemon closed for falling 16 MiB behind the
                 # others (docs/ARCHITECTURE.md, the slow-reader cap): an error above, by design.
                 "slow_readers_dropped": daemon.get("slow_readers_dropped"),
                 "status_p99_ms": (pctl(lat, 0.99) or 0) * 1e3, "status_max_ms": max(lat or [0]) * 1e3,
                 "status_summary": {"requests": len(summary_lat), "errors": len(summary_errors),
                                    "median_ms": round((pctl(summary_lat, 0.5) or 0) * 1e3, 1),
                                    "p99_ms": round((pctl(summary_lat, 0.99) or 0) * 1e3, 1),
                                    "max_ms": round(max(summary_lat or [0]) * 1e3, 1)},
                 "scrapes": scrapes, "rss_max_kib": max(r[0] for r in rss) if rss else None,
                 # Each sample closes a 5 s phase: the even ones at --services (the first before
                 # any reload, the rest after a reload back), the odd ones at --services + --delta.
                 "rss_at_base_kib": [r[0] for r in rss[0::2]],
                 "rss_at_grown_kib": [r[0] for r in rss[1::2]],
                 "rss_peak_kib": rss_kib(master.proc.pid)[1],
                 # After the run, with the services of the last reload (10,000 after an even count).
                 "rss_end_kib": rss_kib(master.proc.pid)[0],
                 "log_suppressed": daemon.get("log_suppressed"),
                 "backup_state": binst[0]["state"] if binst else None,
                 "backup_master_lines": backup.log().count("state=MASTER"),
                 # The backup's own account of each transition (its log lines), with the reasons.
                 "backup_transition_lines": [l for l in backup.log().splitlines()
                                             if "state=" in l][:10],
                 # Seconds from the capture's start to the backup's last transition: outside
                 # 0..seconds, the advert gaps above did not see what caused it.
                 "backup_transitions": binst[0]["transitions"] if binst else None,
                 # The backup's start: the master's advert gaps of 20 ms or more heard in its
                 # namespace (seconds from the backup's start, ms), and its own counters when
                 # the measured window began.
                 "backup_start": {
                     "max_gap_ms": round(start_gaps["max_gap_ms"] or 0, 1),
                     "long_gaps_at": [[round(g0 - backup_started, 3), round((g1 - g0) * 1e3, 1)]
                                      for g0, g1 in start_gaps["long_gaps"]],
                     "at_capture": backup_at_capture},
                 "backup_drops": nonzero_drops(binst[0]) if binst else None,
                 "backup_last_transition_s": round(binst[0]["since"] - capture_wall, 2)
                 if binst else None,
                 # The settled trim's own time (ms, its log line), if it ran before the final status:
                 # it runs off the loop, but what it holds meanwhile may be waited for.
                 "settled_trim_ms": [float(m) for m in re.findall(
                     r"free memory given back in ([0-9.]+) ms", master.log())]})
            for d in (master, backup):
                d.stop()
        except MasterDied:
            # The result is then this line: how the master ended, and its last words.
            rc = master.proc.wait(10)
            if tracer:
                tracer[0].kill()
            out({"phase": "master_died", "exit": rc,
                 "signal": signal.Signals(-rc).name if rc < 0 else None,
                 "log_tail": master.log()[-4000:]})
            sys.exit(1)


if __name__ == "__main__":
    main()
