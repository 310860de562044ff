"""`bondlab sweep`: run a sweep spec on dask workers (resumable), and/or report on a stored sweep."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

DESCRIPTION = """Run every point of SPEC (scenarios x grid or sample x schedulers x seeds) on dask
workers: a LocalCluster of --workers processes (default: one per core), or the cluster at
--address. Each point is stored as it finishes, as OUT/points/<point key>.parquet, so running
the same spec again, also after Ctrl-C or kill -9, runs only the missing points (and those that
failed). Exit status: 0 if every point ran, 1 if any failed, 2 for a bad spec or option.

  bondlab sweep SPEC.yaml              run (default OUT: results/sweeps/<spec name>/)
  bondlab sweep SPEC.yaml --report     run, then write OUT/report/ (PNG + report.md)
  bondlab sweep --report DIR           only write DIR/report/ for a stored sweep

spec:
  scenarios: [../scenarios/three-link-degrade.yaml]   # relative to the spec file
  schedulers: [rr, dwrr]                               # default: [dwrr]
  seeds: [1, 2, 3]                                     # default: each scenario's seed
  set: {duration_s: 30}                                # fixed for every point (optional)
  grid: {bonding.alpha: [0.05, 0.125, 0.3], bonding.headroom: [1.05, 1.2]}
  # or: sample: {n: 50, seed: 1, space: {bonding.alpha: {low: 0.02, high: 0.5, log: true},
  #                                      bonding.rate_control: {choices: [true, false]}}}
"""


def add_sweep_command(sub: Any) -> None:
    """Register `bondlab sweep` on the main parser's subparsers."""
    p = sub.add_parser(
        "sweep",
        help="run a parameter sweep on dask workers (resumes), or report on one",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("spec", nargs="?", help="sweep spec YAML file")
    p.add_argument("--workers", type=int, help="local worker processes [default: one per core]")
    p.add_argument("--address", metavar="tcp://HOST:PORT", help="use the dask scheduler there instead")
    p.add_argument("--out", help="results directory [default: results/sweeps/<spec name>]")
    p.add_argument(
        "--report",
        nargs="?",
        const=True,
        metavar="DIR",
        help="write PNG + Markdown into DIR/report/ (with SPEC: into OUT/report/ after the run)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_sweep)


def _usage(text: str) -> int:
    print(f"error: {text}", file=sys.stderr)
    return 2


def cmd_sweep(args: argparse.Namespace) -> int:
    if args.spec is None:
        if not isinstance(args.report, str):
            return _usage("give a sweep spec (bondlab sweep SPEC.yaml) or --report DIR")
        return _report(Path(args.report))
    if isinstance(args.report, str):
        return _usage("with a SPEC, --report takes no directory (it reports on --out)")
    if args.workers is not None and args.workers < 1:
        return _usage(f"--workers must be at least 1 (got {args.workers})")
    if args.workers is not None and args.address is not None:
        return _usage("give --workers or --address, not both")
    from bondlab.sweep.runner import run_spec

    try:
        run = run_spec(args.spec, args.workers, args.address, args.out, progress=not args.quiet)
    except ConnectionError as exc:
        return _usage(str(exc))
    except KeyboardInterrupt:
        return 130
    code = 1 if print_summary(run) else 0
    if args.report:
        code = max(code, _report(run.out))
    return code


def print_summary(run: Any) -> int:
    """Where the results are, how many points ran, the best setting per scenario and overall.

    Returns the number of failed points among the spec's points.
    """
    from bondlab.sweep.analysis import best_overall, best_per_scenario, describe

    failed_now = run.failed
    failed_all = int(run.frame["error"].notna().sum()) if len(run.frame) else 0
    print(
        f"sweep: {run.total} points: {run.ran} run now, {run.skipped} already done, "
        f"{failed_now} failed{' (failed points are retried on the next run)' if failed_now else ''}"
    )
    print(f"results: {run.out}/points ({len(run.frame)} rows, one per point; pandas.read_parquet reads it)")
    best = best_per_scenario(run.frame, run.params)
    if len(best):
        print("best per scenario (mean over seeds: decodable ratio, then goodput):")
        width = max(len(s) for s in best["scenario"])
        for _, row in best.iterrows():
            print(
                f"  {row['scenario']:<{width}}  {describe(row, run.params)}: decodable "
                f"{row['decodable_ratio']:.3f}, goodput {row['goodput_bps'] / 1e6:.2f} Mbps"
            )
    overall = best_overall(run.frame, run.params, top=1)
    if len(overall) and best["scenario"].nunique() > 1:
        row = overall.iloc[0]
        print(
            f"best overall: {describe(row, run.params)}: decodable {row['decodable_ratio']:.3f}, "
            f"goodput {row['goodput_bps'] / 1e6:.2f} Mbps (mean over scenarios)"
        )
    if failed_all:
        first = run.frame.loc[run.frame["error"].notna(), "error"].iloc[0]
        print(f"{failed_all} failed point(s); first error: {first}", file=sys.stderr)
    return failed_all


def _report(directory: Path) -> int:
    from bondlab.sweep.report import write_sweep_report

    if not (directory / "points").is_dir():
        return _usage(f"--report {directory}: not a sweep output directory (no points/ inside)")
    try:
        report = write_sweep_report(directory)
    except FileNotFoundError as exc:
        return _usage(str(exc))
    print(f"report: {report.markdown} ({len(report.plots)} PNG files)")
    return 0
