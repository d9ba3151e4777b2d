#!/usr/bin/env bash
# scripts/package.sh — build the Debian package dist/l4lb_VERSION_amd64.deb with Debian's own
# tooling (debian/, debhelper compat 13, `dpkg-buildpackage -b -us -uc`) and run lintian on it.
#
# The tracked files (committed or not) are copied to build-deb/src first, so dpkg-buildpackage
# writes its .deb, .buildinfo and .changes into build-deb/ and not next to the checkout.
# PACKAGE_CHECK=1 builds and runs the unit tests inside the package build (off by default:
# scripts/test.sh runs them already; it doubles the build time).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
[ -f /etc/profile.d/l4lb-ccache.sh ] && . /etc/profile.d/l4lb-ccache.sh

for tool in dpkg-buildpackage dh lintian pandoc; do
  command -v "$tool" >/dev/null || { echo "package.sh: $tool missing (scripts/install-deps.sh)" >&2; exit 2; }
done

# One version: the project's (CMakeLists.txt) must be the upstream part of debian/changelog's.
cmake_version="$(sed -n 's/^project(l4lb VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)"
deb_version="$(dpkg-parsechangelog -S Version)"
if [ "${deb_version%%-*}" != "$cmake_version" ]; then
  echo "package.sh: debian/changelog has $deb_version but CMakeLists.txt has $cmake_version;" \
       "add a debian/changelog entry (dch -v $cmake_version)" >&2
  exit 1
fi

work="$root/build-deb"
rm -rf "$work"
mkdir -p "$work/src" "$root/dist"
git ls-files -z --cached --others --exclude-standard |
  tar --null -T - -cf - | tar -C "$work/src" -xf -

if [ "${PACKAGE_CHECK:-0}" = 1 ]; then opts="${DEB_BUILD_OPTIONS:-}"; else opts="nocheck ${DEB_BUILD_OPTIONS:-}"; fi
echo "== dpkg-buildpackage -b -us -uc (DEB_BUILD_OPTIONS='$opts')"
(cd "$work/src" && DEB_BUILD_OPTIONS="$opts" nice -n 10 dpkg-buildpackage -b -us -uc) \
  > "$work/build.log" 2>&1 || { tail -50 "$work/build.log" >&2; echo "package.sh: build failed; log: $work/build.log" >&2; exit 1; }

deb="$work/l4lb_${deb_version}_amd64.deb"
cp "$deb" "$root/dist/"
echo "== $(basename "$deb"): contents"
dpkg-deb --contents "$deb" | awk '{print $1, $6, $7, $8}'

echo "== lintian"
# --fail-on error,warning: an error or warning fails the build; info tags are shown (-i: with
# their explanations are in the log). Overrides: debian/l4lb.lintian-overrides.
lintian --fail-on error,warning --display-info "$deb" | tee "$work/lintian.log"
echo "dist/$(basename "$deb")"
