#!/usr/bin/env python3
"""shell/l4lbctl.bash completes commands, options and the running daemon's names. The daemon
is played by a fake control socket that answers `status` with a fixed document, so the real
l4lbctl binary asks it (`l4lbctl __complete ...`) exactly as it would ask l4lbd. Also checks
`l4lbctl status NAME`, `version` and the exit codes against the same socket.
Exit 77 (skipped) when l4lbctl is not built."""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading

SRC = os.environ.get("L4LB_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("L4LB_BUILD_DIR", os.path.join(SRC, "build"))
SCRIPT = os.path.join(SRC, "shell/l4lbctl.bash")

STATUS = {
    "schema": 1,
    "daemon": {"node": "lb-test", "version": "9.9.9", "pid": 4242, "started_at": 0,
               "config_file": "/etc/l4lb.yaml", "generation": 1},
    "vrrp": [{"name": "ingress", "family": "ipv4", "vips": ["10.0.0.1/24"], "state": "MASTER"},
             {"name": "gateway", "family": "ipv4", "vips": ["192.168.1.1/24"], "state": "BACKUP"}],
    "services": [
        {"name": "ldap", "vip": "10.0.0.1", "port": 389, "protocol": "tcp",
         "backends": [{"address": "192.168.1.10", "port": 389}, {"address": "192.168.1.11", "port": 389}]},
        {"name": "kerberos", "vip": "10.9.9.9", "port": 88, "protocol": "udp",
         "backends": [{"address": "192.168.1.12", "port": 88}]},
    ],
    "ipvs": {"enabled": True, "available": True},
}
failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL:", msg)


def serve(listener, requests):
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            data = b""
            while not data.endswith(b"\n"):
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
            req = json.loads(data or b"{}")
            requests.append(req.get("command"))
            if req.get("command") == "status":
                conn.sendall(json.dumps({"ok": True, "status": STATUS}).encode() + b"\n")
            else:
                conn.sendall(b'{"ok": false, "error": "not in this fake"}\n')


def complete(l4lbctl, words, env):
    """COMPREPLY for the command line `words` (the last word is the one being completed)."""
    bindir = os.path.dirname(l4lbctl)
    line = " ".join(words)
    script = f"""
source {SCRIPT}
COMP_WORDS=({' '.join(repr(w) if w else "''" for w in words)})
COMP_CWORD={len(words) - 1}
COMP_LINE={line!r}
COMP_POINT={len(line)}
_l4lbctl
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    r = subprocess.run(["bash", "--norc", "--noprofile", "-c", script], capture_output=True,
                       text=True, env=dict(env, PATH=bindir + ":" + env["PATH"]))
    if r.returncode != 0 or r.stderr:
        fail(f"completing {words}: rc={r.returncode} {r.stderr.strip()}")
    return sorted(w for w in r.stdout.split("\n") if w)


def expect(l4lbctl, words, want, env):
    got = complete(l4lbctl, words, env)
    if got != sorted(want):
        fail(f"completing {words!r}: got {got}, want {sorted(want)}")


def main():
    l4lbctl = os.path.join(BUILD, "src/ctl/l4lbctl")
    if not os.path.exists(l4lbctl):
        print("skipped: l4lbctl not built")
        return 77
    tmp = tempfile.mkdtemp(prefix="l4lb-completion-")
    try:
        sock_path = os.path.join(tmp, "l4lbd.sock")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(sock_path)
        listener.listen(16)
        requests = []
        threading.Thread(target=serve, args=(listener, requests), daemon=True).start()
        env = dict(os.environ, L4LB_SOCKET=sock_path)

        # The script registers itself for l4lbctl.
        r = subprocess.run(["bash", "--norc", "-c", f"source {SCRIPT}; complete -p l4lbctl"],
                           capture_output=True, text=True)
        if "-F _l4lbctl l4lbctl" not in r.stdout:
            fail(f"complete -p l4lbctl: {r.stdout!r} {r.stderr!r}")

        commands = ["status", "reload", "drain", "undrain", "check-config", "version"]
        expect(l4lbctl, ["l4lbctl", ""], commands, env)
        expect(l4lbctl, ["l4lbctl", "dr"], ["drain"], env)
        expect(l4lbctl, ["l4lbctl", "--"], ["--socket", "--help"], env)
        expect(l4lbctl, ["l4lbctl", "status", ""], ["ingress", "gateway", "ldap", "kerberos"], env)
        expect(l4lbctl, ["l4lbctl", "status", "--"], ["--json", "--view", "--watch", "--help"], env)
        expect(l4lbctl, ["l4lbctl", "status", "l"], ["ldap"], env)
        expect(l4lbctl, ["l4lbctl", "drain", ""], ["192.168.1.10", "192.168.1.11", "192.168.1.12"], env)
        expect(l4lbctl, ["l4lbctl", "drain", "192.168.1.10", "--service", ""], ["ldap", "kerberos"], env)
        expect(l4lbctl, ["l4lbctl", "undrain", "--"], ["--service", "--help"], env)
        # --socket on the command line is the one asked.
        expect(l4lbctl, ["l4lbctl", "--socket", sock_path, "status", "k"], ["kerberos"],
               dict(env, L4LB_SOCKET="/nonexistent"))
        # No daemon: no names, and no error on the terminal.
        expect(l4lbctl, ["l4lbctl", "status", ""], [], dict(env, L4LB_SOCKET=os.path.join(tmp, "none")))
        if requests.count("status") < 5:
            fail(f"the completion did not ask the daemon: {requests}")

        # The commands behind it, against the same fake daemon.
        def ctl(*args, socket_path=sock_path):
            return subprocess.run([l4lbctl, "--socket", socket_path, *args], capture_output=True, text=True)

        r = ctl("status", "ldap")
        if r.returncode != 0 or "ldap" not in r.stdout or "kerberos" in r.stdout or "ingress" in r.stdout:
            fail(f"status ldap: rc={r.returncode}\n{r.stdout}{r.stderr}")
        r = ctl("status", "--json", "ingress")
        doc = json.loads(r.stdout) if r.returncode == 0 else {}
        if [s["name"] for s in doc.get("services", [])] != ["ldap"] or \
                [i["name"] for i in doc.get("vrrp", [])] != ["ingress"]:
            fail(f"status --json ingress: {r.returncode} {r.stdout[:300]} {r.stderr}")
        r = ctl("status", "nosuch")
        if r.returncode != 1 or "nosuch" not in r.stderr:
            fail(f"status nosuch: rc={r.returncode} {r.stderr}")
        r = ctl("version")
        if r.returncode != 0 or "l4lbctl " not in r.stdout or "l4lbd 9.9.9" not in r.stdout:
            fail(f"version: rc={r.returncode} {r.stdout} {r.stderr}")
        r = ctl("version", socket_path=os.path.join(tmp, "none"))
        if r.returncode != 3 or "l4lbctl " not in r.stdout:
            fail(f"version without a daemon: rc={r.returncode} {r.stdout} {r.stderr}")
        r = ctl("status", "--watch", "0")
        if r.returncode != 2:
            fail(f"status --watch 0: rc={r.returncode} {r.stderr}")
        # --watch repeats: two screens within 0.5 s at a 0.2 s period (killed by the timeout).
        p = subprocess.Popen([l4lbctl, "--socket", sock_path, "status", "--watch", "0.2", "ldap"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            out, _ = p.communicate(timeout=0.7)
        except subprocess.TimeoutExpired:
            p.kill()
            out, _ = p.communicate()
        if out.count("node lb-test") < 2 or "kerberos" in out:
            fail(f"status --watch 0.2 ldap printed {out.count('node lb-test')} screens:\n{out[:400]}")
        listener.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("completion and status filters checked")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
