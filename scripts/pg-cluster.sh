#!/usr/bin/env bash
# A throw-away PostgreSQL cluster for the tests and benchmarks.
#
#   scripts/pg-cluster.sh start   # initdb + pg_ctl start on a free 127.0.0.1 port; prints the URL
#   scripts/pg-cluster.sh url     # prints the URL of the running cluster
#   scripts/pg-cluster.sh stop    # stops it and removes its directory
#
# The cluster lives in a fresh temporary directory and is durable (fsync on), tuned only in
# memory and connection limits for a test box. Its state (directory, port, URL) is kept in
# $FOLIO_PG_STATE (default: /tmp/folio-pg-cluster.<uid>.state) so that `stop` finds it.
set -euo pipefail

STATE_FILE="${FOLIO_PG_STATE:-/tmp/folio-pg-cluster.$(id -u).state}"
DB_NAME="folio_test"
DB_USER="folio"

log() { echo "pg-cluster: $*" >&2; }

# The newest installed PostgreSQL's bin directory (Debian puts them in /usr/lib/postgresql/N/bin).
find_bindir() {
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [[ -n "$dir" && -x "$dir/initdb" && -x "$dir/pg_ctl" ]]; then
        echo "$dir"
    fi
}

# Installs the server with apt when it is missing (CI runs as root on a fresh machine).
ensure_binaries() {
    local dir
    dir=$(find_bindir)
    if [[ -z "$dir" ]]; then
        if [[ $(id -u) -ne 0 ]]; then
            log "no PostgreSQL binaries in /usr/lib/postgresql/*/bin and not root: install postgresql"
            exit 1
        fi
        log "installing postgresql with apt-get"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >&2
        apt-get install -y -qq postgresql >&2
        dir=$(find_bindir)
        if [[ -z "$dir" ]]; then
            log "apt-get installed postgresql but no initdb/pg_ctl was found"
            exit 1
        fi
    fi
    echo "$dir"
}

# A TCP port on 127.0.0.1 that nothing listens on right now.
free_port() {
    python3 - <<'EOF' 2>/dev/null && return 0
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
EOF
    # No python: probe ports with bash's /dev/tcp until one refuses a connection.
    local port
    for port in $(seq 54320 54420); do
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
    log "no free port found"
    exit 1
}

# Runs a command as the cluster's owner: the unprivileged `postgres` user when we are root
# (initdb and postgres refuse to run as root), ourselves otherwise.
as_owner() {
    if [[ $(id -u) -eq 0 ]]; then
        if command -v runuser >/dev/null; then
            runuser -u postgres -- "$@"
        else
            su postgres -s /bin/bash -c "$(printf '%q ' "$@")"
        fi
    else
        "$@"
    fi
}

read_state() {
    if [[ ! -f "$STATE_FILE" ]]; then
        return 1
    fi
    # shellcheck disable=SC1090
    source "$STATE_FILE"
}

is_running() {
    read_state || return 1
    as_owner "$PG_BINDIR/pg_ctl" -D "$PG_DIR/data" status >/dev/null 2>&1
}

start() {
    if is_running; then
        log "already running on port $PG_PORT"
        echo "$PG_URL"
        return 0
    fi
    local bindir dir port url
    bindir=$(ensure_binaries)
    if [[ $(id -u) -eq 0 ]] && ! id postgres >/dev/null 2>&1; then
        # The Debian package creates this user; create it if the binaries came some other way.
        useradd --system --home-dir /nonexistent --shell /usr/sbin/nologin postgres
    fi
    dir=$(mktemp -d /tmp/folio-pg.XXXXXX)
    if [[ $(id -u) -eq 0 ]]; then
        chown postgres: "$dir"
    fi
    chmod 700 "$dir"
    port=$(free_port)

    as_owner "$bindir/initdb" -D "$dir/data" --auth=trust --username=postgres \
        --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || {
        cat "$dir/initdb.log" >&2
        exit 1
    }

    # fsync stays on (the tests must see real durability costs); memory and connections are
    # sized for parallel tests on a small box.
    cat >>"$dir/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 200
shared_buffers = 256MB
wal_buffers = 16MB
max_wal_size = 4GB
checkpoint_timeout = 15min
fsync = on
synchronous_commit = on
full_page_writes = on
logging_collector = off
EOF

    as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >&2 || {
        cat "$dir/server.log" >&2
        exit 1
    }

    # A login role and a database for the tests. The role is a superuser so tests can create
    # and drop their own scratch databases.
    as_owner "$bindir/psql" -h "$dir" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -q \
        -c "CREATE ROLE $DB_USER LOGIN SUPERUSER PASSWORD '$DB_USER'" \
        -c "CREATE DATABASE $DB_NAME OWNER $DB_USER" >&2

    url="postgres://$DB_USER:$DB_USER@127.0.0.1:$port/$DB_NAME"
    {
        printf 'PG_BINDIR=%q\n' "$bindir"
        printf 'PG_DIR=%q\n' "$dir"
        printf 'PG_PORT=%q\n' "$port"
        printf 'PG_URL=%q\n' "$url"
    } >"$STATE_FILE"
    log "started PostgreSQL ($bindir) in $dir on port $port"
    echo "$url"
}

stop() {
    if ! read_state; then
        log "no cluster state in $STATE_FILE: nothing to stop"
        return 0
    fi
    as_owner "$PG_BINDIR/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
    # Only ever remove the directory this script created.
    case "$PG_DIR" in
        /tmp/folio-pg.*) rm -rf "$PG_DIR" ;;
        *) log "not removing unexpected directory $PG_DIR" ;;
    esac
    rm -f "$STATE_FILE"
    log "stopped"
}

url() {
    if ! is_running; then
        log "no running cluster (start one with: $0 start)"
        exit 1
    fi
    echo "$PG_URL"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    url) url ;;
    *)
        echo "usage: $0 start|stop|url" >&2
        exit 2
        ;;
esac
