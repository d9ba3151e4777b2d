#!/usr/bin/env python3
"""Hostile and careless clients of a real l4lbd (docs/CONTROL.md): wrong JSON types, garbage,
a 1 MiB line, clients that never send, 100 idle connections at once, descriptor exhaustion
(EMFILE) on the control and /metrics sockets; after each, the daemon is alive and answers.
Authorisation by SO_PEERCRED with a temporary user and groups: a member of control.group may
read the status but not reload; a member of control.admin_group may reload. And the socket's
group under the capability set of the shipped unit (with and without CAP_CHOWN).

Runs on the host (no IPVS: the daemon says so and carries on); only unix sockets and
127.0.0.1 are used. Temporary users and groups are removed on exit."""

import grp
import json
import os
import pwd
import select
import socket
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
import netns  # noqa: E402
import testmain  # noqa: E402

BUILD = netns.build_dir()
L4LBD = os.path.join(BUILD, "src", "daemon", "l4lbd")
L4LBCTL = os.path.join(BUILD, "src", "ctl", "l4lbctl")
TAG = f"l4t{os.getpid() % 100000}"
GROUP, ADMIN, USER, OPER = f"{TAG}g", f"{TAG}a", f"{TAG}u", f"{TAG}o"


def body(port, admin=ADMIN):
    return (f"  group: {GROUP}\n"
            f"  admin_group: {admin}\n"
            f"metrics: {{listen: \"127.0.0.1:{port}\"}}\n"
            "services:\n"
            "  - name: web\n"
            "    vip: 10.77.0.100\n"
            "    port: 80\n"
            "    health: {type: none}\n"
            "    backends: [{address: 127.0.0.2, port: 9001}, {address: 127.0.0.3, port: 9001}]\n")


class Daemon(netns.L4lbd):
    def write_config(self, text):
        # `body` continues the control: section with group and admin_group.
        with open(self.conf, "w") as f:
            f.write(f"state_dir: {self.dir}/state\ncontrol:\n  socket: {self.sock}\n" + text)


def connect(path, timeout=10):
    deadline = time.monotonic() + timeout
    while True:
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(timeout)
        try:
            s.connect(path)
            return s
        except BlockingIOError:  # the listen backlog is full for a moment
            s.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def read_reply(s):
    """The reply line, or None when the daemon closed the connection without one."""
    data = b""
    try:
        while not data.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except (ConnectionResetError, BrokenPipeError):
        pass
    return json.loads(data) if data.strip() else None


def exchange(path, payload):
    s = connect(path)
    try:
        s.sendall(payload)
        return read_reply(s)
    finally:
        s.close()


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class HostileControl(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        netns.require_root()
        cls.made_users, cls.made_groups = [], []
        cls.lab = netns.Lab("hctl")
        try:
            for g in (GROUP, ADMIN):
                netns.sh(["groupadd", g])
                cls.made_groups.append(g)
            # USER: may use the socket (status) but is no admin; OPER: both groups.
            netns.sh(["useradd", "-M", "-N", "-g", GROUP, "-s", "/usr/sbin/nologin", USER])
            cls.made_users.append(USER)
            netns.sh(["useradd", "-M", "-N", "-g", GROUP, "-G", ADMIN, "-s", "/usr/sbin/nologin",
                      OPER])
            cls.made_users.append(OPER)
            os.chmod(cls.lab.tmp, 0o755)  # the users must reach the socket's directory
            cls.port = netns.free_port()
            cls.d = Daemon(cls.lab, None, "lb", body(cls.port), log_level="info")
            os.chmod(cls.d.dir, 0o755)
            cls.d.start()
            netns.wait_until(lambda: cls.d.status() is not None, timeout=15, what="status")
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.lab.close()
        for u in cls.made_users:
            subprocess.run(["userdel", u], capture_output=True)
        for g in cls.made_groups:
            subprocess.run(["groupdel", g], capture_output=True)

    def ctl(self, *args, user=None):
        cmd = [L4LBCTL, "-s", self.d.sock, *args]
        if user:
            pw = pwd.getpwnam(user)
            cmd = ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--init-groups"] + cmd
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30)

    def assert_alive(self):
        self.assertTrue(self.d.alive(), self.d.log()[-3000:])
        r = self.ctl("status", "--json")
        self.assertEqual(r.returncode, 0, r.stderr + self.d.log()[-3000:])
        self.assertEqual(json.loads(r.stdout)["services"][0]["name"], "web")

    # ---------------------------------------------------------------------------------------
    def test_01_wrong_types_and_garbage_get_error_replies(self):
        cases = [
            (b'{"command":1}\n', "field 'command' must be a string, got number"),
            (b'{"command":"drain","backend":5}\n', "field 'backend' must be a string, got number"),
            (b'{"command":"drain","backend":"10.0.0.1","service":[1]}\n',
             "field 'service' must be a string, got array"),
            (b'{"command":"status","verbose":1}\n', "unknown field 'verbose'"),
            (b'{"command":"drain"}\n', "missing field 'backend'"),
            (b'["status"]\n', "request must be a JSON object, got array"),
            (b"\x00\xff\xfegarbage\x01\n", "request contains a NUL byte (at byte 1)"),
            (b"\xff\xfegarbage\x01\n", "request is not valid JSON"),
            (b'{"command":"\xc3\x28"}\n', "request is not valid JSON"),
            (b'{"command":"' + b"[" * 60000 + b'"}\n', "unknown command"),
            (b"[" * 60000 + b"\n", "request is not valid JSON"),
        ]
        for payload, expected in cases:
            with self.subTest(payload=payload[:60]):
                reply = exchange(self.d.sock, payload)
                self.assertIsNotNone(reply, self.d.log()[-2000:])
                self.assertIs(reply["ok"], False)
                self.assertIn(expected, reply["error"])
        self.assert_alive()

    def test_02_oversized_line_is_refused(self):
        s = connect(self.d.sock)
        errors = []

        def writer():  # the daemon stops reading at 64 KiB; the rest may be refused
            try:
                s.sendall(b"x" * (1 << 20) + b"\n")
            except OSError as e:
                errors.append(e)

        t = threading.Thread(target=writer)
        t.start()
        reply = read_reply(s)
        t.join(timeout=10)
        s.close()
        if reply is not None:  # an error reply, or closed (the kernel may reset first)
            self.assertIn("request longer than 65536 bytes", reply["error"])
        # Exactly at the limit: 65,536 bytes with the newline are read, one more is refused.
        reply = exchange(self.d.sock, b'{"command":"status"}' + b" " * (65536 - 20) + b"\n")
        self.assertIn("request longer than 65536 bytes", reply["error"])
        reply = exchange(self.d.sock, b'{"command":"status"}' + b" " * (65535 - 20) + b"\n")
        self.assertIs(reply["ok"], True, reply.get("error"))
        self.assert_alive()

    def test_03_silent_client_times_out(self):
        s = connect(self.d.sock, timeout=15)
        start = time.monotonic()
        s.sendall(b'{"command":')  # and nothing more
        reply = read_reply(s)
        took = time.monotonic() - start
        s.close()
        self.assertIn("timeout: no complete request line within 5000 ms", reply["error"])
        self.assertGreater(took, 4.5)
        self.assertLess(took, 8)
        self.assert_alive()

    def test_04_session_cap(self):
        held = [connect(self.d.sock) for _ in range(100)]
        try:
            # Well within the 5 s the held sessions have to send their request.
            time.sleep(1)
            answered = select.select(held, [], [], 0)[0]
            for s in answered:
                self.assertIn(b"too many sessions (32 at once)", s.recv(4096))
            self.assertEqual(len(answered), 100 - 32)
            # While 32 idle sessions are held, l4lbctl gets the error reply, and says so.
            r = self.ctl("status")
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn("too many sessions", r.stderr)
        finally:
            for s in held:
                s.close()
        netns.wait_until(lambda: self.ctl("status").returncode == 0, timeout=5,
                         what="status after the idle sessions closed")
        self.assert_alive()

    def test_05_authorisation_by_peer_credentials(self):
        r = self.ctl("status", user=USER)
        self.assertEqual(r.returncode, 0, r.stderr)
        for args in (["reload"], ["drain", "127.0.0.2"], ["undrain", "127.0.0.2"]):
            r = self.ctl(*args, user=USER)
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn(f"permission denied: '{args[0]}' needs root or group {ADMIN}", r.stderr)
        r = self.ctl("reload", user=OPER)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("reloaded", r.stdout)
        r = self.ctl("drain", "127.0.0.2", user=OPER)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.ctl("undrain", "127.0.0.2", user=OPER)
        self.assertEqual(r.returncode, 0, r.stderr)
        # Not in control.group at all: the socket's mode keeps it out.
        r = self.ctl("status", user="nobody")
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertIn("permission denied", r.stderr)
        # Without admin_group (after a reload), only root may mutate.
        self.d.write_config(body(self.port).replace(f"  admin_group: {ADMIN}\n", ""))
        self.assertEqual(self.ctl("reload").returncode, 0)
        r = self.ctl("reload", user=OPER)
        self.assertEqual(r.returncode, 1)
        self.assertIn("needs root (no control.admin_group is configured)", r.stderr)
        self.d.write_config(body(self.port))
        self.assertEqual(self.ctl("reload").returncode, 0)
        self.assertEqual(self.ctl("reload", user=OPER).returncode, 0)
        self.assert_alive()

    def test_06_descriptor_exhaustion_backs_off(self):
        pid = self.d.proc.pid
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        soft, hard = subprocess.run(["prlimit", f"--pid={pid}", "--nofile", "--raw", "--noheadings",
                                     "--output=SOFT,HARD"], capture_output=True, text=True,
                                    check=True).stdout.split()
        limit = fds + 4  # only the soft limit: lowering the hard one could not be undone
        subprocess.run(["prlimit", f"--pid={pid}", f"--nofile={limit}:{hard}"], check=True)
        held = []
        try:
            held = [connect(self.d.sock) for _ in range(12)]
            netns.wait_until(lambda: "control socket accept failed" in self.d.log(), timeout=5,
                             what="the EMFILE warning")
            before = cpu_seconds(pid)
            time.sleep(2)
            spent = cpu_seconds(pid) - before
            # Spinning on accept() would burn ~2 s of CPU here.
            self.assertLess(spent, 0.3, f"{spent:.2f}s CPU in 2s while out of descriptors")
            for s in held:
                s.close()
            held = []
        finally:
            for s in held:
                s.close()
            subprocess.run(["prlimit", f"--pid={pid}", f"--nofile={soft}:{hard}"], check=True)
        netns.wait_until(lambda: self.ctl("status").returncode == 0, timeout=5,
                         what="status after descriptors came back")
        self.assertIn("Too many open files", self.d.log())
        self.assert_alive()

    def test_07_metrics_connection_cap(self):
        held = []
        try:
            for _ in range(24):
                s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
                held.append(s)
            time.sleep(1)
            answered = select.select(held, [], [], 0)[0]
            for s in answered:
                data = s.recv(4096)
                self.assertTrue(data.startswith(b"HTTP/1.1 503 Service Unavailable"), data)
            self.assertEqual(len(answered), 24 - 16)
        finally:
            for s in held:
                s.close()

        def scrape():
            s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            s.close()
            return data.startswith(b"HTTP/1.1 200 ") and b"l4lb_" in data

        netns.wait_until(scrape, timeout=5, what="a scrape after the idle connections closed")
        self.assert_alive()


class SocketGroupUnderUnitCapabilities(unittest.TestCase):
    """The shipped unit's CapabilityBoundingSet, reproduced with setpriv: without CAP_CHOWN the
    socket cannot be given to control.group (and l4lbd says so); with it, it can."""

    def run_with_caps(self, lab, name, caps):
        g = grp.getgrnam("nogroup")
        d = Daemon(lab, None, name, f"  group: nogroup\n" + body(netns.free_port())
                   .replace(f"  group: {GROUP}\n", ""))
        d.proc = lab.spawn(None, ["setpriv", f"--bounding-set=-all,{caps}", L4LBD, "-c", d.conf,
                                  "--log-level", "info"], log=f"{name}.log")
        netns.wait_until(lambda: os.path.exists(d.sock) and "l4lbd started" in d.log(),
                         timeout=15, what=f"{name} started")
        gid = os.stat(d.sock).st_gid
        d.stop()
        return gid == g.gr_gid, d.log()

    def test_chown_needs_cap_chown(self):
        netns.require_root()
        with netns.Lab("hcap") as lab:
            given, log = self.run_with_caps(lab, "nochown", "+net_admin,+net_raw")
            self.assertFalse(given)
            self.assertIn("cannot be given to group nogroup: Operation not permitted", log)
            given, log = self.run_with_caps(lab, "chown", "+net_admin,+net_raw,+chown")
            self.assertTrue(given, log)
            self.assertNotIn("cannot be given to group", log)
        with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "systemd",
                               "l4lbd.service")) as f:
            self.assertIn("CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW CAP_CHOWN", f.read())


if __name__ == "__main__":
    testmain.main()
