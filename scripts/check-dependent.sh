#!/usr/bin/env bash
# Builds and runs a package that depends on emalog by version (scripts/dependent-package), against
# a clone of this repository tagged 0.1.0: SwiftPM refuses a dependency with unsafe build flags,
# so this proves EMALogCore can be used as a dependency.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git clone -q "$root" "$work/emalog"
git -C "$work/emalog" -c user.name=ci -c user.email=ci@localhost tag -f 0.1.0 >/dev/null
cp -r "$root/scripts/dependent-package" "$work/dependent"
cd "$work/dependent"
export EMALOG_URL="file://$work/emalog"
if ! swift build >"$work/build.log" 2>&1; then grep -E "error|unsafe" "$work/build.log" | sort -u; tail -n 5 "$work/build.log"; exit 1; fi
"$(swift build --show-bin-path)/UsesEMALog"
