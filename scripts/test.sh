#!/usr/bin/env bash
# The project's one test command: formatting, lints, then every test of the workspace against
# real SQLite files and a real PostgreSQL.
#
# Without DATABASE_URL it starts a throw-away PostgreSQL cluster (scripts/pg-cluster.sh) and
# stops it on exit; with DATABASE_URL set it uses that server (the tests create and drop their
# own scratch databases on it).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ -z "${DATABASE_URL:-}" ]]; then
    # A private state file, so a cluster someone started by hand is left alone.
    FOLIO_PG_STATE="$(mktemp -u /tmp/folio-pg-test.XXXXXX.state)"
    export FOLIO_PG_STATE
    trap 'bash scripts/pg-cluster.sh stop || true' EXIT
    DATABASE_URL="$(bash scripts/pg-cluster.sh start)"
    export DATABASE_URL
fi
echo "test.sh: PostgreSQL at ${DATABASE_URL##*@}"

echo "test.sh: cargo fmt --check"
cargo fmt --all -- --check

echo "test.sh: cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

echo "test.sh: cargo test"
cargo test --workspace

echo "test.sh: deterministic simulation (scripts/simulate.sh)"
bash scripts/simulate.sh

echo "test.sh: schemathesis against a running folio (scripts/schemathesis.sh)"
bash scripts/schemathesis.sh
