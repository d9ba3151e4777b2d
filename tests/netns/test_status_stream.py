#!/usr/bin/env python3
"""Streamed status replies and /metrics scrapes of a real l4lbd (daemon/text_stream.hpp): a
configuration whose full status is ~30 MB (more than the 16 MiB a slow reader may fall behind), so that a reply is many 256 KiB chunks.

- the full reply, read off the socket, is one JSON line, the same document `l4lbctl` shows;
- /metrics over HTTP/1.1 is chunked (Transfer-Encoding: chunked) and complete, over HTTP/1.0
  close-delimited, and both parse (promtool, when installed);
- a client that asks for the full status and then reads nothing does not hold anyone else
  back: another client's full status and a scrape, asked after it, complete long before the
  stalled session's 30 s timeout; the stalled client falls behind, is disconnected once it
  is more than 16 MiB behind (a log line, daemon.slow_readers_dropped, the metric), and the
  VRRP master beside it never changes state.

The daemon runs in a namespace of its own (VRRP on a veth to a bridge); the control socket is
a file, and scrapes run in the namespace (`ip netns exec`)."""

import http.client
import json
import os
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
import netns  # noqa: E402
import testmain  # noqa: E402

SERVICES, BACKENDS = 3000, 8


def body(port):
    out = [f"metrics: {{listen: \"127.0.0.1:{port}\"}}",
           "vrrp:", "  - {name: front, interface: eth0, vrid: 7, priority: 150, "
           "advert_interval: 100ms, vips: [10.78.0.100/24]}",
           "services:"]
    for i in range(SERVICES):
        out += [f"  - name: svc-{i:05d}", f"    vip: 10.{(i >> 8) & 255}.{i & 255}.1",
                "    port: 80", "    health: {type: tcp, interval: 60s, timeout: 1s}",
                "    backends:"]
        for k in range(BACKENDS):
            j = i * BACKENDS + k
            out.append(f"      - {{address: 127.{1 + (j >> 16)}.{(j >> 8) & 255}.{j & 255}, "
                       "port: 9}")
    return "\n".join(out) + "\n"


def ask(path, view="full"):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    s.sendall(json.dumps({"command": "status", "view": view}).encode() + b"\n")
    return s


def read_all(s, timeout=120):
    with s:
        s.settimeout(timeout)
        data = bytearray()
        while True:
            b = s.recv(1 << 20)
            if not b:
                return bytes(data)
            data += b


class StatusStream(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        netns.require_root()
        cls.lab = netns.Lab("strm")
        try:
            cls.ns = cls.lab.node("lb")
            hub = cls.lab.bridge()
            cls.lab.link(cls.ns, hub, "eth0", ["10.78.0.1/24"])
            cls.port = netns.free_port()
            cls.d = netns.L4lbd(cls.lab, cls.ns, "lb", body(cls.port), log_level="info")
            cls.d.start()
            netns.wait_until(lambda: cls.d.ctl("status").returncode == 0, timeout=60,
                             what="status")
            netns.wait_until(lambda: cls.d.state("front") == "MASTER", timeout=30,
                             what="MASTER")
        except BaseException:
            cls.lab.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.lab.close()

    def assert_alive(self):
        self.assertTrue(self.d.alive(), self.d.log()[-3000:])

    def test_01_full_reply_is_one_json_line(self):
        raw = read_all(ask(self.d.sock))
        self.assertGreater(len(raw), 4 << 20, "the reply should span many chunks")
        self.assertTrue(raw.endswith(b"}\n"))
        self.assertEqual(raw.count(b"\n"), 1)
        reply = json.loads(raw)
        self.assertTrue(reply["ok"])
        status = reply["status"]
        self.assertEqual(status["view"], "full")
        self.assertEqual(len(status["services"]), SERVICES)
        self.assertEqual(sum(len(s["backends"]) for s in status["services"]),
                         SERVICES * BACKENDS)
        # What l4lbctl prints is the same document (uptime and lag aside).
        shown = self.d.status_json()
        self.assertEqual([s["name"] for s in shown["services"]],
                         [s["name"] for s in status["services"]])
        summary = json.loads(read_all(ask(self.d.sock, "summary")))
        self.assertEqual(summary["status"]["view"], "summary")

    def scrape(self, version, timeout=120):
        """One GET /metrics from inside the daemon's namespace: (status, headers, body)."""
        code = (
            "import http.client, json, sys\n"
            f"c = http.client.HTTPConnection('127.0.0.1', {self.port}, timeout={timeout})\n"
            f"c._http_vsn, c._http_vsn_str = {(11, 'HTTP/1.1') if version == 11 else (10, 'HTTP/1.0')}\n"
            "c.request('GET', '/metrics')\n"
            "r = c.getresponse()\n"
            "h = {k.lower(): v for k, v in r.getheaders()}\n"
            "b = r.read()\n"  # http.client undoes the chunking and fails on a truncated body
            "sys.stdout.buffer.write(json.dumps([r.status, h]).encode() + b'\\n' + b)\n")
        r = subprocess.run(["ip", "netns", "exec", self.ns, sys.executable, "-c", code],
                           capture_output=True, timeout=timeout + 10)
        self.assertEqual(r.returncode, 0, r.stderr.decode()[-2000:])
        head, _, text = r.stdout.partition(b"\n")
        status, headers = json.loads(head)
        return status, headers, text

    def test_02_metrics_are_chunked_and_complete(self):
        status, headers, text = self.scrape(11)
        self.assertEqual(status, 200)
        self.assertEqual(headers.get("transfer-encoding"), "chunked")
        self.assertNotIn("content-length", headers)
        self.assertGreater(len(text), 1 << 20)
        self.assertTrue(text.endswith(b"\n"))
        lines = text.decode().splitlines()
        weights = [x for x in lines if x.startswith("l4lb_ipvs_backend_weight{")]
        self.assertEqual(len(weights), SERVICES * BACKENDS)
        # Each family's samples in one group (the format's rule), HELP/TYPE once.
        types = [x.split()[2] for x in lines if x.startswith("# TYPE ")]
        self.assertEqual(len(types), len(set(types)))
        status10, headers10, text10 = self.scrape(10)
        self.assertEqual(status10, 200)
        self.assertNotIn("transfer-encoding", headers10)
        # The checks run between the two scrapes (their failure reasons may differ); the
        # backends' series are the same.
        weights10 = [x for x in text10.decode().splitlines()
                     if x.startswith("l4lb_ipvs_backend_weight{")]
        self.assertEqual(len(weights10), len(weights))
        # promtool comes with the prometheus package (scripts/apt-packages.txt): required.
        for t in (text, text10):
            r = subprocess.run(["promtool", "check", "metrics"], input=t,
                               capture_output=True, timeout=120)
            # promtool exits 1 for lint hints too; a parse error is what must not happen.
            self.assertNotIn(b"error while linting", r.stdout + r.stderr)
            self.assertNotIn(b"text format parsing error", r.stdout + r.stderr)

    def test_03_a_client_that_never_reads_holds_nobody_back(self):
        before = self.d.status_json()
        [inst] = [i for i in before["vrrp"] if i["name"] == "front"]
        stalled = ask(self.d.sock)
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        time.sleep(2)  # its rendering runs and fills its socket
        t0 = time.monotonic()
        other = ask(self.d.sock)
        raw = read_all(other, timeout=120)
        status_took = time.monotonic() - t0
        self.assertTrue(raw.endswith(b"}\n"), f"{len(raw)} bytes")
        self.assertGreater(len(raw), 17 << 20, "more than a slow reader's 16 MiB cap")
        self.assertTrue(json.loads(raw)["ok"])
        t1 = time.monotonic()
        code, _, text = self.scrape(11)
        scrape_took = time.monotonic() - t1
        self.assertEqual(code, 200)
        self.assertIn(b"l4lb_slow_readers_dropped_total", text)
        # Neither waited for the stalled session's 30 s reply timeout (before the fix both
        # did): the stalled reader fell behind the moment someone else asked.
        self.assertLess(status_took + scrape_took, 25, (status_took, scrape_took))
        # The stalled client: more than 16 MiB behind, disconnected after a partial line.
        partial = read_all(stalled, timeout=30)
        self.assertFalse(partial.endswith(b"\n"))
        self.assertLess(len(partial), len(raw))
        netns.wait_until(lambda: "slow-reader cap" in self.d.log(), timeout=10,
                         what="the slow-reader log line")
        after = self.d.status_json()
        self.assertGreaterEqual(after["daemon"]["slow_readers_dropped"], 1)
        # VRRP beside it: still master, no transition.
        [inst_after] = [i for i in after["vrrp"] if i["name"] == "front"]
        self.assertEqual(inst_after["state"], "MASTER")
        self.assertEqual(inst_after["transitions"], inst["transitions"])
        self.assert_alive()
        self.assertEqual(self.d.ctl("status").returncode, 0)


    def test_04_an_answer_cut_short_is_named_as_such(self):
        # What a dropped slow reader (or a daemon killed mid-answer) leaves the client: part of
        # the line, then EOF. l4lbctl must say so, not call it "not JSON".
        import tempfile
        import threading
        path = os.path.join(tempfile.mkdtemp(prefix="l4lb-cut-"), "cut.sock")
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(path)
        srv.listen(4)

        def serve():
            for _ in range(2):
                c, _ = srv.accept()
                c.recv(4096)
                c.sendall(b'{"ok": true, "status": {"view": "full", "services": [')
                c.close()
        t = threading.Thread(target=serve, daemon=True)
        t.start()
        try:
            for args in (["status", "--json"], ["status"]):
                r = subprocess.run([self.d.l4lbctl, "-s", path, *args], capture_output=True,
                                   text=True, timeout=30)
                self.assertNotEqual(r.returncode, 0, r.stdout)
                self.assertIn("before its answer was complete", r.stderr)
                self.assertNotIn("not JSON", r.stderr)
        finally:
            srv.close()
            t.join(5)
            os.unlink(path)

if __name__ == "__main__":
    testmain.main()
