#!/usr/bin/env bash
# A throwaway PostgreSQL server for tests and benchmarks: Debian's postgresql binaries, a cluster
# made by initdb in FOLDER, on a free loopback port, trust authentication for the user `emalog`.
#   scripts/postgres-throwaway.sh start FOLDER   # prints postgresql://emalog@127.0.0.1:PORT/emalog
#   scripts/postgres-throwaway.sh stop FOLDER    # stops it and removes FOLDER
# As root, the server runs as the `postgres` user (PostgreSQL refuses to run as root).
set -euo pipefail
command=${1:?start or stop}
folder=${2:?a folder for the cluster}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
[[ -n $bin && -x $bin/initdb ]] || { echo "PostgreSQL is not installed: apt-get install postgresql" >&2; exit 1; }
as=()
if [[ $(id -u) == 0 ]]; then as=(runuser -u postgres --); fi
# The server lives on after this script: it must not inherit the caller's descriptors (a test's
# pipe held open by it would never see end-of-file), so every one above stderr is closed here.
for fd in /proc/$$/fd/*; do
  fd=${fd##*/}
  if ((fd > 2)); then eval "exec $fd>&-" 2>/dev/null || true; fi
done
case $command in
  start)
    mkdir -p "$folder"
    [[ $(id -u) == 0 ]] && chown postgres "$folder"
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    "${as[@]}" "$bin/initdb" -D "$folder/data" -U emalog --auth=trust -E UTF8 --no-sync >"$folder/initdb.log" 2>&1 \
      || { cat "$folder/initdb.log" >&2; exit 1; }
    "${as[@]}" "$bin/pg_ctl" -D "$folder/data" -l "$folder/server.log" -w -t 60 \
      -o "-h 127.0.0.1 -p $port -k $folder -c max_connections=300 ${EMALOG_POSTGRES_OPTIONS:-}" start >/dev/null \
      || { cat "$folder/server.log" >&2; exit 1; }
    "${as[@]}" "$bin/createdb" -h 127.0.0.1 -p "$port" -U emalog emalog
    echo "postgresql://emalog@127.0.0.1:$port/emalog"
    ;;
  stop)
    if [[ -d $folder/data ]]; then "${as[@]}" "$bin/pg_ctl" -D "$folder/data" -m fast -w stop >/dev/null 2>&1 || true; fi
    rm -rf "$folder"
    ;;
  *) echo "usage: $0 start|stop FOLDER" >&2; exit 64 ;;
esac
