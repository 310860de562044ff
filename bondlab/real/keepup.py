"""How often a real run keeps up with its clock on this machine: N runs of one scenario in one VM
boot (no reruns), each judged by real/validity.py, one line each and a summary.

    python -m bondlab.real.keepup tests/real/scenarios/seed-full.yaml --runs 20 [--results DIR]

Issue 15 asks the seed case at full rate to be valid in at least 19 of 20 runs in the VM; this is
the command whose output says whether it is (DEVELOPERS.md quotes it). Seeds 1..N, DWRR unless
--scheduler says otherwise.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from bondlab.scenario import load_scenario


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bondlab.real.keepup", description=__doc__.split("\n\n")[0])
    p.add_argument("scenario")
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--scheduler", default="dwrr")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--results", help="where the runs go [default: a temporary directory]")
    args = p.parse_args(argv)
    if args.runs < 1:
        p.error("--runs must be at least 1")
    from bondlab.real.api import RealSetupError, real_runs

    scenario = load_scenario(args.scenario, args.set)
    results = Path(args.results) if args.results else Path(tempfile.mkdtemp(prefix="bondlab-keepup-"))
    jobs = [(scenario, args.scheduler, seed) for seed in range(1, args.runs + 1)]
    try:
        outs = real_runs(jobs, results, quiet=True, reruns=0)
    except RealSetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_status
    valid = 0
    for seed, out in zip(range(1, args.runs + 1), outs, strict=True):
        m, r = out.metrics, out.metrics["real"]
        valid += bool(m["valid"])
        v = r["validity"]
        print(
            f"seed {seed:2d}: {'valid  ' if m['valid'] else 'INVALID'} frames >100 ms late "
            f"{v['frames_late']:3d}, worst {v['frame_lag_max_ms']:6.1f} ms, capture drops "
            f"{v['capture_drops']:4d}, sender {r['cpu_cores']} cores, {r['cpu_s_per_mbit']} CPU s/Mbit, "
            f"goodput {m['goodput_bps'] / 1e6:.2f} Mbps, decodable {m['decodable_ratio']:.3f}"
        )
    print(f"{scenario.name} {args.scheduler}: {valid} of {args.runs} runs valid (results: {results})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
