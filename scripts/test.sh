#!/usr/bin/env bash
# The whole test suite, in two phases: every test that does not boot the VM on two pytest-xdist
# workers, then the VM tests (marker `vm`, tests/conftest.py) alone on the machine. A TCG guest
# measures real time and slows to a crawl beside other work (boots of 150-210 s instead of 45 s,
# measured here), so the simulations run first with both cores and the VM gets them after.
# Extra arguments go to both phases. Both phases always run; the status is the first failure's
# (a phase that selected no test, pytest's 5, is not one).
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
phase() {
    .venv/bin/python -m pytest "$@"
    local rc=$?
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 5 ] && [ "$status" -eq 0 ]; then status=$rc; fi
}
phase -n 2 -m "not vm" "$@"
phase -m vm "$@"
exit "$status"
