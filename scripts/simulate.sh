#!/usr/bin/env bash
# Deterministic simulation for CI: at least 1,000,000 steps in all on fresh random seeds (each
# run prints its seed and, on failure, the command that replays it), then each planted bug,
# which the simulator must catch. Called by scripts/test.sh; runs alone too.
#   FOLIO_SIM_STEPS           total steps (default 1000000)
#   FOLIO_SIM_STEPS_PER_RUN   steps per seed (default 50000)
set -euo pipefail
cd "$(dirname "$0")/.."

total_steps=${FOLIO_SIM_STEPS:-1000000}
steps_per_run=${FOLIO_SIM_STEPS_PER_RUN:-50000}
runs=$(( (total_steps + steps_per_run - 1) / steps_per_run ))
lanes=2
runs_per_lane=$(( (runs + lanes - 1) / lanes ))

cargo build --release -p folio-sim
# Where cargo put it (CARGO_TARGET_DIR moves the build out of ./target).
sim="${CARGO_TARGET_DIR:-target}/release/folio-sim"
if [ ! -x "$sim" ]; then
    echo "simulate.sh: no simulator at $sim after the build" >&2
    exit 1
fi
started=$(date +%s)
# Two lanes: one simulation keeps one core busy and its store's I/O threads part of another.
pids=()
for lane in $(seq 1 "$lanes"); do
    seed=$(od -An -N8 -tu8 /dev/urandom | tr -d ' ')
    "$sim" --seed "$seed" --runs "$runs_per_lane" --steps "$steps_per_run" \
        > >(sed "s/^/[lane $lane] /") 2>&1 &
    pids+=("$!")
done
failed=0
for pid in "${pids[@]}"; do
    wait "$pid" || failed=1
done
if [ "$failed" -ne 0 ]; then
    echo "simulate.sh: a simulation broke an invariant (its seed and replay command are above)" >&2
    exit 1
fi
echo "simulate.sh: $(( runs_per_lane * lanes * steps_per_run )) steps on fresh seeds in $(( $(date +%s) - started )) s, no violation"

# Planted bugs: a build that acknowledges before the commit, and one that skips the funds check
# of a payment's second debited account. The default run must catch each.
for bug in planted-ack-before-commit planted-skip-second-leg-check; do
    echo "simulate.sh: planted bug $bug"
    cargo run --quiet -p folio-sim --features "$bug" -- --seed 1 --steps 100000 --expect-violation \
        2> >(tail -n 3 >&2)
done
