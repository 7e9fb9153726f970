#!/usr/bin/env bash
# Runs schemathesis (from PyPI) against the OpenAPI description of a real, running `folio`:
# no answer may be a 5xx, and every answer must match the schema of its route and status (the
# error envelope included). Fails on any finding.
#
# It installs schemathesis into a virtualenv under target/ (ignored by git), builds the `folio`
# binary (debug, as `cargo test` already does), starts it on a free port with a temporary data
# directory and a fresh system API key, runs schemathesis with a bounded number of examples per
# operation (about two minutes on the 2-core dev machine), and stops the server.
#
#   SCHEMATHESIS_MAX_EXAMPLES   examples per operation (default 150)
#   FOLIO_BIN                   a `folio` binary to use instead of building one
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

SCHEMATHESIS_VERSION="4.32.5"
VENV="$PWD/target/schemathesis-venv"
MAX_EXAMPLES="${SCHEMATHESIS_MAX_EXAMPLES:-150}"

if [[ ! -x "$VENV/bin/schemathesis" ]] \
    || ! "$VENV/bin/pip" show schemathesis 2>/dev/null | grep -qx "Version: $SCHEMATHESIS_VERSION"; then
    echo "schemathesis.sh: installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
    mkdir -p target
    rm -rf "$VENV"
    if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
        echo "schemathesis.sh: python3 has no venv module; installing python3-venv"
        apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
    fi
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

if [[ -n "${FOLIO_BIN:-}" ]]; then
    folio="$FOLIO_BIN"
else
    echo "schemathesis.sh: cargo build -p folio-api --bin folio"
    cargo build --quiet -p folio-api --bin folio
    folio="${CARGO_TARGET_DIR:-target}/debug/folio"
fi

work="$(mktemp -d /tmp/folio-schemathesis.XXXXXX)"
key="st-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
server_pid=""
cleanup() {
    if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# Port 0: the server picks a free port and prints it. On the temporary data directory (SQLite):
# test.sh exports DATABASE_URL for the test suite, which would otherwise send it to PostgreSQL.
env -u DATABASE_URL FOLIO_API_KEYS="$key=system" RUST_LOG=warn "$folio" serve \
    --listen 127.0.0.1:0 --data-dir "$work/data" \
    >"$work/stdout" 2>"$work/stderr" &
server_pid=$!
base=""
for _ in $(seq 1 300); do
    base="$(sed -n 's/^folio listening on \(http:\/\/[0-9.:]*\).*/\1/p' "$work/stdout" | head -n1)"
    [[ -n "$base" ]] && break
    if ! kill -0 "$server_pid" 2>/dev/null; then
        echo "schemathesis.sh: the server exited before listening:" >&2
        cat "$work/stderr" >&2
        exit 1
    fi
    sleep 0.1
done
if [[ -z "$base" ]]; then
    echo "schemathesis.sh: the server did not start listening" >&2
    exit 1
fi
echo "schemathesis.sh: folio at $base"

status=0
# From inside the scratch directory: schemathesis leaves its caches in the working directory.
(cd "$work" && "$VENV/bin/schemathesis" run "$base/openapi.json" \
    --url "$base" \
    --header "Authorization: Bearer $key" \
    --checks not_a_server_error,response_schema_conformance \
    --phases examples,coverage,fuzzing \
    --max-examples "$MAX_EXAMPLES" \
    --seed 1 \
    --workers 2 \
    --no-color \
    --generation-database none \
    --suppress-health-check all \
    --report-dir "$work/report") \
    || status=$?

if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "schemathesis.sh: the server died during the run:" >&2
    tail -n 50 "$work/stderr" >&2
    status=1
fi
if [[ $status -ne 0 ]]; then
    echo "schemathesis.sh: FAILED (schemathesis exit $status)" >&2
    exit "$status"
fi
echo "schemathesis.sh: no findings"
