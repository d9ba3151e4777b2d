#!/usr/bin/env python3
"""Streamed status replies and /metrics scrapes of a real l4lbd (daemon/text_stream.hpp): a
configuration whose full status is several MB, so that a reply is many 256 KiB chunks.

- the full reply, read off the socket, is one JSON line, the same document `l4lbctl` shows;
- /metrics over HTTP/1.1 is chunked (Transfer-Encoding: chunked) and complete, over HTTP/1.0
  close-delimited, and both parse (promtool, when installed);
- a client that asks for the status and then reads nothing holds the rendering back only
  until its session gives up on it (30 s without progress): it is closed with a partial line
  and a second client, queued behind it, still gets its whole reply; the daemon lives on.

Runs on the host (no IPVS: the daemon says so and carries on); only a unix socket and
127.0.0.1 are used."""

import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
import netns  # noqa: E402
import testmain  # noqa: E402

SERVICES, BACKENDS = 2000, 8


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def body(port):
    out = [f"metrics: {{listen: \"127.0.0.1:{port}\"}}", "services:"]
    for i in range(SERVICES):
        out += [f"  - name: svc-{i:05d}", f"    vip: 10.{(i >> 8) & 255}.{i & 255}.1",
                "    port: 80", "    health: {type: none}", "    backends:"]
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
            cls.port = free_port()
            cls.d = netns.L4lbd(cls.lab, None, "lb", body(cls.port), log_level="info")
            cls.d.start()
            netns.wait_until(lambda: cls.d.ctl("status").returncode == 0, timeout=60,
                             what="status")
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

    def scrape(self, version):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        c._http_vsn, c._http_vsn_str = (11, "HTTP/1.1") if version == 11 else (10, "HTTP/1.0")
        c.request("GET", "/metrics")
        r = c.getresponse()
        headers = {k.lower(): v for k, v in r.getheaders()}
        text = r.read()  # http.client undoes the chunking and fails on a truncated body
        c.close()
        return r.status, headers, text

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
        self.assertEqual(len(text10.decode().splitlines()), len(lines))
        if shutil.which("promtool"):
            for t in (text, text10):
                r = subprocess.run(["promtool", "check", "metrics"], input=t,
                                   capture_output=True, timeout=120)
                # promtool exits 1 for lint hints too; a parse error is what must not happen.
                self.assertNotIn(b"error while linting", r.stdout + r.stderr)
                self.assertNotIn(b"text format parsing error", r.stdout + r.stderr)

    def test_03_stalled_reader_is_dropped_and_others_still_served(self):
        stalled = ask(self.d.sock)
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        time.sleep(2)  # its rendering runs and fills its socket
        t0 = time.monotonic()
        other = ask(self.d.sock)
        raw = read_all(other, timeout=120)
        waited = time.monotonic() - t0
        self.assertTrue(raw.endswith(b"}\n"), f"{len(raw)} bytes")
        self.assertTrue(json.loads(raw)["ok"])
        # It waited for the stalled session's timeout (30 s per chunk), not forever, nor for
        # the stream's own 60 s backstop.
        self.assertLess(waited, 55)
        # The stalled client finds its connection closed after a partial line.
        partial = read_all(stalled, timeout=30)
        self.assertFalse(partial.endswith(b"\n"))
        self.assertLess(len(partial), len(raw))
        self.assert_alive()
        self.assertEqual(self.d.ctl("status").returncode, 0)


if __name__ == "__main__":
    testmain.main()
