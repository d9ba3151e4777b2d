#!/usr/bin/env bash
# scripts/test-package.sh [DEB] — install the Debian package into a clean Debian 12 root and check
# what an operator relies on: files, the group l4lb, the unit neither enabled nor started, the
# conffile kept across a reinstall and an upgrade, `l4lbd --check-config`, the man pages, the
# bash completion; then `apt purge` and a file-list comparison showing nothing is left.
#
# The root is a debootstrap (variant minbase) of bookworm from the configured apt mirror; the
# base is made once and cached as a tarball in $L4LB_PKGTEST_DIR (default /var/tmp/l4lb-pkgtest),
# each run unpacks a fresh copy. The package's dependencies come from the mirror through apt.
# Needs root (chroot). DEB defaults to the newest dist/l4lb_*_amd64.deb (scripts/package.sh).
set -euo pipefail
root_dir="$(cd "$(dirname "$0")/.." && pwd)"
if [ "$(id -u)" != 0 ]; then echo "test-package.sh: run as root (chroot)" >&2; exit 2; fi
deb="${1:-$(ls -t "$root_dir"/dist/l4lb_*_amd64.deb 2>/dev/null | head -1)}"
[ -f "$deb" ] || { echo "test-package.sh: no package; run scripts/package.sh first" >&2; exit 2; }
deb="$(realpath "$deb")"

dir="${L4LB_PKGTEST_DIR:-/var/tmp/l4lb-pkgtest}"
base="$dir/bookworm-minbase.tar.gz"
mirror="$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)"
mkdir -p "$dir"
if [ ! -f "$base" ]; then
  echo "== debootstrap bookworm (minbase) from ${mirror:-http://deb.debian.org/debian}, cached in $base"
  rm -rf "$dir/base-build"
  nice -n 10 debootstrap --variant=minbase bookworm "$dir/base-build" "${mirror:-http://deb.debian.org/debian}" \
    > "$dir/debootstrap.log" 2>&1 || { tail -20 "$dir/debootstrap.log" >&2; exit 1; }
  rm -f "$dir/base-build"/var/cache/apt/archives/*.deb   # debootstrap leaves its downloads
  tar -C "$dir/base-build" -czf "$base.tmp" . && mv "$base.tmp" "$base" && rm -rf "$dir/base-build"
fi

R="$dir/root.$$"
cleanup() {
  for m in dev/pts dev proc sys; do mountpoint -q "$R/$m" && umount -l "$R/$m"; done
  rm -rf "$R" "$dir/upgrade"
}
trap cleanup EXIT
mkdir -p "$R"
tar -C "$R" -xzf "$base"
# The same mirror as the host; name resolution as the host's.
cp /etc/apt/sources.list.d/debian.sources "$R/etc/apt/sources.list.d/"
rm -f "$R/etc/apt/sources.list"
cp /etc/resolv.conf "$R/etc/resolv.conf"
mount -t proc proc "$R/proc"
mount -t sysfs sys "$R/sys"
mount --bind /dev "$R/dev"
mount --bind /dev/pts "$R/dev/pts"
in_root() { chroot "$R" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
  DEBIAN_FRONTEND=noninteractive "$@"; }

fails=0
check() {  # check DESCRIPTION COMMAND...: run in the root, count a failure
  if in_root sh -c "$2" > "$R/tmp/check.out" 2>&1; then echo "ok   $1"
  else echo "FAIL $1"; sed 's/^/     /' "$R/tmp/check.out"; fails=$((fails + 1)); fi
}

echo "== dependencies of $(basename "$deb") from the mirror (and man-db, bash-completion to check with)"
cp "$deb" "$R/tmp/"
pkg="/tmp/$(basename "$deb")"
in_root apt-get update -qq
depends="$(dpkg-deb -f "$deb" Depends)"
in_root apt-get install -y -qq --no-install-recommends man-db bash-completion > "$dir/apt.log" 2>&1
in_root apt-get satisfy -y -qq --no-install-recommends "$depends" >> "$dir/apt.log" 2>&1
in_root apt-get clean

# What the root holds before the package (places written by apt and dpkg bookkeeping excluded).
snapshot() {
  (cd "$R" && find . -xdev \( -path ./proc -o -path ./sys -o -path ./dev -o -path ./tmp \
     -o -path ./var/cache -o -path ./var/lib/apt -o -path ./var/lib/dpkg -o -path ./var/log \) -prune \
     -o -print | sort)
}
snapshot > "$dir/before.txt"

echo "== apt install ./$(basename "$deb")"
in_root apt-get install -y --no-install-recommends "$pkg" > "$dir/install.log" 2>&1 ||
  { cat "$dir/install.log"; exit 1; }
grep -E '^(Setting up|Created symlink)' "$dir/install.log" | sed 's/^/     /'

check "binaries in /usr/sbin and /usr/bin" 'test -x /usr/sbin/l4lbd && test -x /usr/bin/l4lbctl'
check "unit in /lib/systemd/system runs /usr/sbin/l4lbd" \
  'grep -qx "ExecStart=/usr/sbin/l4lbd -c /etc/l4lb.yaml" /lib/systemd/system/l4lbd.service && ! grep -q /usr/local /lib/systemd/system/l4lbd.service'
check "sysusers.d and tmpfiles.d entries" \
  'grep -q "^g l4lb" /usr/lib/sysusers.d/l4lb.conf && grep -q "^d /run/l4lb" /usr/lib/tmpfiles.d/l4lb.conf'
check "group l4lb exists (a system group)" 'gid=$(getent group l4lb | cut -d: -f3) && [ "$gid" -lt 1000 ]'
check "/run/l4lb created by tmpfiles" 'test -d /run/l4lb'
check "/etc/l4lb.yaml is a conffile" 'dpkg-query -W -f="\${Conffiles}" l4lb | grep -q "/etc/l4lb.yaml"'
check "unit installed but not enabled" '[ "$(systemctl is-enabled l4lbd 2>&1)" = disabled ]'
check "no l4lbd running after install" '! pgrep -x l4lbd'
check "l4lbd --check-config -c /etc/l4lb.yaml (defines nothing)" \
  'l4lbd --check-config -c /etc/l4lb.yaml 2>&1 | tee /dev/stderr | grep -q "0 vrrp instances"'
check "the shipped example is valid" 'l4lbd --check-config -c /usr/share/doc/l4lb/examples/l4lb.yaml'
check "l4lbd --version and l4lbctl --help" 'l4lbd --version | grep -q "^l4lbd " && l4lbctl --help | grep -q status'
for page in l4lbd.8 l4lbctl.8 l4lb.yaml.5; do
  section="${page##*.}"; name="${page%.*}"
  check "man $section $name renders without warnings" \
    "out=\$(MANWIDTH=80 man --warnings -E UTF-8 $section $name 2>&1 >/dev/null) && [ -z \"\$out\" ] && MANWIDTH=80 man $section $name | grep -q '^NAME'"
done
check "man l4lb.yaml documents every section" \
  'MANWIDTH=80 man 5 l4lb.yaml | grep -q "^VRRP INSTANCES" && MANWIDTH=80 man 5 l4lb.yaml | grep -q "expect_status"'
check "bash completion loads on demand and completes commands" \
  'bash -c ". /usr/share/bash-completion/bash_completion; __load_completion l4lbctl; complete -p l4lbctl | grep -q _l4lbctl; COMP_WORDS=(l4lbctl st); COMP_CWORD=1; _l4lbctl; [ \"\${COMPREPLY[*]}\" = status ]"'
check "completion without a daemon offers no names and prints nothing" \
  'out=$(bash -c ". /usr/share/bash-completion/completions/l4lbctl; COMP_WORDS=(l4lbctl status \"\"); COMP_CWORD=2; _l4lbctl; echo \"\${#COMPREPLY[@]}\"" 2>&1) && [ "$out" = 0 ]'
check "l4lbctl without a daemon exits 3" 'l4lbctl status; [ $? -eq 3 ]'

echo "== conffile: an edit survives a reinstall and an upgrade"
in_root sh -c 'echo "# edited by test-package.sh" >> /etc/l4lb.yaml'
in_root apt-get install -y --reinstall "$pkg" > "$dir/reinstall.log" 2>&1 || { cat "$dir/reinstall.log"; exit 1; }
check "edit kept by a reinstall" 'tail -1 /etc/l4lb.yaml | grep -q "edited by test-package.sh" && ! test -e /etc/l4lb.yaml.dpkg-new'
# A newer version: the same package with the version bumped, so dpkg runs the upgrade path
# (prerm upgrade, postinst configure OLD-VERSION with its try-restart).
ver="$(dpkg-deb -f "$deb" Version)"
rm -rf "$dir/upgrade" && mkdir -p "$dir/upgrade"
dpkg-deb -R "$deb" "$dir/upgrade/tree"
sed -i "s/^Version: .*/Version: ${ver}+test1/" "$dir/upgrade/tree/DEBIAN/control"
dpkg-deb -b "$dir/upgrade/tree" "$R/tmp/l4lb_${ver}+test1_amd64.deb" > /dev/null
in_root apt-get install -y "/tmp/l4lb_${ver}+test1_amd64.deb" > "$dir/upgrade.log" 2>&1 || { cat "$dir/upgrade.log"; exit 1; }
check "upgraded to ${ver}+test1" "dpkg-query -W -f='\${Version}' l4lb | grep -qx '${ver}+test1'"
check "edit kept by the upgrade" 'tail -1 /etc/l4lb.yaml | grep -q "edited by test-package.sh" && ! test -e /etc/l4lb.yaml.dpkg-new'
check "still not enabled after the upgrade" '[ "$(systemctl is-enabled l4lbd 2>&1)" = disabled ]'

echo "== apt remove, then apt purge"
in_root apt-get remove -y l4lb > "$dir/remove.log" 2>&1 || { cat "$dir/remove.log"; exit 1; }
check "remove: binaries gone, conffile kept" '! test -e /usr/sbin/l4lbd && test -f /etc/l4lb.yaml'
in_root apt-get purge -y l4lb > "$dir/purge.log" 2>&1 || { cat "$dir/purge.log"; exit 1; }
check "purge: package unknown to dpkg" '! dpkg-query -W -f="\${Status}" l4lb 2>/dev/null | grep -q installed'
check "purge: /etc/l4lb.yaml and /run/l4lb gone" '! test -e /etc/l4lb.yaml && ! test -e /run/l4lb'
check "purge: the group l4lb is kept (Debian keeps system groups)" 'getent group l4lb'

snapshot > "$dir/after.txt"
if diff -u "$dir/before.txt" "$dir/after.txt" > "$dir/leftover.diff"; then
  echo "ok   purge leaves the same file list as before the install ($(wc -l < "$dir/before.txt") paths)"
else
  echo "FAIL files differ after purge:"; sed 's/^/     /' "$dir/leftover.diff" | head -40; fails=$((fails + 1))
fi

if [ "$fails" -ne 0 ]; then echo "test-package.sh: $fails check(s) failed"; exit 1; fi
echo "test-package.sh: all checks passed"
