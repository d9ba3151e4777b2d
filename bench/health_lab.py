#!/usr/bin/env python3
"""bench/health.py inside the UML kernel lab, where keepalived's checker can program IPVS:
l4lb (health_probe, the real health::Monitor), l4lbd (the daemon, programming IPVS) and
keepalived (TCP_CHECK) against the same
backends and interval, in the same boot, then the CPU ratio. Root; see tests/pylib/lab.py.

  bench/health_lab.py [--backends 500] [--seconds 60] [--impl all] [other bench/health.py options]

UML has one CPU and slow system calls: compare figures only within one boot.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "pylib"))
import lab  # noqa: E402

GUEST = """
import os, subprocess, sys
r = subprocess.run([sys.executable, {bench!r}] + {args!r},
                   capture_output=True, text=True)
sys.stdout.write(r.stdout)
sys.stderr.write(r.stderr)
sys.exit(r.returncode)
"""


def main():
    why = lab.available()
    if why:
        print(f"health_lab: cannot run: {why}", file=sys.stderr)
        return 77
    args = sys.argv[1:]
    if "--backends" not in args:
        args += ["--backends", "500"]
    if "--impl" not in args:
        args += ["--impl", "all"]
    with lab.Lab("hbench", mem="1536M") as l:
        r = l.run(GUEST.format(bench=os.path.join(HERE, "health.py"), args=args), timeout=1800)
        sys.stdout.write(r.stdout)
        if r.rc != 0:
            sys.stderr.write(r.report())
        return r.rc


if __name__ == "__main__":
    sys.exit(main())
