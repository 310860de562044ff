#!/usr/bin/env bash
# Regenerate the docs' tables from fresh runs and put each between its markers (bondlab/readme_block.py).
#
#   bash scripts/docs.sh            # the quick tables (~2 min here): the scheduler tables
#   bash scripts/docs.sh --all      # and the slow ones: leaderboard (~9 min), rate controllers
#                                   # (~1 min), calibration (real runs in the VM, ~20 min)
#
# Runs go to a fresh temporary results directory (nothing reused); the generated files go to
# results/examples/ and are committed with the docs. tests/test_docs_tables.py reruns part of the
# quick tables and fails when the committed ones differ; the slow ones say when and at which
# commit they were made.
set -euo pipefail
cd "$(dirname "$0")/.."
B=.venv/bin
EX=results/examples
ALL_SCHEDULERS=rr,dwrr,minrtt,edpf,blest,srtla,redundant,redundant-all
# The two tables of bundled scenarios in docs/schedulers.md and docs/usage.md.
FIRST=(all-down black-hole burst-loss capacity-rise cellular-traces handover link-flap rtt-spike
       seed-asymmetric skew-short-buffer three-link-degrade)
ADDED=(weak-modem-baseline weak-modem weak-modem-swing cellular-three-modems cellular-modem-dropout)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

stamp() {  # the line a slow table carries: when and at which commit it was made
    echo "Made $(date -u +%F) at $(git describe --always --dirty) by scripts/docs.sh --all."
}

scheduler_table() {  # NAME SCENARIO...
    local name=$1
    shift
    local files=()
    for s in "$@"; do files+=("scenarios/$s.yaml"); done
    "$B/bondlab" compare "${files[@]}" --schedulers "$ALL_SCHEDULERS" --results "$tmp/$name" \
        --out "$tmp/$name/compare" -q >/dev/null
    "$B/python" -m bondlab.report.crosstab "$tmp/$name/compare/comparison.csv" -o "$EX/schedulers/$name.md" \
        --order "$ALL_SCHEDULERS"
    "$B/python" -m bondlab.readme_block "schedulers $name" "$EX/schedulers/$name.md"
}

scheduler_table bundled "${FIRST[@]}"
scheduler_table added "${ADDED[@]}"

if [ "${1:-}" = "--all" ]; then
    "$B/bondlab" compare scenarios/cellular-traces.yaml scenarios/cellular-three-modems.yaml \
        scenarios/cellular-modem-dropout.yaml scenarios/synthetic-cellular.yaml \
        --schedulers all --rate-controllers headroom,forecast --seeds 1-10 \
        --results "$tmp/leaderboard" --out "$EX/leaderboard" --leaderboard-only -q
    stamp >> "$EX/leaderboard/summary.md"
    "$B/python" -m bondlab.readme_block leaderboard "$EX/leaderboard/summary.md"
    "$B/bondlab" compare scenarios/ --schedulers dwrr --rate-controllers headroom,forecast --seeds 1-5 \
        --results "$tmp/rate-controllers" --out "$EX/rate-controllers/all" --leaderboard-only -q
    stamp >> "$EX/rate-controllers/all/summary.md"
    "$B/python" -m bondlab.readme_block rate-controllers "$EX/rate-controllers/all/summary.md"
    "$B/bondlab" calibrate tests/real/scenarios/cliff-half.yaml scenarios/link-flap.yaml \
        scenarios/cellular-traces.yaml scenarios/black-hole.yaml scenarios/capacity-rise.yaml \
        scenarios/handover.yaml --seeds 1-3 --reruns 1 --results "$tmp/calibration" --out "$EX/calibration"
    "$B/python" -m bondlab.real.calibration_summary "$EX/calibration"
fi
