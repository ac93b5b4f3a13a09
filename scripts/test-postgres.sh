#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the ingest tests and bench: `scripts/test-postgres.sh start` prints
# `export D3KOS_TEST_DATABASE_URL=…` (eval it), `scripts/test-postgres.sh stop` removes the cluster again.
# Runs as the postgres user (initdb refuses root), on 127.0.0.1 only; port from D3KOS_TEST_PG_PORT (54329).
# `npm test` calls it itself on a free port (test/support/what-runs.js); by hand it serves the bench and single runs.
set -euo pipefail
port="${D3KOS_TEST_PG_PORT:-54329}"
dir="${D3KOS_TEST_PG_DIR:-/tmp/d3kos-test-postgres-$port}"
bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
[ -n "$bin" ] || { echo "PostgreSQL is not installed (apt-get install postgresql)" >&2; exit 1; }
as_postgres() { if [ "$(id -un)" = postgres ]; then "$@"; else runuser -u postgres -- "$@"; fi; }

case "${1:-}" in
start)
    if [ ! -f "$dir/PG_VERSION" ]; then
        mkdir -p "$dir" && chown postgres "$dir" && chmod 700 "$dir"
        as_postgres "$bin/initdb" -D "$dir" -A trust -U postgres --no-sync >/dev/null
    fi
    as_postgres "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w \
        -o "-p $port -k /tmp -c listen_addresses=127.0.0.1 -c max_connections=200 -c shared_buffers=256MB -c max_wal_size=2GB" start >/dev/null
    as_postgres "$bin/psql" -q -h 127.0.0.1 -p "$port" -U postgres -c "CREATE ROLE d3kos LOGIN CREATEDB PASSWORD 'd3kos'" 2>/dev/null || true
    as_postgres "$bin/psql" -q -h 127.0.0.1 -p "$port" -U postgres -c "CREATE DATABASE d3kos_test OWNER d3kos" 2>/dev/null || true
    echo "export D3KOS_TEST_DATABASE_URL=postgres://d3kos:d3kos@127.0.0.1:$port/d3kos_test"
    ;;
stop)
    [ -f "$dir/PG_VERSION" ] && as_postgres "$bin/pg_ctl" -D "$dir" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    ;;
*)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
