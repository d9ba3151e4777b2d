"""The kernel lab: a guest kernel with real IPVS, for tests and benchmarks.

Host side (`Lab`): boots User-Mode Linux (`linux.uml`) or, where UML cannot run (an AMX
CPU, see backend()), Debian's kernel under QEMU TCG, with the host filesystem as its root
(hostfs / virtio-9p); loads the IPVS, scheduler and link modules in one `modprobe -a` (the
guest kernel cannot autoload them); runs one guest script and returns its exit code, stdout,
stderr and every file the script wrote to $LAB_OUT. Under QEMU the kernel boots through PVH
from its uncompressed ELF (`_pvh_image`, cached in /var/tmp/l4lb-lab-cache): a boot that runs
one Python script takes ~14 s of one core.

Guest side (`Guest`, used by the guest script, which imports this same module):
namespaces for clients and backends routed through the load balancer (the guest's
root namespace), TCP/UDP echo servers that answer with their own name, clients that
count which backend answered, long-lived connections, and the host-built binaries.

Everything a guest needs lives under /var/tmp/l4lb-lab-<pid>-<n>/, because the guest
mounts tmpfs over /tmp and /run. Only one boot per test file is expected: UML has one
CPU and is slow, so a guest script should run several checks per boot.

    from lab import Lab
    with Lab("ipvs") as lab:
        r = lab.run(GUEST_PY, timeout=300)       # python3 script text
        r.check()                                 # raises with the logs if rc != 0
        print(r.stdout, r.files["table.txt"])
"""

import atexit
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

UML = "/usr/bin/linux.uml"
UML_MODULES = Path("/usr/lib/uml/modules")
PYLIB = Path(__file__).resolve().parent
SOURCE_DIR = Path(os.environ.get("L4LB_SOURCE_DIR", PYLIB.parent.parent))
BUILD_DIR = Path(os.environ.get("L4LB_BUILD_DIR", SOURCE_DIR / "build"))

SCHEDULERS = ["rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo",
              "ovf", "mh"]
LINK_MODULES = ["veth", "bridge", "macvlan", "dummy", "ipip", "ip6_tunnel", "sit"]

_live = []  # Labs not yet cleaned up, for atexit / SIGTERM
_counter = itertools.count()


QEMU = "/usr/bin/qemu-system-x86_64"
BUSYBOX = "/bin/busybox"
# The modules the QEMU guest's initramfs loads to mount the host's root over 9p (in order).
NINEP_MODULES = ["virtio_ring", "virtio_pci_modern_dev", "virtio_pci_legacy_dev", "virtio",
                 "virtio_pci", "9pnet", "9pnet_virtio", "netfs", "fscache", "9p"]


def backend():
    """Which kernel the lab boots: "uml" (User-Mode Linux, the default) or "qemu" (the Debian
    kernel under QEMU's software emulation, with the host's root over 9p).

    UML 6.1 cannot start a process on a host whose CPU has AMX: the host kernel refuses its
    short XSAVE buffer (ptrace set fp regs: EFAULT, then "Attempted to kill init"). There the
    lab falls back to QEMU. It does the same when Debian's UML kernel lacks what the lab's
    tests need: user-mode-linux 6.1um4 builds nf_tables without NAT (no nft_nat,
    nft_chain_nat), so SNAT, fwmark and the end-to-end demo cannot run there.
    L4LB_LAB_BACKEND=uml|qemu forces one."""
    forced = os.environ.get("L4LB_LAB_BACKEND")
    if forced in ("uml", "qemu"):
        return forced
    return "qemu" if _uml_broken() or _uml_missing(UML_NEEDS) else "uml"


# Modules beyond IPVS that some lab test loads, which the UML kernel must have (as a module
# or built in) for the lab to use it.
UML_NEEDS = ["nft_nat", "nft_chain_nat", "nft_masq", "nft_ct"]


def _uml_missing(modules):
    """The `modules` Debian's UML kernel has neither as a module nor built in ([] without UML:
    then available() says what is missing)."""
    release = _kernel_release()
    if not release:
        return []
    root = UML_MODULES / release
    names = set()
    for listing in ("modules.dep", "modules.builtin"):
        try:
            with open(root / listing) as f:
                for line in f:
                    path = line.split(":", 1)[0].strip()
                    names.add(os.path.basename(path).split(".ko")[0].replace("-", "_"))
        except OSError:
            pass
    return [m for m in modules if m not in names]


def time_scale():
    """How much slower than UML the lab's kernel runs: QEMU's software emulation is several
    times slower, so every timeout of a lab run (host and guest side) is stretched by this."""
    if "LAB_TIME_SCALE" in os.environ:
        return float(os.environ["LAB_TIME_SCALE"])
    return 4.0 if backend() == "qemu" else 1.0


def _uml_broken():
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "")
    except OSError:
        return False
    return " amx_tile" in flags


def _qemu_kernel():
    """(vmlinuz, release) of an installed Debian kernel with IPVS and 9p modules, or None."""
    for vmlinuz in sorted(Path("/boot").glob("vmlinuz-*"), reverse=True):
        release = vmlinuz.name[len("vmlinuz-"):]
        mods = Path("/lib/modules") / release / "kernel"
        if (mods / "net/netfilter/ipvs").is_dir() and (mods / "fs/9p").is_dir():
            return vmlinuz, release
    return None


def available():
    """Why the lab cannot run here, or None when it can."""
    if os.geteuid() != 0:
        return "the lab needs root (host root filesystem, module loading)"
    if backend() == "qemu":
        if not os.path.exists(QEMU):
            return f"{QEMU} missing (package qemu-system-x86; UML cannot run on this CPU)"
        if not _qemu_kernel():
            return "no Debian kernel with IPVS and 9p under /boot (package linux-image-amd64)"
        if not os.path.exists(BUSYBOX):
            return f"{BUSYBOX} missing (package busybox-static)"
        return None
    if not os.path.exists(UML):
        return f"{UML} missing (package user-mode-linux)"
    if not _kernel_release():
        return f"no UML modules under {UML_MODULES}"
    return None


def _kernel_release():
    if not UML_MODULES.is_dir():
        return None
    releases = sorted(p.name for p in UML_MODULES.iterdir() if (p / "modules.dep").exists())
    return releases[-1] if releases else None


def _cleanup_all():
    for lab in list(_live):
        lab.close()


def _on_sigterm(signum, frame):
    _cleanup_all()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


atexit.register(_cleanup_all)
if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
    signal.signal(signal.SIGTERM, _on_sigterm)


class LabError(AssertionError):
    pass


class LabResult:
    def __init__(self, rc, stdout, stderr, console, files, timed_out, seconds):
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.console = console  # the guest kernel's console (boot log, module messages)
        self.files = files  # name -> text for every file the script left in $LAB_OUT
        self.timed_out = timed_out
        self.seconds = seconds

    def report(self, tail=6000):
        parts = [f"guest rc={self.rc} timed_out={self.timed_out} seconds={self.seconds:.1f}",
                 "--- stdout ---", self.stdout[-tail:], "--- stderr ---", self.stderr[-tail:]]
        for name, text in sorted(self.files.items()):
            parts += [f"--- {name} ---", text[-tail:]]
        parts += ["--- console (tail) ---", self.console[-2000:]]
        if "ptrace set fp regs failed" in self.console:
            # Seen on a host whose CPU has AMX (kernel 6.18): most likely the host kernel wants
            # the whole, larger XSAVE area in PTRACE_SETREGSET and Debian 12's UML 6.1 passes
            # its smaller buffer (EFAULT). Say so, or it reads like an l4lb failure.
            parts.insert(0, "UML cannot run on this host: restoring a guest process's FPU "
                            "registers failed (ptrace EFAULT), so every boot panics. This is the "
                            "host (likely its CPU's XSAVE size, e.g. AMX), not l4lb.")
        return "\n".join(parts)

    def check(self):
        if self.rc != 0 or self.timed_out:
            raise LabError(self.report())
        return self


class Lab:
    """One UML guest working directory; each run() is one boot."""

    def __init__(self, tag="lab", mem="768M"):
        self.backend = backend()
        self.release = _kernel_release()
        self.mem = mem
        self.dir = Path(tempfile.mkdtemp(prefix=f"l4lb-{tag}-{os.getpid()}-{next(_counter)}-",
                                         dir="/var/tmp"))
        self.umid = f"l4lb{os.getpid()}x{next(_counter)}"
        self.proc = None
        mods = self.dir / "mods" / "lib" / "modules"
        mods.mkdir(parents=True)
        if self.release:
            (mods / self.release).symlink_to(UML_MODULES / self.release)
        _live.append(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self.proc and self.proc.poll() is None:
            _kill_group(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)
        shutil.rmtree(Path.home() / ".uml" / self.umid, ignore_errors=True)
        if self in _live:
            _live.remove(self)

    def run(self, script, timeout=300, interpreter="python3", env=None, modules=(), exclude=()):
        """Boot, run `script` (text) with `interpreter` inside, power off. Never raises for a
        failing script: inspect the LabResult (or call .check()). `modules` are loaded in
        addition to IPVS, every scheduler and the link types; `exclude` are not loaded."""
        run_dir = self.dir / f"run{next(_counter)}"
        out = run_dir / "out"
        out.mkdir(parents=True)
        (run_dir / "script").write_text(script)
        user_env = dict(env or {})
        env = {
            "LAB_OUT": str(out), "LAB_DIR": str(run_dir), "LAB_MODDIR": str(self.dir / "mods"),
            "L4LB_BUILD_DIR": str(BUILD_DIR), "L4LB_SOURCE_DIR": str(SOURCE_DIR),
            "PYTHONPATH": str(PYLIB), "PYTHONUNBUFFERED": "1",
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": "/root", "LANG": "C.UTF-8", "LAB_TIME_SCALE": str(time_scale()),
        }
        timeout *= time_scale()
        env.update(user_env)
        mods = ["ip_vs"] + [f"ip_vs_{s}" for s in SCHEDULERS] + LINK_MODULES + list(modules)
        mods = [m for m in mods if m not in exclude]
        init = run_dir / "init.sh"
        # UML's modules live outside /lib/modules (modprobe -d); the QEMU guest runs the
        # Debian kernel whose modules are where modprobe looks.
        moddir = f"-d {_shq(str(self.dir / 'mods'))}" if self.backend == "uml" else ""
        init.write_text(_INIT.format(
            env="\n".join(f"export {k}={_shq(v)}" for k, v in env.items()),
            moddir=moddir, modules=" ".join(mods),
            interpreter=interpreter, script=_shq(str(run_dir / "script")),
            out=_shq(str(out))))
        init.chmod(0o755)
        if self.backend == "qemu":
            cmd = self._qemu_command(init)
        else:
            cmd = [UML, f"mem={self.mem}", "root=/dev/root", "rootfstype=hostfs", "rootflags=/",
                   "rw", f"init={init}", f"umid={self.umid}", "con=null", "con0=fd:0,fd:1"]
        console_path = run_dir / "console.log"
        start = time.monotonic()
        timed_out = False
        with open(console_path, "wb") as console:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=console,
                                         stderr=subprocess.STDOUT, start_new_session=True)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                _kill_group(self.proc)
        seconds = time.monotonic() - start
        rc_file = out / "rc"
        rc = int(rc_file.read_text().strip()) if rc_file.exists() else -1
        files = {}
        for p in sorted(out.iterdir()):
            if p.is_file() and p.name not in ("rc", "stdout", "stderr"):
                files[p.name] = p.read_text(errors="replace")
        return LabResult(rc, _read(out / "stdout"), _read(out / "stderr"), _read(console_path),
                         files, timed_out, seconds)


    def _qemu_command(self, init):
        vmlinuz, release = _qemu_kernel()
        vmlinuz = _pvh_image(vmlinuz, release) or vmlinuz
        initrd = self.dir / "initrd.cpio"
        if not initrd.exists():
            _write_initramfs(initrd, release)
        mem = self.mem.rstrip("M")
        return [QEMU, "-accel", "tcg", "-m", mem, "-smp", "1", "-nographic", "-no-reboot",
                "-kernel", str(vmlinuz), "-initrd", str(initrd),
                "-append", f"console=ttyS0 panic=-1 quiet qinit={init}",
                "-fsdev", "local,id=root,path=/,security_model=passthrough",
                "-device", "virtio-9p-pci,fsdev=root,mount_tag=root"]


PVH_CACHE = Path(os.environ.get("L4LB_LAB_CACHE", "/var/tmp/l4lb-lab-cache"))


def _pvh_image(vmlinuz, release):
    """The uncompressed kernel (vmlinux) of `vmlinuz`, cached under PVH_CACHE, or None.

    QEMU boots an ELF kernel with a PVH entry note directly in 64-bit mode: no real-mode setup
    and no decompression, which under TCG took ~6 s of every boot (a boot that runs `echo`:
    15.0 s with the bzImage, 8.7 s with this). Debian's kernel has CONFIG_PVH; its bzImage
    carries the ELF xz-compressed."""
    import lzma
    st = vmlinuz.stat()
    out = PVH_CACHE / f"vmlinux-{release}-{st.st_size}-{int(st.st_mtime)}"
    if out.exists():
        return out
    data = vmlinuz.read_bytes()
    start = data.find(b"\xfd7zXZ\x00")
    if start < 0:
        return None
    try:
        elf = lzma.LZMADecompressor().decompress(data[start:])
    except lzma.LZMAError:
        return None
    if elf[:4] != b"\x7fELF" or not _has_pvh_note(elf):
        return None
    PVH_CACHE.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + f".{os.getpid()}.tmp")
    tmp.write_bytes(elf)
    os.replace(tmp, out)  # parallel labs may race here: each writes its own file, one wins
    return out


def _has_pvh_note(elf):
    """Whether a 64-bit little-endian ELF has the Xen note XEN_ELFNOTE_PHYS32_ENTRY (18)."""
    import struct
    phoff, = struct.unpack_from("<Q", elf, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", elf, 0x36)
    for i in range(phnum):
        p_type, _, p_offset, _, _, p_filesz = struct.unpack_from("<IIQQQQ", elf,
                                                                  phoff + i * phentsize)
        if p_type != 4:  # PT_NOTE
            continue
        pos, end = p_offset, p_offset + p_filesz
        while pos + 12 <= end:
            namesz, descsz, ntype = struct.unpack_from("<III", elf, pos)
            name = elf[pos + 12:pos + 12 + namesz].rstrip(b"\0")
            if name == b"Xen" and ntype == 18:
                return True
            pos += 12 + (namesz + 3) // 4 * 4 + (descsz + 3) // 4 * 4
    return False


# The QEMU guest's first process: load virtio and 9p, mount the host's root, hand over.
_QEMU_INITRAMFS_INIT = """#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t devtmpfs dev /dev
for m in {modules}; do /bin/busybox insmod /mods/$m.ko || echo "insmod $m failed"; done
/bin/busybox mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 root /newroot
QINIT=$(/bin/busybox sed -n 's/.*qinit=\\([^ ]*\\).*/\\1/p' /proc/cmdline)
/bin/busybox umount /proc
exec /bin/busybox switch_root /newroot $QINIT
"""


def _write_initramfs(path, release):
    """A newc cpio archive: busybox, the 9p modules of `release`, and an init that mounts the
    host's root over virtio-9p and runs the lab's init script there."""
    entries = [("bin", None, 0o40755), ("mods", None, 0o40755), ("proc", None, 0o40755),
               ("dev", None, 0o40755), ("newroot", None, 0o40755),
               ("bin/busybox", Path(BUSYBOX).read_bytes(), 0o100755),
               ("init", _QEMU_INITRAMFS_INIT.format(modules=" ".join(NINEP_MODULES)).encode(),
                0o100755)]
    for m in NINEP_MODULES:
        found = subprocess.run(["modinfo", "-k", release, "-n", m], capture_output=True,
                               text=True).stdout.strip()
        if not found:
            raise LabError(f"module {m} not found for kernel {release}")
        data = Path(found).read_bytes()
        if found.endswith(".xz"):
            import lzma
            data = lzma.decompress(data)
        entries.append((f"mods/{m}.ko", data, 0o100644))
    with open(path, "wb") as f:
        for ino, (name, data, mode) in enumerate(entries + [("TRAILER!!!", b"", 0)], start=1):
            data = data or b""
            fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name) + 1, 0]
            header = "070701" + "".join(f"{x:08X}" for x in fields)
            f.write(header.encode() + name.encode() + b"\0")
            f.write(b"\0" * ((4 - (110 + len(name) + 1) % 4) % 4))
            f.write(data)
            f.write(b"\0" * ((4 - len(data) % 4) % 4))


def _read(path):
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


def _kill_group(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _shq(s):
    return "'" + s.replace("'", "'\\''") + "'"


# The guest's init: the host filesystem is the root, so mount private proc/sys and
# tmpfs over /tmp and /run (ip netns keeps its state in /run/netns).
_INIT = """#!/bin/sh
{env}
mount -t proc proc /proc
mount -t sysfs sys /sys
# A private /tmp, unless the checkout or the build lives under the host's /tmp (a CI clone
# may): hiding it would hide the binaries and this very harness from the guest.
case "$L4LB_SOURCE_DIR:$L4LB_BUILD_DIR" in
  /tmp/*|*:/tmp/*) ;;
  *) mount -t tmpfs tmp /tmp ;;
esac
mount -t tmpfs run /run
mkdir -p /run/netns
ip link set lo up
# One modprobe for all (each process start is dear under emulation: 22 took ~11 s); if any
# fails, one by one, so that the log names the module.
if ! modprobe {moddir} -a {modules} 2>>{out}/modprobe.log; then
  for m in {modules}; do
    modprobe {moddir} $m 2>>{out}/modprobe.log || echo "modprobe $m failed" >>{out}/modprobe.log
  done
fi
# No module loads on demand, as in UML (whose kernel cannot find its modules): a test that
# leaves one out (exclude=) sees what a kernel without it does.
echo /bin/false > /proc/sys/kernel/modprobe 2>/dev/null
{interpreter} {script} >{out}/stdout 2>{out}/stderr
echo $? >{out}/rc
sync
# poweroff/halt come from systemd-sysv or sysvinit-core, which a container or a minimal Debian
# lacks; reboot(2) with RB_POWER_OFF needs only python3. (If init just exited, the guest kernel
# would panic, "Attempted to kill init", and UML would abort with SIGABRT.)
poweroff -f 2>/dev/null || halt -f 2>/dev/null ||
  python3 -c 'import ctypes; ctypes.CDLL(None).reboot(0x4321fedc)'
echo o > /proc/sysrq-trigger
"""


# ------------------------------------------------------------------------------------
# Guest side: everything below runs inside UML (the guest script imports this module).

def sh(cmd, check=True, ns=None, timeout=120):
    """Run a shell command (optionally in namespace `ns`); return stdout."""
    if ns:
        cmd = f"ip netns exec {ns} sh -c {_shq(cmd)}"
    p = subprocess.run(cmd, shell=True, capture_output=True, text=True,
                       timeout=timeout * time_scale())
    if check and p.returncode != 0:
        raise LabError(f"command failed rc={p.returncode}: {cmd}\n{p.stdout}\n{p.stderr}")
    return p.stdout


# A guest script's verdicts: one PASS/FAIL line per check, and finish() sets the exit code.
failures = []


def check(name, cond, detail=""):
    print(("PASS " if cond else "FAIL ") + name + ("" if cond else f": {detail}"), flush=True)
    if not cond:
        failures.append(name)


def finish():
    print("FAILURES:", failures)
    raise SystemExit(1 if failures else 0)


def out_path(name):
    return os.path.join(os.environ["LAB_OUT"], name)


def save(name, text):
    with open(out_path(name), "w") as f:
        f.write(text)


GUEST_SCRIPTS = SOURCE_DIR / "lab"


class Guest:
    """The standard topology inside the guest. The guest's root namespace is the load
    balancer: clients c1..cN sit on bridge `brc` (10.0.0.0/24, fd00:c::/64), backends
    b1..bM on bridge `brb` (10.1.0.0/24, fd00:b::/64), the LB is .1 / ::1 on both and
    routes between them. VIPs live on the LB's dummy `vips` (10.0.100.0/24,
    fd00:100::/64) and are reached by the clients through the LB."""

    LB_C4, LB_B4, LB_C6, LB_B6 = "10.0.0.1", "10.1.0.1", "fd00:c::1", "fd00:b::1"

    def __init__(self, clients=2, backends=3):
        self.clients = [f"c{i}" for i in range(1, clients + 1)]
        self.backends = [f"b{i}" for i in range(1, backends + 1)]
        self.procs = []
        atexit.register(self.stop_all)

    @staticmethod
    def client_addr(i, v6=False):
        return f"fd00:c::{10 + i}" if v6 else f"10.0.0.{10 + i}"

    @staticmethod
    def backend_addr(i, v6=False):
        return f"fd00:b::{10 + i}" if v6 else f"10.1.0.{10 + i}"

    def setup(self):
        for k in ("net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1",
                  "net.ipv4.vs.conntrack=0"):
            sh(f"sysctl -qw {k}", check=False)
        sh("ip link add vips type dummy && ip link set vips up")
        for br, a4, a6 in (("brc", self.LB_C4, self.LB_C6), ("brb", self.LB_B4, self.LB_B6)):
            sh(f"ip link add {br} type bridge && ip link set {br} up && "
               f"ip addr add {a4}/24 dev {br} && ip addr add {a6}/64 dev {br} nodad")
        for group, br, addr, gw4, gw6 in (
                (self.clients, "brc", self.client_addr, self.LB_C4, self.LB_C6),
                (self.backends, "brb", self.backend_addr, self.LB_B4, self.LB_B6)):
            for i, ns in enumerate(group, start=1):
                sh(f"ip netns add {ns}")
                sh(f"ip link add h{ns} type veth peer name eth0 netns {ns}")
                sh(f"ip link set h{ns} master {br} up")
                sh(f"ip link set lo up && ip link set eth0 up && "
                   f"ip addr add {addr(i)}/24 dev eth0 && "
                   f"ip addr add {addr(i, True)}/64 dev eth0 nodad && "
                   f"ip route add default via {gw4} && ip -6 route add default via {gw6}", ns=ns)
        return self

    def add_vip(self, addr):
        plen = 128 if ":" in addr else 32
        sh(f"ip addr add {addr}/{plen} dev vips" + (" nodad" if plen == 128 else ""))

    def spawn(self, argv, ns=None, stdout=None, stderr=None, **kw):
        if ns:
            argv = ["ip", "netns", "exec", ns] + list(argv)
        p = subprocess.Popen(argv, stdout=stdout, stderr=stderr, **kw)
        self.procs.append(p)
        return p

    def start_echo(self, ns, port, proto="tcp", name=None, addr="::"):
        """An echo server in `ns` that answers "<name>:<data>"; waits until it listens."""
        name = name or ns
        ready = os.path.join(os.environ["LAB_DIR"], f"echo-{ns}-{proto}-{port}.ready")
        p = self.spawn([sys.executable, str(GUEST_SCRIPTS / "echo.py"), proto, addr,
                        str(port), name, ready], ns=ns,
                       stderr=open(out_path(f"echo-{ns}-{proto}-{port}.log"), "w"))
        _wait_for(lambda: os.path.exists(ready) or p.poll() is not None, 20)
        if p.poll() is not None:
            raise LabError(f"echo server {ns} {proto}/{port} exited rc={p.returncode}")
        return p

    def count(self, ns, addr, port, n, proto="tcp", timeout=2.0):
        """Make n fresh connections (datagrams for udp) from `ns`; {backend name: count}
        plus "error:<reason>" counts for failures."""
        text = sh(f"{sys.executable} {GUEST_SCRIPTS / 'client.py'} count {proto} {addr} "
                  f"{port} {n} {timeout}", ns=ns, timeout=60 + n * timeout)
        return json.loads(text)

    def connect(self, ns, addr, port):
        """A long-lived TCP connection from `ns`; returns a Conn (ask/close)."""
        p = self.spawn([sys.executable, str(GUEST_SCRIPTS / "client.py"), "hold", "tcp", addr,
                        str(port), "5"], ns=ns, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                       text=True, bufsize=1)
        conn = Conn(p)
        if conn.ask("hello") is None:
            raise LabError(f"long-lived connection from {ns} to {addr}:{port} failed")
        return conn

    def daemon(self, name, body, log_level="info", ns=None):
        return Daemon(self, name, body, log_level, ns)

    def stop_all(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    pass
        self.procs = []


class Daemon:
    """l4lbd (host-built) in the guest's root namespace, with its own state dir and control
    socket under /run/l4lb-<name>. `body` is the YAML without state_dir/control."""

    def __init__(self, guest, name, body, log_level="info", ns=None):
        self.guest, self.name, self.log_level, self.ns = guest, name, log_level, ns
        self.dir = f"/run/l4lb-{name}"
        os.makedirs(self.dir, exist_ok=True)
        self.sock = f"{self.dir}/ctl.sock"
        self.conf = f"{self.dir}/l4lb.yaml"
        self.log_path = out_path(f"l4lbd-{name}.log")
        self.proc = None
        self.args = []  # extra l4lbd options (e.g. the testing-only --ipvs-rcvbuf)
        self.write_config(body)

    def write_config(self, body):
        with open(self.conf, "w") as f:
            f.write(f"state_dir: {self.dir}/state\ncontrol:\n  socket: {self.sock}\n" + body)

    def start(self):
        log = open(self.log_path, "a")
        self.proc = self.guest.spawn([str(BUILD_DIR / "src/daemon/l4lbd"), "-c", self.conf,
                                      "--log-level", self.log_level] + self.args, ns=self.ns,
                                     stdout=log, stderr=log)
        return self

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(30)

    def reload(self):
        self.proc.send_signal(signal.SIGHUP)

    def status(self, timeout=10):
        """`l4lbctl status --json` as a dict, or None while the daemon is not answering."""
        try:
            r = subprocess.run([str(BUILD_DIR / "src/ctl/l4lbctl"), "-s", self.sock, "status",
                                "--json"], capture_output=True, text=True,
                               timeout=timeout * time_scale())
        except subprocess.TimeoutExpired:
            return None
        if r.returncode != 0:
            return None
        try:
            return json.loads(r.stdout)
        except ValueError:
            return None

    def wait_status(self, timeout=30):
        st = None
        if not _wait_for(lambda: (st := self.status()) is not None or self.proc.poll() is not None,
                         timeout, 0.1):
            raise LabError(f"l4lbd {self.name} did not answer within {timeout}s\n{self.log()}")
        st = self.status()
        if st is None:
            raise LabError(f"l4lbd {self.name} exited rc={self.proc.poll()}\n{self.log()}")
        return st

    def log(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except OSError:
            return ""


def apply_configs(state_dir, *configs, dump=None, ns=None):
    """The test-only driver (tests/lab/ipvs_apply.cpp): open IPVS, apply each config in turn
    (all backends healthy). Returns (exit code, [one dict per JSON line])."""
    argv = (["ip", "netns", "exec", ns] if ns else []) + [
        str(BUILD_DIR / "tests/unit/ipvs/ipvs_apply"), "--state-dir", state_dir]
    if dump:
        argv += ["--dump", dump]
    p = subprocess.run(argv + list(configs), capture_output=True, text=True, timeout=1800)
    lines = [json.loads(x) for x in p.stdout.splitlines() if x.startswith("{")]
    return p.returncode, lines


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def ipvsadm_table(extra=""):
    """`ipvsadm -Ln` without its version header and with trailing blanks stripped."""
    lines = sh(f"ipvsadm -Ln {extra}").splitlines()[1:]
    return "\n".join(line.rstrip() for line in lines) + "\n"


def ipvsadm_services(vip):
    """{(proto, vip:port): (scheduler, {dest: weight})} for `vip`, from ipvsadm -Ln."""
    table, current = {}, None
    for line in sh("ipvsadm -Ln").splitlines():
        m = re.match(r"^(TCP|UDP)\s+(\S+)\s+(\S+)", line)
        if m:
            current = (m.group(1), m.group(2))
            table[current] = (m.group(3), {})
            continue
        m = re.match(r"^\s+->\s+(\S+)\s+\S+\s+(\d+)", line)
        if m and current:
            table[current][1][m.group(1)] = int(m.group(2))
    return {k: v for k, v in table.items() if k[1].startswith(vip + ":")}


class Conn:
    def __init__(self, proc):
        self.proc = proc
        self.backend = None

    def ask(self, text):
        """Send one line; return the echoing backend's name, or None if the connection failed."""
        try:
            self.proc.stdin.write(text + "\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline().strip()
        except (BrokenPipeError, OSError):
            return None
        if not line.startswith("ok "):
            return None
        name, _, echoed = line[3:].partition(":")
        if echoed != text:
            return None
        self.backend = self.backend or name
        return name

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def _wait_for(cond, timeout, step=0.05):
    deadline = time.monotonic() + timeout * time_scale()
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(step)
    return False


def wait_for(cond, timeout, step=0.05):
    return _wait_for(cond, timeout, step)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
