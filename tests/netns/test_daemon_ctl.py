#!/usr/bin/env python3
"""l4lbd as operators run it, on the host (no IPVS here: the daemon must say so and carry on):
l4lbctl's every command and error path, the reload transaction (a broken file changes nothing,
an unchanged file changes nothing, a real change is applied in place), drains kept across
restarts, notify scripts, /metrics checked by promtool, and the systemd unit verified."""

import json
import re
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
import netns  # noqa: E402
import testmain  # noqa: E402

BUILD = netns.build_dir()
SOURCE = os.environ.get("L4LB_SOURCE_DIR",
                        os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
L4LBD = os.path.join(BUILD, "src", "daemon", "l4lbd")
L4LBCTL = os.path.join(BUILD, "src", "ctl", "l4lbctl")


def config_body(priority=120, port=8080, notify=None, broken=False):
    notify_line = f"    notify: {notify}\n" if notify else ""
    return (
        "node_name: ctltest\n"
        "metrics: {listen: \"127.0.0.1:19465\"}\n"
        "vrrp:\n"
        "  - name: front\n"
        "    interface: eth0\n"
        "    vrid: 9\n"
        f"    priority: {priority}\n"
        "    advert_interval: 100ms\n"
        "    vips: [10.77.0.100/24]\n"
        + notify_line +
        "services:\n"
        "  - name: web\n"
        "    vip: 10.77.0.100\n"
        f"    port: {port}\n"
        "    protocol: tcp\n"
        "    scheduler: rr\n"
        + ("    schedular: rr\n" if broken else "") +
        "    health: {type: tcp, interval: 200ms, timeout: 100ms, rise: 1, fall: 1}\n"
        "    backends:\n"
        "      - {address: 127.0.0.2, port: 9001}\n"
        "      - {address: 127.0.0.3, port: 9001}\n")


class DaemonAndCtl(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        netns.require_root()
        cls.lab = netns.Lab("ctl")
        cls.ns = cls.lab.node("a")
        hub = cls.lab.bridge()
        cls.lab.link(cls.ns, hub, "eth0", ["10.77.0.1/24"])
        # One healthy backend (127.0.0.2:9001 listens), one dead (127.0.0.3:9001 does not).
        cls.lab.tcp_listener(cls.ns, "127.0.0.2", 9001)
        cls.notify_out = cls.lab.path("notify.out")
        script = cls.lab.write("notify.sh", f"#!/bin/sh\necho \"$@ $L4LB_FAMILY\" >> {cls.notify_out}\n")
        os.chmod(script, 0o755)
        cls.script = script
        cls.d = netns.L4lbd(cls.lab, cls.ns, "lb", config_body(notify=script), log_level="debug")
        cls.d.start()
        netns.wait_until(lambda: cls.d.state("front") == "MASTER", timeout=15, what="MASTER")

    @classmethod
    def tearDownClass(cls):
        cls.lab.close()

    def ctl(self, *args, check=None, user=None):
        cmd = [L4LBCTL, "-s", self.d.sock, *args]
        if user:
            cmd = ["runuser", "-u", user, "--"] + cmd
        r = self.lab.run(self.ns, cmd, check=False)
        if check is not None:
            self.assertEqual(r.returncode, check, f"{args}: {r.stdout}\n{r.stderr}\n{self.d.log()}")
        return r

    def status(self):
        return json.loads(self.ctl("status", "--json", check=0).stdout)

    def metrics(self):
        return self.lab.out(self.ns, ["curl", "-sf", "http://127.0.0.1:19465/metrics"])

    # ---------------------------------------------------------------------------------------
    def test_01_status_table_and_json(self):
        st = self.status()
        self.assertEqual(st["schema"], 1)
        self.assertEqual(st["daemon"]["node"], "ctltest")
        [inst] = st["vrrp"]
        self.assertEqual((inst["name"], inst["state"], inst["priority"]), ("front", "MASTER", 120))
        self.assertEqual(inst["vips"], ["10.77.0.100/24"])
        # No IPVS on this host kernel: said once, clearly, and VRRP carries on.
        self.assertFalse(st["ipvs"]["available"])
        self.assertIn("IPVS", st["ipvs"]["error"] or "")
        self.assertEqual(1, self.d.log().count("ipvs unavailable"))
        [svc] = st["services"]
        self.assertEqual((svc["vip"], svc["port"], svc["protocol"]), ("10.77.0.100", 8080, "tcp"))
        netns.wait_until(lambda: {b["address"]: b["health"] for b in self.status()["services"][0]["backends"]}
                         == {"127.0.0.2": "up", "127.0.0.3": "down"}, timeout=10,
                         what="health states")
        # The table shows the backend that needs a look and counts the other one...
        text = self.ctl("status", check=0).stdout
        for needle in ("front", "MASTER", "120(120)", "10.77.0.100:8080/tcp", "127.0.0.3:9001",
                       "IPVS: UNAVAILABLE", "1/1 ok", "1 more backend(s) fine"):
            self.assertIn(needle, text)
        self.assertNotIn("127.0.0.2:9001", text)
        # ... and --view full lists both (the summary document asked for has no check detail).
        full = self.ctl("status", "--view", "full", check=0).stdout
        for needle in ("127.0.0.2:9001", "127.0.0.3:9001"):
            self.assertIn(needle, full)
        self.assertNotIn("more backend(s)", full)
        summary = json.loads(self.ctl("status", "--json", "--view", "summary", check=0).stdout)
        self.assertEqual(summary["view"], "summary")
        self.assertNotIn("health", summary)
        self.assertEqual([b["address"] for b in summary["services"][0]["backends"]], ["127.0.0.3"])
        self.assertEqual(summary["services"][0]["backends_total"], 2)

    def test_02_broken_reload_changes_nothing(self):
        before = self.status()["vrrp"]
        addrs_before = self.lab.addrs(self.ns, "eth0")
        self.d.write_config(config_body(notify=self.script, broken=True, priority=50))
        r = self.ctl("reload", check=1)
        self.assertRegex(r.stderr, r"l4lb\.yaml:\d+:\d+: .*schedular")
        self.assertIn("did you mean", r.stderr)
        self.assertIn("running configuration is unchanged", r.stderr)
        st = self.status()
        after = st["vrrp"]
        for b, a in zip(before, after):
            for key in ("state", "priority", "priority_configured", "since", "transitions"):
                self.assertEqual(b[key], a[key], key)
        self.assertEqual(addrs_before, self.lab.addrs(self.ns, "eth0"))
        self.assertFalse(st["daemon"]["last_reload"]["ok"])
        self.assertTrue(any("schedular" in e for e in st["daemon"]["last_reload"]["errors"]))
        self.assertIn("REJECTED", self.ctl("status", check=0).stdout)
        self.assertIn('l4lb_reloads_total{result="failed"} 1', self.metrics())
        self.assertIn("l4lb_last_reload_success 0", self.metrics())
        # SIGHUP takes the same path.
        os.kill(self.d.proc.pid, signal.SIGHUP)
        netns.wait_until(lambda: self.status()["daemon"]["reloads_failed"] == 2, timeout=5,
                         what="second rejected reload")
        self.assertEqual(self.status()["vrrp"][0]["transitions"], before[0]["transitions"])

    def test_03_unchanged_reloads_change_nothing(self):
        self.d.write_config(config_body(notify=self.script))
        before = self.status()
        for _ in range(10):
            r = self.ctl("reload", check=0)
            self.assertIn("no changes", r.stdout)
        after = self.status()
        self.assertEqual(before["vrrp"][0]["transitions"], after["vrrp"][0]["transitions"])
        self.assertEqual(before["vrrp"][0]["since"], after["vrrp"][0]["since"])
        self.assertEqual(before["daemon"]["generation"], after["daemon"]["generation"])
        self.assertEqual(after["daemon"]["reloads_ok"], before["daemon"]["reloads_ok"] + 10)

    def test_04_changed_priority_applies_in_place(self):
        before = self.status()["vrrp"][0]
        self.d.write_config(config_body(notify=self.script, priority=140))
        r = self.ctl("reload", check=0)
        self.assertIn("front", r.stdout)
        self.assertIn("priority", r.stdout)
        after = self.status()["vrrp"][0]
        self.assertEqual(after["priority_configured"], 140)
        self.assertEqual(after["state"], "MASTER")
        self.assertEqual(after["transitions"], before["transitions"])
        self.assertTrue(self.lab.has_addr(self.ns, "eth0", "10.77.0.100"))

    def test_05_drain_errors_and_persistence(self):
        self.assertIn("not an IP address", self.ctl("drain", "nonsense", check=1).stderr)
        self.assertIn("not in any service", self.ctl("drain", "10.1.2.3", check=1).stderr)
        self.assertIn("no service named", self.ctl("drain", "127.0.0.2", "--service", "nope", check=1).stderr)
        self.assertIn("drained 127.0.0.2", self.ctl("drain", "127.0.0.2", "--service", "web", check=0).stdout)
        self.assertIn("already drained", self.ctl("drain", "127.0.0.2", "--service", "web", check=1).stderr)
        backends = {b["address"]: b for b in self.status()["services"][0]["backends"]}
        self.assertTrue(backends["127.0.0.2"]["drained"])
        self.assertIn("drained", self.ctl("status", check=0).stdout)
        # A drained backend does not count towards quorum.
        self.assertFalse(self.status()["services"][0]["quorum_met"])
        # Drains survive a reload and a restart.
        self.ctl("reload", check=0)
        self.assertTrue({b["address"]: b for b in self.status()["services"][0]["backends"]}["127.0.0.2"]["drained"])
        self.restart()
        self.assertTrue({b["address"]: b for b in self.status()["services"][0]["backends"]}["127.0.0.2"]["drained"])
        self.assertIn("undrained", self.ctl("undrain", "127.0.0.2", "--service", "web", check=0).stdout)
        self.assertIn("is not drained", self.ctl("undrain", "127.0.0.2", "--service", "web", check=1).stderr)
        self.assertFalse({b["address"]: b for b in self.status()["services"][0]["backends"]}["127.0.0.2"]["drained"])

    def test_06_metrics_pass_promtool(self):
        # test_05 ended with a restart: the backends come up after their first checks.
        up = 'l4lb_backend_up{service="web",port="9001",backend="127.0.0.2"} 1'
        netns.wait_until(lambda: up in self.metrics(), timeout=10, what="backend up in /metrics")
        text = self.metrics()
        for needle in ('l4lb_vrrp_state{vrrp_instance="front",family="ipv4",state="MASTER"} 1',
                       'l4lb_vip_master{vrrp_instance="front",vip="10.77.0.100/24"} 1',
                       'l4lb_backend_up{service="web",port="9001",backend="127.0.0.2"} 1',
                       "l4lb_health_check_duration_seconds_bucket", "l4lb_build_info"):
            self.assertIn(needle, text)
        # The tcp checks ran half-open (the default, and l4lbd runs as root here).
        answers = re.search(r"^l4lb_health_half_open_answers_total (\d+)$", text, re.M)
        self.assertIsNotNone(answers, text)
        self.assertGreater(int(answers.group(1)), 0)
        promtool = shutil.which("promtool")
        self.assertIsNotNone(promtool, "promtool missing (package prometheus)")
        r = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        r = self.lab.run(self.ns, ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                                   "http://127.0.0.1:19465/nope"])
        self.assertEqual(r.stdout, "404")

    def test_07_notify_script_ran_with_keepalived_arguments(self):
        netns.wait_until(lambda: os.path.exists(self.notify_out), timeout=5, what="notify output")
        with open(self.notify_out) as f:
            lines = f.read().splitlines()
        self.assertIn("INSTANCE front MASTER 120 ipv4", lines)

    def test_08_ctl_error_paths(self):
        r = self.lab.run(self.ns, [L4LBCTL, "-s", self.lab.path("nowhere.sock"), "status"], check=False)
        self.assertEqual(r.returncode, 3)
        self.assertIn("is l4lbd running?", r.stderr)
        stale = self.lab.path("stale.sock")
        s = socket.socket(socket.AF_UNIX)
        s.bind(stale)
        s.close()  # bound but never listening: a stale socket file
        r = self.lab.run(self.ns, [L4LBCTL, "-s", stale, "status"], check=False)
        self.assertEqual(r.returncode, 3)
        self.assertIn("not running", r.stderr)
        r = self.ctl("status", user="nobody")
        self.assertEqual(r.returncode, 3)
        self.assertIn("permission denied", r.stderr)
        r = self.ctl("frobnicate")
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown command 'frobnicate'", r.stderr)
        self.assertEqual(self.ctl("drain").returncode, 2)
        # check-config needs no daemon.
        good = self.lab.write("good.yaml", config_body())
        bad = self.lab.write("bad.yaml", config_body(broken=True))
        self.assertIn("1 vrrp instance", self.ctl("check-config", good, check=0).stdout)
        r = self.ctl("check-config", bad, check=1)
        self.assertRegex(r.stderr, r"bad\.yaml:\d+:\d+: ")
        for args, rc in (([L4LBD, "--check-config", "-c", good], 0),
                         ([L4LBD, "--check-config", "-c", bad], 1),
                         ([L4LBD, "--version"], 0), ([L4LBD, "--bogus"], 2)):
            self.assertEqual(subprocess.run(args, capture_output=True).returncode, rc, args)

    def test_09_second_daemon_on_same_socket_refuses(self):
        r = self.lab.run(self.ns, [L4LBD, "-c", self.d.conf], check=False, timeout=10)
        self.assertEqual(r.returncode, 1)
        self.assertIn("already listening", r.stderr)
        self.assertEqual(self.status()["vrrp"][0]["state"], "MASTER")

    def test_10_systemd_unit_verifies(self):
        unit_src = os.path.join(SOURCE, "systemd", "l4lbd.service")
        tmp = self.lab.path("unit")
        os.makedirs(tmp, exist_ok=True)
        with open(unit_src) as f:
            text = f.read().replace("/usr/local/sbin/l4lbd", L4LBD)
        unit = os.path.join(tmp, "l4lbd.service")
        with open(unit, "w") as f:
            f.write(text)
        r = subprocess.run(["systemd-analyze", "verify", unit], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(r.stderr.strip(), "", r.stderr)
        for key in ("Type=notify", "ExecReload=/bin/kill -HUP $MAINPID", "Restart=on-failure",
                    "CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW CAP_CHOWN", "NoNewPrivileges=yes",
                    "ProtectSystem=strict", "RuntimeDirectory=l4lb", "WatchdogSec="):
            self.assertIn(key, text)

    # ---------------------------------------------------------------------------------------
    def restart(self):
        self.d.stop(signal.SIGTERM)
        self.d.start()
        netns.wait_until(lambda: self.d.state("front") == "MASTER", timeout=15, what="MASTER again")


class SystemdNotify(unittest.TestCase):
    """The sd_notify protocol as systemd sees it: a datagram socket in $NOTIFY_SOCKET."""

    def test_ready_reloading_stopping_watchdog(self):
        netns.require_root()
        with netns.Lab("sdn") as lab:
            ns = lab.node("a")
            lab.dummy(ns, "eth0")
            sock_path = lab.path("notify.sock")
            srv = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            srv.bind(sock_path)
            srv.settimeout(10)
            d = netns.L4lbd(lab, ns, "lb", "vrrp:\n  - {name: v, interface: eth0, vrid: 3, "
                            "advert_interval: 100ms, vips: [10.66.0.1/32]}\n")
            # WATCHDOG_PID must name the daemon itself: `ip netns exec` execs it in place.
            env = dict(os.environ, NOTIFY_SOCKET=sock_path, WATCHDOG_USEC="200000")
            proc = lab.spawn(ns, ["sh", "-c", f"WATCHDOG_PID=$$ exec {L4LBD} -c {d.conf}"],
                             env=env, log="lb.log")
            messages = []

            def wait_for(field):
                while True:
                    try:
                        msg = srv.recv(4096).decode()
                    except socket.timeout:
                        self.fail(f"no {field} in {messages}\n{lab.read('lb.log')}")
                    messages.append(msg)
                    if field in msg.split("\n"):
                        return msg

            ready = wait_for("READY=1")
            self.assertIn("STATUS=ok: 1 vrrp instance", ready)
            wait_for("WATCHDOG=1")
            wait_for("WATCHDOG=1")  # repeated, from the event loop
            os.kill(proc.pid, signal.SIGHUP)
            reloading = wait_for("RELOADING=1")
            self.assertRegex(reloading, r"MONOTONIC_USEC=\d+")
            wait_for("READY=1")
            os.kill(proc.pid, signal.SIGTERM)
            wait_for("STOPPING=1")
            self.assertEqual(proc.wait(timeout=10), 0)
            srv.close()


if __name__ == "__main__":
    testmain.main()
