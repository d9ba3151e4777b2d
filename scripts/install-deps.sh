#!/usr/bin/env bash
# Installs the Debian packages listed in scripts/apt-packages.txt (root, Debian 12).
# Quick no-op when everything is already installed.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# Only Essential tools here (bash, sed, dpkg-query): nothing else is there before this runs.
pkgs=()
while read -r p _; do
  [ -n "$p" ] && pkgs+=("$p")
done < <(sed -e 's/#.*//' "$here/apt-packages.txt")
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# Packaged daemons (keepalived, frr, prometheus) may start themselves on install; the tests run
# their own instances inside namespaces (test_prometheus.py its own Prometheus), so system-wide ones
# must not run: they would hold ports, VRIDs and /run/frr sockets in the host's namespace.
daemons=(keepalived frr prometheus)
if [ -d /run/systemd/system ]; then
  for d in "${daemons[@]}"; do systemctl disable --now "$d" >/dev/null 2>&1 || true; done
else
  # No systemd (a container or a chroot): their SysV scripts may have started them.
  for d in "${daemons[@]}"; do
    if [ -x "/etc/init.d/$d" ]; then "/etc/init.d/$d" stop >/dev/null 2>&1 || true; fi
  done
fi
