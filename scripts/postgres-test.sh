#!/usr/bin/env bash
# Start (or reuse) a throwaway PostgreSQL cluster for the test suite and print the URL to put in
# XID_TEST_DATABASE_URL. Idempotent: a second run finds the cluster running and prints the same URL.
# Installs nothing: it needs Debian's `postgresql` package (CI installs it; locally: apt-get install postgresql).
#
#   export XID_TEST_DATABASE_URL="$(scripts/postgres-test.sh)"
#
# Settings (environment): XID_PG_DIR (default /tmp/xid-postgres), XID_PG_PORT (54329), XID_PG_DB (xid_test),
# XID_PG_DURABLE (unset: fsync, synchronous_commit and full_page_writes off, for fast tests; 1: the server's durable
# defaults, for benchmarks whose figures must mean "durable": make bench-postgres uses it).
# The cluster trusts local connections, listens on 127.0.0.1 only, and holds nothing worth keeping. Stop it with: pg_ctl -D "$XID_PG_DIR/data" stop (as the postgres user if root).
set -euo pipefail

dir=${XID_PG_DIR:-/tmp/xid-postgres}
port=${XID_PG_PORT:-54329}
db=${XID_PG_DB:-xid_test}

bindir=""
if command -v pg_config >/dev/null 2>&1; then
  bindir=$(pg_config --bindir)
fi
if [[ -z "$bindir" || ! -x "$bindir/initdb" ]]; then
  bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
fi
if [[ -z "$bindir" || ! -x "$bindir/initdb" ]]; then
  echo "postgres-test: PostgreSQL server binaries not found (install the Debian package 'postgresql')" >&2
  exit 1
fi

# The server refuses to run as root: as root, run it as the postgres system user.
run() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

mkdir -p "$dir"
if [[ $(id -u) -eq 0 ]]; then
  chown postgres: "$dir"
fi

if [[ ! -f "$dir/data/PG_VERSION" ]]; then
  run "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust --encoding=UTF8 --no-locale >"$dir/initdb.log" 2>&1 \
    || { echo "postgres-test: initdb failed, see $dir/initdb.log" >&2; exit 1; }
fi

fast="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
if [[ "${XID_PG_DURABLE:-}" == 1 ]]; then
  fast=""
fi
if ! run "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
  run "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir $fast" \
    start >/dev/null \
    || { echo "postgres-test: the server did not start, see $dir/server.log" >&2; exit 1; }
fi

psql=("$bindir/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -qtA)
for _ in $(seq 1 50); do
  if "${psql[@]}" -c "SELECT 1" >/dev/null 2>&1; then
    break
  fi
  sleep 0.2
done
if [[ -z $("${psql[@]}" -c "SELECT 1 FROM pg_database WHERE datname = '$db'") ]]; then
  "${psql[@]}" -c "CREATE DATABASE \"$db\"" >/dev/null
fi

echo "postgresql+psycopg://postgres@127.0.0.1:$port/$db"
