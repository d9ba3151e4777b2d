#!/usr/bin/env bash
# Proves that the README's test command passes on a fresh Debian 12: builds a clean Debian 12
# root with debootstrap (variant minbase: only the Essential packages and apt, less than any
# real install or container image), clones the committed HEAD of this checkout into it, and
# runs `.ci/run` (= `scripts/test.sh`, which installs everything from scripts/apt-packages.txt)
# inside a chroot, exactly as CI would. The chroot shares the host kernel, so network namespaces
# and User-Mode Linux work there as on a real machine; UML's hostfs root is the chroot's `/`.
#
# Usage (root):  scripts/fresh-debian-test.sh
#   MIRROR=URL        Debian mirror for debootstrap (default: the first URI of the host's
#                     Debian apt sources, else http://deb.debian.org/debian)
#   FRESH_CACHE=DIR   reusable cache: the debootstrapped base as a tarball and the .debs that
#                     apt downloads (default /var/tmp/l4lb-fresh-cache); delete it to start over
#   FRESH_KEEP=1      leave the root in place after the run (for inspection)
#   FUZZ_SECONDS=N    passed through to scripts/test.sh
#   FRESH_CCACHE=DIR  compile through ccache with the cache DIR (e.g. /var/cache/ccache-l4lb):
#                     ccache is installed into the root before test.sh runs. It only caches
#                     compiler output; a header or tool from a missing package still fails
#                     (ccache preprocesses or hashes every include it uses).
# Only committed changes are tested (a clean clone); the exit status is test.sh's.
set -euo pipefail
if [ "$(id -u)" != 0 ]; then echo "fresh-debian-test: run as root (debootstrap, chroot)" >&2; exit 2; fi
src="$(cd "$(dirname "$0")/.." && pwd)"
cache="${FRESH_CACHE:-/var/tmp/l4lb-fresh-cache}"
start=$SECONDS
phase_start=$SECONDS
phase() { # phase NAME: prints the elapsed seconds of the previous phase and starts the next
  echo "== fresh-debian-test: $1 (+$((SECONDS - phase_start))s, total $((SECONDS - start))s)"
  phase_start=$SECONDS
}

if [ -z "${MIRROR:-}" ]; then
  MIRROR=$(sed -n 's/^URIs:[[:space:]]*\(http[^[:space:]]*\/debian\)[[:space:]]*$/\1/p' \
    /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)
  MIRROR=${MIRROR:-http://deb.debian.org/debian}
fi
command -v debootstrap >/dev/null || {
  echo "fresh-debian-test: installing debootstrap"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap
}
if [ -n "$(git -C "$src" status --porcelain --untracked-files=no)" ]; then
  echo "fresh-debian-test: WARNING: uncommitted changes in $src are NOT tested (clean clone of HEAD)" >&2
fi
commit=$(git -C "$src" rev-parse HEAD)

mkdir -p "$cache/debs" "$cache/apt-archives"
root=$(mktemp -d /var/tmp/l4lb-fresh.XXXXXX)

cleanup() {
  local rc=$?
  set +e
  echo "== fresh-debian-test: cleaning up $root"
  # Anything still running inside the chroot (a daemon a package started, a stuck test).
  local pids=() p
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/root" 2>/dev/null)" = "$root" ] && pids+=("${p#/proc/}")
  done
  if ((${#pids[@]})); then
    echo "fresh-debian-test: killing leftover processes in the chroot: ${pids[*]}"
    kill -9 "${pids[@]}" 2>/dev/null
    sleep 1
  fi
  # Mounts were made rslave, so unmounting them here never propagates to the host's /dev or /sys.
  local m
  for m in $(findmnt -rn -o TARGET | grep "^$root\(/\|\$\)" | sort -r); do
    umount -l "$m" 2>/dev/null
  done
  if findmnt -rn -o TARGET | grep -q "^$root\(/\|\$\)"; then
    echo "fresh-debian-test: mounts remain under $root; not deleting it" >&2
  elif [ "${FRESH_KEEP:-0}" = 1 ]; then
    echo "fresh-debian-test: kept $root (FRESH_KEEP=1)"
  else
    rm -rf --one-file-system "$root"
  fi
  echo "== fresh-debian-test: exit $rc after $((SECONDS - start))s"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

phase "base system (debootstrap bookworm minbase from $MIRROR)"
base="$cache/bookworm-minbase.tar"
if [ -f "$base" ]; then
  tar -C "$root" -xpf "$base"
else
  debootstrap --variant=minbase --cache-dir="$cache/debs" bookworm "$root" "$MIRROR"
  tar -C "$root" -cpf "$base.tmp" . && mv "$base.tmp" "$base"
fi

# It is the chroot's /: mktemp's (and so the cached tarball's) 0700 would lock every other user
# out (runuser -u nobody, FRR dropping to user frr).
chmod 755 "$root"
phase "mounts, apt sources${FRESH_CCACHE:+, ccache} and a clean clone of $commit"
# Same mirror as the host (a snapshot mirror may need the host's relaxed date checks), plus the
# updates and security suites a real Debian 12 install has.
rm -f "$root/etc/apt/sources.list"
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
  cp /etc/apt/sources.list.d/debian.sources "$root/etc/apt/sources.list.d/debian.sources"
else
  printf 'deb %s bookworm bookworm-updates main\n' "$MIRROR" >"$root/etc/apt/sources.list"
  printf 'deb http://deb.debian.org/debian-security bookworm-security main\n' >>"$root/etc/apt/sources.list"
fi
for f in $(grep -l 'Acquire::Check-\(Valid-Until\|Date\)' /etc/apt/apt.conf.d/* 2>/dev/null); do
  grep 'Acquire::Check-\(Valid-Until\|Date\)' "$f" >"$root/etc/apt/apt.conf.d/99fresh-mirror-dates"
done
cp -L /etc/resolv.conf "$root/etc/resolv.conf"
# A chroot is not a booted machine: packaged daemons (keepalived, frr, prometheus) must not be
# started by their maintainer scripts in the host's network namespace. On a real host
# scripts/install-deps.sh disables them after installing.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod +x "$root/usr/sbin/policy-rc.d"
# The root must be a mount point of its own: `ip netns exec` remounts / rslave and /sys in a new
# mount namespace, which fails with EINVAL on a plain directory.
mount --bind "$root" "$root" && mount --make-private "$root"
mount -t proc proc "$root/proc"
mount --rbind /sys "$root/sys" && mount --make-rslave "$root/sys"
mount --rbind /dev "$root/dev" && mount --make-rslave "$root/dev"
mount -t tmpfs -o mode=755 tmpfs "$root/run"
mkdir -p "$root/run/lock" "$root/var/cache/apt/archives"
mount --bind "$cache/apt-archives" "$root/var/cache/apt/archives"
launcher=()
if [ -n "${FRESH_CCACHE:-}" ]; then
  mkdir -p "$root/var/cache/ccache" && mount --bind "$FRESH_CCACHE" "$root/var/cache/ccache"
  chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
    sh -c 'apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends ccache >/dev/null'
  launcher=(CMAKE_CXX_COMPILER_LAUNCHER=ccache CMAKE_C_COMPILER_LAUNCHER=ccache
            CCACHE_DIR=/var/cache/ccache CCACHE_BASEDIR=/src CCACHE_NOHASHDIR=1 CCACHE_MAXSIZE=20G)
fi
git clone -q --no-checkout "$src" "$root/src"
git -C "$root/src" checkout -q --detach "$commit"

phase "scripts/test.sh inside the chroot (.ci/run)"
set +e
chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  ${FUZZ_SECONDS:+FUZZ_SECONDS=$FUZZ_SECONDS} "${launcher[@]}" \
  /bin/bash -c 'cd /src && exec ./.ci/run'
rc=$?
set -e
phase "test.sh finished with exit $rc"
exit $rc
