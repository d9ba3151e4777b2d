#!/usr/bin/env bash
# The README's "run it" command: installs what is missing, builds, and shows l4lb doing its job.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
if [ "$(id -u)" != 0 ]; then echo "scripts/demo.sh: run as root" >&2; exit 2; fi
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh" "$root/build" >/dev/null
if [ -f "$root/tests/lab/demo.py" ]; then
  exec python3 "$root/tests/lab/demo.py"
fi
exec "$root/build/src/daemon/l4lbd" --check-config -c "$root/etc/l4lb.yaml"
