#!/usr/bin/env python3
"""Log lines reach journald with L4LB_INSTANCE/SERVICE/BACKEND fields when stderr is the
journal stream, and stay plain "<N>line" stderr otherwise (src/common/log.cpp).

There is no journald here (no systemd as PID 1), so the test plays it: in a private mount
namespace (`unshare -m`, root) a tmpfs over /run holds a datagram socket where
sd_journal_sendv sends, and JOURNAL_STREAM names the probe's stderr pipe as systemd would.
The real journald indexing the fields is checked by test_systemd_unit.py (journalctl
L4LB_INSTANCE=front under systemd as PID 1 in a container); this test covers every field, the
stderr fallback and the JOURNAL_STREAM check, without a container."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.environ.get("L4LB_BUILD_DIR", os.path.join(HERE, "..", "..", "build"))
PROBE = os.path.join(BUILD, "tests", "unit", "common", "log_probe")

LINES = ["health service=ldap backend=192.168.1.10 status=down",
         "vrrp instance=ingress family=ipv4 state=MASTER",
         "plain line"]

INNER = r'''
import os, socket, subprocess, sys, json
probe, lines = sys.argv[1], sys.argv[2:]
# A tmpfs over /run, seen only in this mount namespace: nothing of the host's /run changes.
subprocess.run(["mount", "-t", "tmpfs", "tmpfs", "/run"], check=True)
os.makedirs("/run/systemd/journal")
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("/run/systemd/journal/socket")
s.settimeout(5)
results = {}
# 1. stderr is the stream JOURNAL_STREAM names: the lines go to the socket.
r, w = os.pipe()
st = os.fstat(w)
env = dict(os.environ, JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}")
p = subprocess.run([probe, *lines], stderr=w, env=env)
os.close(w)
results["stderr_journal"] = os.read(r, 65536).decode()
results["datagrams"] = []
for _ in lines:
    try:
        results["datagrams"].append(s.recv(65536).decode())
    except socket.timeout:
        break
# 2. JOURNAL_STREAM names another stream (stderr redirected): plain stderr, nothing sent.
r, w = os.pipe()
env = dict(os.environ, JOURNAL_STREAM="1:2")
subprocess.run([probe, *lines], stderr=w, env=env)
os.close(w)
results["stderr_other"] = os.read(r, 65536).decode()
s.setblocking(False)
try:
    results["stray"] = s.recv(65536).decode()
except BlockingIOError:
    results["stray"] = None
print(json.dumps(results))
'''


def main():
    if os.geteuid() != 0:
        print("test_journal.py: needs root (mount namespace)")
        return 1
    if not os.path.exists(PROBE):
        print(f"test_journal.py: {PROBE} not built")
        return 1
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(INNER)
    try:
        out = subprocess.run(["unshare", "-m", "--propagation", "private", sys.executable, f.name,
                              PROBE, *LINES], capture_output=True, text=True, timeout=60)
    finally:
        os.unlink(f.name)
    if out.returncode != 0:
        print(out.stdout, out.stderr)
        return 1
    res = json.loads(out.stdout)
    failures = []
    grams = res["datagrams"]
    if len(grams) != 3:
        failures.append(f"{len(grams)} datagrams, want 3: {grams}")
    else:
        want = [
            {"MESSAGE=" + LINES[0], "PRIORITY=5", "SYSLOG_IDENTIFIER=log_probe",
             "L4LB_SERVICE=ldap", "L4LB_BACKEND=192.168.1.10"},
            {"MESSAGE=" + LINES[1], "L4LB_INSTANCE=ingress"},
            {"MESSAGE=" + LINES[2]},
        ]
        for g, fields in zip(grams, want):
            got = set(g.rstrip("\n").split("\n"))
            if not fields <= got:
                failures.append(f"datagram {got} lacks {fields - got}")
        if "L4LB_" in grams[2]:
            failures.append(f"a line naming nothing got fields: {grams[2]!r}")
        if "L4LB_INSTANCE" in grams[0]:
            failures.append(f"an absent field was sent: {grams[0]!r}")
    if res["stderr_journal"]:
        failures.append(f"lines also went to stderr: {res['stderr_journal']!r}")
    want_plain = "".join(f"<5>{line}\n" for line in LINES)
    if res["stderr_other"] != want_plain:
        failures.append(f"stderr not journal: got {res['stderr_other']!r}, want {want_plain!r}")
    if res["stray"] is not None:
        failures.append(f"sent to the journal although stderr is not its stream: {res['stray']!r}")
    for f_ in failures:
        print("FAIL:", f_)
    if not failures:
        print("journal fields and the stderr fallback checked")
    return 1 if failures else 0


class Journal(unittest.TestCase):
    def test_fields_and_stderr_fallback(self):
        self.assertEqual(main(), 0)


if __name__ == "__main__":
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
    import testmain  # noqa: E402
    testmain.main()
