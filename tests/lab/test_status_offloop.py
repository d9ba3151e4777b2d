#!/usr/bin/env python3
"""A status (or a Prometheus scrape) on a large table does not stop the event loop (one UML
boot): l4lbd programs 5,000 services, then `status` requests run while cheap requests are
sent every 10 ms. The kernel's table is read by a thread of its own (ipvs::TableReader), so
the cheap requests keep being answered at once; with the dump on the loop they waited for
the whole dump, and so did VRRP adverts and health checks."""
import unittest

import lab
import testmain

GUEST = r'''
import json, socket, statistics, threading, time
from lab import check, finish, sh, Guest, save, time_scale, wait_for

N = 5000
body = "services:\n" + "".join(
    f"  - name: s{i}\n    vip: 10.0.{100 + i // 250}.{i % 250 + 1}\n    port: 80\n"
    f"    scheduler: rr\n    health: {{type: none}}\n"
    f"    backends: [{{address: 10.1.0.11, port: 8080}}, {{address: 10.1.0.12, port: 8080}}]\n"
    for i in range(N))

g = Guest(clients=1, backends=2).setup()
d = g.daemon("offloop", body)
d.start()
wait_for(lambda: sh("ipvsadm -Ln | grep -c '^TCP'", check=False).strip() == str(N), 300, 1)

def ask(command):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(30 * time_scale())  # a status of 5,000 services under QEMU TCG: > 30 s
    s.connect(d.sock)
    s.sendall((json.dumps({"command": command}) + "\n").encode())
    data = b""
    while not data.endswith(b"\n"):
        chunk = s.recv(1 << 20)
        if not chunk:
            break
        data += chunk
    s.close()
    return json.loads(data)

# Start-up work (the first apply's bookkeeping, the ownership record) runs on the loop: wait
# until the daemon answers at once, and read one status, before measuring.
ask("status")
def idle():
    t0 = time.monotonic()
    ask("no-such-command")
    return time.monotonic() - t0 < 0.05
wait_for(idle, 120, 0.2)

status_times, running, spans = [], [True], []
T0 = time.monotonic()
def statuses():
    for _ in range(3):
        t0 = time.monotonic()
        st = ask("status")["status"]
        status_times.append(time.monotonic() - t0)
        spans.append((round(t0 - T0, 3), round(time.monotonic() - T0, 3)))
        check("status lists every service", len(st["services"]) == N, len(st["services"]))
    running[0] = False

cheap = []
t = threading.Thread(target=statuses)
t.start()
while running[0]:
    t0 = time.monotonic()
    r = ask("no-such-command")
    cheap.append(time.monotonic() - t0)
    if cheap[-1] > 0.2:
        print(f"slow cheap at {t0 - T0:.3f}: {cheap[-1]:.3f}")
    time.sleep(0.01)
t.join()
save("times.json", json.dumps({"status_s": status_times, "cheap_s": cheap}))
med = statistics.median(status_times)
print("status spans", spans)
print(f"status median {med:.3f}s, cheap requests: {len(cheap)}, max {max(cheap):.3f}s")
check("a status of 5,000 services takes long enough to matter (>= 0.2 s)", med >= 0.2,
      f"{status_times}")
check("cheap requests answered meanwhile (at least 10)", len(cheap) >= 10, len(cheap))
check("no cheap request waited as long as half a status", max(cheap) < med / 2,
      f"max {max(cheap):.3f}s vs status median {med:.3f}s")
save("l4lbd.log", d.log())
finish()
'''


@unittest.skipIf(lab.available(), lab.available())
class StatusOffLoop(unittest.TestCase):
    def test_status_does_not_block_the_loop(self):
        with lab.Lab("status-offloop", mem="1536M") as l:
            r = l.run(GUEST, timeout=600)
            print(r.stdout)
            r.check()


if __name__ == "__main__":
    testmain.main()
