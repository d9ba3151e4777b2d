"""Network-namespace helpers for the netns test tier (stdlib only).

Everything a test creates lives inside namespaces it owns: a "hub" namespace holds the
bridge, and every node namespace is joined to it by a veth pair. Nothing is created in
the root namespace, so a real interface can never be touched or bridged.

Names carry the pid (and a per-process counter) so parallel runs never collide, and
every object is removed on close(), at interpreter exit and on SIGTERM/SIGINT.

    with netns.Lab("vrrp") as lab:
        hub = lab.bridge("br0")                    # bridge inside its own namespace
        a = lab.node("a")                          # a namespace with lo up
        lab.link(a, hub, "eth0", ["10.0.0.1/24"])  # veth a:eth0 <-> hub bridge
        lab.run(a, ["ip", "addr"])
        p = lab.spawn(a, [binary, "-c", conf])     # killed on close()
        netns.wait_until(lambda: ..., timeout=5)
"""

import atexit
import itertools
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

_counter = itertools.count()
_live_labs = []


def _cleanup_all():
    for lab in list(_live_labs):
        lab.close()


def _on_signal(signum, _frame):
    _cleanup_all()
    # Re-raise the default behaviour so the exit status says what happened.
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


_handlers_installed = False


def _install_handlers():
    global _handlers_installed
    if _handlers_installed:
        return
    _handlers_installed = True
    atexit.register(_cleanup_all)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        try:
            signal.signal(sig, _on_signal)
        except ValueError:  # not the main thread
            pass


def unique(prefix):
    """A name unique to this process: prefix + pid + counter (kept short for ifnames)."""
    return f"{prefix}{os.getpid() % 100000}x{next(_counter)}"


def free_port():
    """A TCP port on 127.0.0.1 that is free now (for a daemon's metrics listener)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sh(cmd, check=True, capture=True, timeout=30, input=None):
    """Run a command in the current namespace; returns CompletedProcess."""
    r = subprocess.run(cmd, capture_output=capture, text=True, timeout=timeout, input=input)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.strip()}")
    return r


def wait_until(predicate, timeout=10.0, interval=0.02, what="condition"):
    """Poll `predicate` until it returns something truthy; returns that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def require_root(testcase_cls=None):
    """unittest helper: skip when not root or `ip netns` is unavailable."""
    import unittest

    if os.geteuid() != 0:
        raise unittest.SkipTest("netns tests need root")
    try:
        sh(["ip", "netns", "list"])
    except Exception as e:  # pragma: no cover
        raise unittest.SkipTest(f"ip netns unavailable: {e}")


class Lab:
    def __init__(self, tag="t"):
        _install_handlers()
        self.tag = tag[:4]
        self.namespaces = []
        self.procs = []
        self.tmp = tempfile.mkdtemp(prefix=f"l4lb-{tag}-")
        self.closed = False
        _live_labs.append(self)

    # -- lifecycle ---------------------------------------------------------------------------
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self.closed:
            return
        self.closed = True
        for p in reversed(self.procs):
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass
        for ns in reversed(self.namespaces):
            # Killing leftovers first: a namespace with live processes lingers after delete.
            r = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True)
            for pid in r.stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            subprocess.run(["ip", "netns", "delete", ns], capture_output=True)
        if self in _live_labs:
            _live_labs.remove(self)
        if os.environ.get("L4LB_KEEP_TMP") is None:
            subprocess.run(["rm", "-rf", self.tmp], capture_output=True)

    # -- topology ----------------------------------------------------------------------------
    def node(self, name):
        """Create a namespace with loopback up; returns its (unique) name."""
        ns = unique(f"l4{self.tag}{name}")[:40]
        sh(["ip", "netns", "add", ns])
        self.namespaces.append(ns)
        self.run(ns, ["ip", "link", "set", "lo", "up"])
        # Deterministic IPv6: no DAD delay for test addresses, no router solicitations.
        for key, val in (("net.ipv6.conf.all.accept_dad", "0"),
                         ("net.ipv6.conf.default.accept_dad", "0"),
                         ("net.ipv6.conf.all.dad_transmits", "0"),
                         ("net.ipv6.conf.default.dad_transmits", "0")):
            self.run(ns, ["sysctl", "-qw", f"{key}={val}"], check=False)
        return ns

    def bridge(self, name="br0"):
        """A namespace holding one bridge named `name`; returns the namespace."""
        ns = self.node("hub")
        self.run(ns, ["ip", "link", "add", name, "type", "bridge", "stp_state", "0",
                      "forward_delay", "0"])
        # Multicast snooping would drop 224.0.0.18 until a querier exists on some kernels.
        self.run(ns, ["ip", "link", "set", name, "type", "bridge", "mcast_snooping", "0"],
                 check=False)
        self.run(ns, ["ip", "link", "set", name, "up"])
        self._bridges = getattr(self, "_bridges", {})
        self._bridges[ns] = name
        return ns

    def link(self, ns, hub, ifname="eth0", addrs=(), mac=None):
        """A veth pair: `ifname` inside `ns`, the peer enslaved to the bridge in `hub`."""
        peer = unique("v")[:15]
        tmpname = unique("t")[:15]
        self.run(hub, ["ip", "link", "add", peer, "type", "veth", "peer", "name", tmpname])
        self.run(hub, ["ip", "link", "set", tmpname, "netns", ns])
        self.run(ns, ["ip", "link", "set", tmpname, "name", ifname])
        if mac:
            self.run(ns, ["ip", "link", "set", ifname, "address", mac])
        self.run(hub, ["ip", "link", "set", peer, "master", self._bridges[hub]])
        self.run(hub, ["ip", "link", "set", peer, "up"])
        for a in addrs:
            self.run(ns, ["ip", "addr", "add", a, "dev", ifname])
        self.run(ns, ["ip", "link", "set", ifname, "up"])
        return peer  # the hub-side name, e.g. to cut the cable

    def dummy(self, ns, ifname, up=True):
        """A standalone interface in `ns` to toggle up/down: a dummy, or (kernels without
        the dummy driver) a veth whose peer `<ifname>p` stays in the same namespace."""
        r = self.run(ns, ["ip", "link", "add", ifname, "type", "dummy"], check=False)
        if r.returncode != 0:
            self.run(ns, ["ip", "link", "add", ifname, "type", "veth", "peer", "name",
                          (ifname + "p")[:15]])
            self.run(ns, ["ip", "link", "set", (ifname + "p")[:15], "up"])
        if up:
            self.run(ns, ["ip", "link", "set", ifname, "up"])

    # -- commands ----------------------------------------------------------------------------
    @staticmethod
    def _wrap(ns, cmd):
        return ["ip", "netns", "exec", ns] + list(cmd) if ns else list(cmd)

    def run(self, ns, cmd, check=True, timeout=30, input=None):
        return sh(self._wrap(ns, cmd), check=check, timeout=timeout, input=input)

    def out(self, ns, cmd, timeout=30):
        return self.run(ns, cmd, timeout=timeout).stdout

    def tcp_listener(self, ns, address, port, backlog=64):
        """A TCP backend that accepts every connection and closes it at once (a TCP check's
        healthy target), run in `ns` until close()."""
        return self.spawn(ns, [sys.executable, "-c",
                               "import socket\n"
                               "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
                               f"s.bind(({address!r}, {port})); s.listen({backlog})\n"
                               "while True:\n  c,_=s.accept(); c.close()\n"])

    def spawn(self, ns, cmd, stdout=None, stderr=None, log=None, env=None, **kw):
        """Start a long-running process in `ns` (own process group; killed on close()).

        With `log` (a file name under self.tmp) stdout+stderr go there."""
        if log is not None:
            f = open(os.path.join(self.tmp, log), "ab")
            stdout, stderr = f, subprocess.STDOUT
        try:
            p = subprocess.Popen(self._wrap(ns, cmd), stdout=stdout or subprocess.DEVNULL,
                                 stderr=stderr or subprocess.DEVNULL, start_new_session=True,
                                 env=env, **kw)
        finally:
            if log is not None:
                f.close()  # the child has its own copy
        self.procs.append(p)
        return p

    def path(self, name):
        return os.path.join(self.tmp, name)

    def write(self, name, text):
        p = self.path(name)
        with open(p, "w") as f:
            f.write(text)
        return p

    def read(self, name):
        try:
            with open(self.path(name), errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    # -- queries -----------------------------------------------------------------------------
    def addrs(self, ns, ifname):
        """Addresses on ifname as "a.b.c.d/len" strings (both families)."""
        r = self.run(ns, ["ip", "-o", "addr", "show", "dev", ifname], check=False)
        result = []
        for line in r.stdout.splitlines():
            parts = line.split()
            for i, w in enumerate(parts):
                if w in ("inet", "inet6") and i + 1 < len(parts):
                    result.append(parts[i + 1])
        return result

    def has_addr(self, ns, ifname, addr):
        return any(a == addr or a.split("/")[0] == addr for a in self.addrs(ns, ifname))

    @staticmethod
    def stop(p, sig=signal.SIGTERM, timeout=10):
        """Signal a spawned process (the whole group) and wait for it."""
        if p.poll() is None:
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                pass
        try:
            return p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            return p.wait(timeout=5)



def build_dir():
    return os.environ.get("L4LB_BUILD_DIR") or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "build")


class L4lbd:
    """One l4lbd in a namespace, with its own state dir and control socket under lab.tmp.

    `body` is the YAML of everything but state_dir/control (e.g. a `vrrp:` list).
    status() returns the "vrrp" list of `l4lbctl status --json`. With L4LB_VRRP_DRIVER=1
    (or when l4lbd is not built) the test-only vrrp_driver stands in for it."""

    def __init__(self, lab, ns, name, body, log_level="debug", args=()):
        self.lab, self.ns, self.name, self.log_level = lab, ns, name, log_level
        self.args = list(args)  # extra l4lbd command-line options
        self.dir = os.path.join(lab.tmp, name)
        os.makedirs(self.dir, exist_ok=True)
        self.sock = os.path.join(self.dir, "ctl.sock")
        self.conf = os.path.join(self.dir, "l4lb.yaml")
        self.write_config(body)
        bd = build_dir()
        self.l4lbd = os.path.join(bd, "src", "daemon", "l4lbd")
        self.l4lbctl = os.path.join(bd, "src", "ctl", "l4lbctl")
        self.driver = os.path.join(bd, "tests", "unit", "vrrp", "vrrp_driver")
        self.use_driver = os.environ.get("L4LB_VRRP_DRIVER") == "1" or not os.path.exists(
            self.l4lbd)
        self.status_file = os.path.join(self.dir, "status.json")
        self.proc = None

    def write_config(self, body):
        text = (f"state_dir: {self.dir}/state\n"
                f"control:\n  socket: {self.sock}\n" + body)
        with open(self.conf, "w") as f:
            f.write(text)

    def start(self):
        if self.use_driver:
            cmd = [self.driver, self.conf, self.status_file]
        else:
            cmd = [self.l4lbd, "-c", self.conf, "--log-level", self.log_level] + self.args
        self.proc = self.lab.spawn(self.ns, cmd, log=f"{self.name}.log")
        return self

    def log(self):
        return self.lab.read(f"{self.name}.log")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=10):
        return Lab.stop(self.proc, sig, timeout)

    def reload(self):
        os.kill(self.proc.pid, signal.SIGHUP)

    def ctl(self, *args, timeout=10):
        """l4lbctl against this daemon's socket; the CompletedProcess (text)."""
        return subprocess.run([self.l4lbctl, "-s", self.sock, *args], capture_output=True,
                              text=True, timeout=timeout)

    def status_json(self):
        """The whole `l4lbctl status --json` document (raises if it cannot be had)."""
        import json
        return json.loads(self.ctl("status", "--json").stdout)

    def status(self):
        """The VRRP status list, or None when not (yet) available."""
        import json
        try:
            if self.use_driver:
                with open(self.status_file) as f:
                    return json.load(f)
            r = subprocess.run([self.l4lbctl, "-s", self.sock, "status", "--json"],
                               capture_output=True, text=True, timeout=5)
            if r.returncode != 0:
                return None
            return json.loads(r.stdout).get("vrrp")
        except (OSError, ValueError, subprocess.TimeoutExpired):
            return None

    def instance(self, name, family="ipv4"):
        for i in self.status() or []:
            if i.get("name") == name and i.get("family") == family:
                return i
        return None

    def state(self, name, family="ipv4"):
        i = self.instance(name, family)
        return i.get("state") if i else None


def lone_master(prefix, address, body, instance="front"):
    """A Lab with one namespace (eth0 = `address` on a bridge) whose l4lbd runs `body` and has
    become MASTER of `instance`: the setting of the tests that exercise one daemon's handling
    of the host (e.g. no IPVS). Returns (lab, daemon); lab.close() cleans up."""
    lab = Lab(prefix)
    try:
        ns = lab.node("a")
        lab.link(ns, lab.bridge(), "eth0", [address])
        d = L4lbd(lab, ns, "lb", body)
        d.start()
        wait_until(lambda: d.state(instance) == "MASTER", timeout=15, what="MASTER")
    except BaseException:
        lab.close()
        raise
    return lab, d


if __name__ == "__main__":  # smoke test: python3 tests/pylib/netns.py
    with Lab("smk") as lab:
        hub = lab.bridge()
        a, b = lab.node("a"), lab.node("b")
        lab.link(a, hub, "eth0", ["10.9.0.1/24"])
        lab.link(b, hub, "eth0", ["10.9.0.2/24"])
        lab.run(a, ["ping", "-c1", "-W2", "10.9.0.2"])
        print("ok", lab.addrs(a, "eth0"), file=sys.stderr)
