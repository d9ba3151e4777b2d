#!/usr/bin/env python3
"""The README's demo (scripts/demo.sh runs it as root): the HA pair of tests/lab/e2e.py in a
User-Mode Linux VM, narrated step by step while it runs. Needs the build in $L4LB_BUILD_DIR
(default: build/). The same steps are asserted by tests/lab/test_e2e.py."""
import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "pylib"))
import e2e  # noqa: E402
import lab  # noqa: E402

GUEST = r'''
import os, sys
sys.path.insert(0, os.path.join(os.environ["L4LB_SOURCE_DIR"], "tests/lab"))
import demo
demo.guest_main()
'''


def say(text=""):
    print(text, flush=True)


def indent(text, prefix="    "):
    return "\n".join(prefix + line for line in text.rstrip("\n").splitlines())


def show_check(sc, label, ports=()):
    say(label)
    for fam, addr in (("IPv4", e2e.VIP4), ("IPv6", e2e.VIP6)):
        lines, results = sc.check(addr, 3, ports)
        say(f"    from the client to {addr} ({fam}):")
        for line, (_, r) in zip(lines, results.items()):
            say(f"      {line:<26} answered by {' '.join(r['backends']) or '-'}")


def status_excerpt(text, services=()):
    """`l4lbctl status` with only the service blocks that mention one of `services`."""
    out, block = [], None
    for line in text.splitlines() + [""]:
        starts = line.strip().startswith("SERVICE ") and "VIRTUAL SERVICE" in line
        if block is not None and (starts or not line.strip()):
            if any(s in "\n".join(block) for s in services):
                out += block
            block = None
        if starts:
            block = [line]
        elif block is not None:
            block.append(line)
        elif not (line.startswith("SERVICES") and not services):
            out.append(line)
    return "\n".join(out).rstrip("\n")


def guest_main():
    sc = e2e.Scenario(os.environ["L4LB_SOURCE_DIR"], os.environ["L4LB_BUILD_DIR"],
                      os.environ["LAB_OUT"])
    t0 = time.monotonic()
    try:
        say("The VM is up. Building the network: a client, two load balancers (lb-a, lb-b) and "
            "three\nFreeIPA-like backends (ipa1..ipa3) answering on TCP 80 443 389 636 88 464 "
            "and UDP 88 464.")
        say(f"Clients use the virtual IPs {e2e.VIP4} and {e2e.VIP6}; the backends' default "
            f"gateway is\nthe virtual IP {e2e.GW4} / {e2e.GW6}, so replies return through "
            "whichever balancer is master.\n")
        sc.start_pair()
        say(f"1. Both balancers run l4lbd (all up {time.monotonic() - t0:.0f}s after boot). They "
            "elected lb-a as VRRP master: it holds the\n   virtual IPs, lb-b stands by. "
            "Both programmed the same 18 IPVS services and health-check\n   every backend "
            "(TCP connect for TCP, a UDP request/reply for Kerberos over UDP).\n")
        for node in e2e.LB_NODES:
            say(f"   $ l4lbctl status        # on {node}")
            text = sc.ctl(node, "status").stdout
            if node == "lb-a":
                say(indent(status_excerpt(text, (f"{e2e.VIP4}:389/tcp", f"{e2e.VIP4}:88/udp"))))
                say("    (... 16 more services: 80, 443, 636, 88/tcp, 464/tcp, 464/udp, and "
                    "all eight over IPv6;\n     SNAT 8080 over IPv4 and IPv6)\n")
            else:
                say(indent(status_excerpt(text)) + "\n    (... the same 18 services)\n")

        show_check(sc, "2. The client checks every port through the virtual IPs, three fresh "
                       "connections each\n   (rr rotates, sh keeps a client on one backend, lc "
                       "picks the least loaded):")

        name, port = e2e.PORT_FAIL
        say(f"\n   One port fails: {name} closes its {port} listener only. The per-port health "
            f"checks take {name}\n   out of the {port} services and nowhere else:")
        seconds, tables = sc.fail_port(name, port)
        say(f"   $ ipvsadm -Ln           # on lb-a, {seconds:.1f}s later, ports 389 and {port}")
        table = tables["lb-a"].splitlines()
        say(indent("\n".join(_ipvs_block(table, f"{e2e.VIP4}:389") +
                             _ipvs_block(table, f"{e2e.VIP4}:{port}")[2:])))
        seconds, _ = sc.fail_port(name, port, fail=False)
        say(f"   Reopened: {name} is back in the {port} services {seconds:.1f}s later.")

        show_check(sc, f"\n   SNAT: {e2e.SNAT_SERVICE} (TCP {e2e.SNAT_PORT}, `snat: true`) "
                       f"goes to {e2e.SNAT_BACKEND[0]}, which has no route back\n   to the "
                       "client; l4lbd's nftables rule masquerades the client's address:",
                   [f"{e2e.SNAT_PORT}/tcp"])

        sc.wait_sync("lb-a", ["master", "backup"])
        sc.wait_sync("lb-b", ["backup"])
        sessions, opened = sc.start_sessions(e2e.VIP4, 80, 12)
        say(f"\n   {opened['opened']} long-lived connections to {e2e.VIP4}:80 are open through "
            "lb-a; the kernel's IPVS sync\n   daemon (ipvs.sync_daemon) tells lb-b about them.")
        time.sleep(3.0)

        say("\n3. Crash: kill -9 the l4lbd of the master, lb-a. lb-b stops hearing its "
            f"advertisements (one every {e2e.ADVERT_MS} ms;\n   it waits three of them plus a "
            "priority skew) and takes over the virtual IPs (gratuitous ARP /\n   unsolicited "
            "neighbour advertisement).")
        f = sc.failover("lb-a", "lb-b")
        say(f"   Failover took {f['answered_after_s']:.2f}s from the SIGKILL to the first "
            f"answer through lb-b\n   (lb-b reported MASTER after {f['master_after_s']:.2f}s).")
        a = sc.check_sessions(sessions)
        say(f"   Long-lived connections: {a['survived']} of {a['total']} still exchange data "
            f"through lb-b ({a['same_backend']} with the same backend).")
        show_check(sc, "   The same check, now through lb-b:")

        say("\n4. Backend ipa2 stops its services. Its health checks fail and l4lbd takes it "
            "out of every service:")
        seconds, _ = sc.stop_backend_and_wait("ipa2", "lb-b")
        say(f"   ipa2 was out of all its 16 services {seconds:.1f}s later.")
        text = sc.ctl("lb-b", "status").stdout
        say("   $ l4lbctl status        # on lb-b, the LDAP service")
        say(indent(status_excerpt(text, (f"{e2e.VIP4}:389/tcp",))))
        table = sc.ipvsadm("lb-b").splitlines()
        say("   $ ipvsadm -Ln           # the kernel's table on lb-b, port 389")
        say(indent("\n".join(_ipvs_block(table, f"{e2e.VIP4}:389"))))
        show_check(sc, "   Every port still answers, from ipa1 and ipa3 only:")

        say("\n5. Reload: edit lb-b's config file (ipa-web: scheduler rr -> wlc), then:")
        before = e2e.ipvs_config_view(sc.ipvsadm("lb-b"))
        vrrp_before = e2e.vrrp_view(sc.status("lb-b"))
        sc.write_config("lb-b", schedulers={"ipa-web": "wlc"})
        r = sc.ctl("lb-b", "reload")
        say("   $ l4lbctl reload")
        say(indent(r.stdout + r.stderr))
        after = e2e.ipvs_config_view(sc.ipvsadm("lb-b"))
        changed = [f"{a}  (was: {b})" for a, b in zip(after, before) if a != b]
        say(f"   In the kernel, {len(changed)} of {len(after)} lines of ipvsadm -Ln changed; "
            "nothing else was touched:")
        say(indent("\n".join(changed)))
        if e2e.vrrp_view(sc.status("lb-b")) == vrrp_before:
            say("   VRRP did not notice: lb-b is still MASTER since the failover, no re-election.")
        else:
            say("   !! the reload disturbed VRRP: " + e2e.vrrp_view(sc.status("lb-b")))

        say(f"\nDone in {time.monotonic() - t0:.0f}s inside the VM. The same steps, with "
            "assertions: tests/lab/test_e2e.py")
    except Exception:
        sc.save_diagnostics()
        raise
    finally:
        sc.close()


def _ipvs_block(lines, service):
    out, on = lines[1:3], False
    for line in lines[3:]:
        if not line.startswith("  ->"):
            on = service in line
        if on:
            out.append(line)
    return out


def main():
    why = lab.available()
    if why:
        sys.exit(f"demo: cannot run the kernel lab: {why}")
    for exe in ("src/daemon/l4lbd", "src/ctl/l4lbctl"):
        if not (lab.BUILD_DIR / exe).exists():
            sys.exit(f"demo: {lab.BUILD_DIR / exe} missing: build first (scripts/build.sh)")
    say("l4lb demo: a highly available TCP/UDP load balancer (VRRPv3 + kernel IPVS), end to end.")
    say("Everything runs inside a throwaway User-Mode Linux VM with real IPVS; nothing here "
        "touches your network.")
    say("Booting the VM...")
    start = time.monotonic()
    with lab.Lab("demo") as vm:
        holder = {}
        t = threading.Thread(target=lambda: holder.update(r=vm.run(
            GUEST, timeout=540, modules=e2e.NFT_MODULES)))
        t.start()
        pos = 0
        while t.is_alive():
            pos = _tail(vm.dir, pos)
            time.sleep(0.2)
        t.join()
        _tail(vm.dir, pos)
        r = holder["r"]
        if r.rc != 0 or r.timed_out:
            say("\nThe demo failed. Logs of every node follow.")
            say(r.report(tail=8000))
            sys.exit(1)
    say(f"Total, including the VM's boot and shutdown: {time.monotonic() - start:.0f}s.")


def _tail(lab_dir, pos):
    """Print what the guest wrote to its stdout since `pos` (the file lives on the host)."""
    for path in lab_dir.glob("run*/out/stdout"):
        with open(path, "rb") as f:
            f.seek(pos)
            chunk = f.read()
        if chunk:
            sys.stdout.write(chunk.decode(errors="replace"))
            sys.stdout.flush()
        return pos + len(chunk)
    return pos


if __name__ == "__main__":
    main()
