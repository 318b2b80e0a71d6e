#!/usr/bin/env bash
# pg-test-server.sh start|stop|url: a throwaway PostgreSQL 15 for tests. `start` initialises a
# cluster in a fresh temporary directory (owned by the postgres user), listening only on a
# unix socket in that directory, creates database vocero_test and prints its URL; `stop`
# stops it and deletes the directory. If TEST_DATABASE_URL is set, `start` just prints it.
# The state (directory and port) lives in $PG_TEST_STATE (default /tmp/vocero-pg-test.state).
set -euo pipefail

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
STATE=${PG_TEST_STATE:-/tmp/vocero-pg-test.state}
PG_USER=postgres
DB_NAME=vocero_test

as_pg() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u "$PG_USER" -- "$@"
    else
        "$@"
    fi
}

url_for() { # DIR PORT
    printf 'postgresql:///%s?host=%s&port=%s&user=%s\n' "$DB_NAME" "$1" "$2" "$PG_USER"
}

running() { # DIR
    [ -f "$1/data/postmaster.pid" ] && as_pg "$PG_BIN/pg_ctl" -D "$1/data" status >/dev/null 2>&1
}

cmd_start() {
    if [ -n "${TEST_DATABASE_URL:-}" ]; then
        printf '%s\n' "$TEST_DATABASE_URL"
        return 0
    fi
    if [ -f "$STATE" ]; then
        read -r dir port <"$STATE" || true
        if [ -n "${dir:-}" ] && running "$dir"; then
            url_for "$dir" "$port"
            return 0
        fi
        rm -f "$STATE"
    fi
    [ -x "$PG_BIN/initdb" ] || { echo "pg-test-server: $PG_BIN/initdb not found" >&2; exit 1; }
    local dir port
    dir=$(mktemp -d /tmp/vocero-pg.XXXXXX)
    chmod 700 "$dir"
    [ "$(id -u)" -eq 0 ] && chown "$PG_USER:" "$dir"
    # Only a unix socket in $dir exists, so any port number is free; it just names the socket.
    port=$((20000 + RANDOM % 40000))
    as_pg "$PG_BIN/initdb" -D "$dir/data" -U "$PG_USER" -A trust -E UTF8 --locale=C.UTF-8 \
        >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; rm -rf "$dir"; exit 1; }
    cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$dir'
port = $port
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 100
CONF
    if ! as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null; then
        cat "$dir/server.log" >&2 || true
        rm -rf "$dir"
        exit 1
    fi
    printf '%s %s\n' "$dir" "$port" >"$STATE"
    as_pg "$PG_BIN/createdb" -h "$dir" -p "$port" -U "$PG_USER" "$DB_NAME"
    url_for "$dir" "$port"
}

cmd_stop() {
    [ -f "$STATE" ] || return 0
    local dir port
    read -r dir port <"$STATE" || true
    if [ -n "${dir:-}" ] && [ -d "$dir" ]; then
        if running "$dir"; then
            as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null || true
        fi
        case "$dir" in /tmp/vocero-pg.*) rm -rf "$dir" ;; esac
    fi
    rm -f "$STATE"
}

cmd_url() {
    [ -f "$STATE" ] || { echo "pg-test-server: not running" >&2; exit 1; }
    local dir port
    read -r dir port <"$STATE"
    url_for "$dir" "$port"
}

case "${1:-}" in
start) cmd_start ;;
stop) cmd_stop ;;
url) cmd_url ;;
*) echo "usage: $0 start|stop|url" >&2; exit 2 ;;
esac
