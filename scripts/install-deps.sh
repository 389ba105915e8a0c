#!/usr/bin/env bash
# Installs the Debian packages emalog needs when they are missing: the SQLite and zstd libraries and headers,
# the sqlite3 tool (tests and the acceptance kit read logs with it) and python3-venv (the Python
# package's tests run in a virtualenv) and postgresql (the team-store tests start a throwaway server
# with scripts/postgres-throwaway.sh). Swift itself must be on PATH.
set -euo pipefail
need=()
for pkg in libsqlite3-dev libzstd-dev sqlite3 python3-venv postgresql; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if ((${#need[@]})); then
  sudo=""; [[ $(id -u) == 0 ]] || sudo=sudo
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq "${need[@]}"
fi
command -v swift >/dev/null || { echo "swift is not on PATH: install a Swift 6.2+ toolchain (swift.org/install)" >&2; exit 1; }
