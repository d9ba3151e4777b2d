#!/usr/bin/env bash
# Installs the Debian packages listed in scripts/apt-packages.txt (root, Debian 12).
# Quick no-op when everything is already installed.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
mapfile -t pkgs < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$here/apt-packages.txt" | awk '{print $1}')
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
# Packaged daemons (keepalived, frr, prometheus) may start themselves on install on a systemd host; the tests
# run their own instances inside namespaces, so the system-wide ones must not run.
if [ -d /run/systemd/system ]; then
  systemctl disable --now keepalived frr prometheus >/dev/null 2>&1 || true
fi
