"""`bondlab regress`: the command line over bondlab.regress (exit 0 pass, 1 fail, 2 bad input)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bondlab.regress import RegressInputError, format_table, regress, write_junit
from bondlab.results import DEFAULT_RESULTS

DESCRIPTION = """Run every scenario that has an `expect:` block, once per scheduler its expectations
name, on a dask cluster (a LocalCluster of --workers processes, or the one at --address), and
print a pass/fail table with the measured value beside each bound.

PATH is a scenario file or a folder (every *.yaml directly inside; files without `expect:`
are skipped). Exit status: 0 if every expectation holds, 1 if any fails (a run that errors
fails its expectations), 2 for bad input (a malformed scenario or expectation, a missing path).

  expect:
    dwrr: {on_time_ratio: ">= 0.97", decodable_ratio: ">= 0.95"}
    rr: {on_time_ratio: "< 0.9"}
    compare: ["dwrr.goodput_bps >= 1.2 * rr.goodput_bps"]
"""


def cmd_regress(args: argparse.Namespace) -> int:
    if args.workers is not None and args.workers < 1:
        print(f"error: --workers must be at least 1 (got {args.workers})", file=sys.stderr)
        return 2
    try:
        results = None if args.no_store else Path(args.results)
        report = regress(
            args.paths, args.workers, args.address, not args.quiet, results=results, rerun=args.rerun
        )
    except (RegressInputError, ConnectionError) as exc:
        for line in str(exc).splitlines():
            print(f"error: {line}", file=sys.stderr)
        return 2
    for path in report.skipped:
        print(f"note: {path}: no expect: block, skipped", file=sys.stderr)
    if report.reused:
        print(
            f"{report.reused} of {report.runs} runs reused from {args.results} "
            "(same inputs and code; --rerun redoes them)",
            file=sys.stderr,
        )
    print(format_table(report, only_failures=args.quiet))
    if args.junit:
        print(f"junit: {write_junit(report, args.junit)}")
    return report.exit_code


def add_regress_command(sub: argparse._SubParsersAction) -> None:
    """Register `bondlab regress` on the top-level subparsers."""
    p = sub.add_parser(
        "regress",
        help="check the expect: bounds of scenario files (CI)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="scenario files or folders")
    p.add_argument(
        "--workers", type=int, help="local dask worker processes (1: in this process) [default: all cores]"
    )
    p.add_argument("--address", metavar="tcp://HOST:PORT", help="use the dask scheduler at this address")
    p.add_argument("--junit", metavar="FILE", help="write JUnit XML, one testcase per expectation")
    p.add_argument(
        "--results",
        default=str(DEFAULT_RESULTS),
        help="store the runs here, and reuse a stored run of the same scenario, traces, scheduler, "
        "seed and code instead of simulating it again [default: %(default)s]",
    )
    p.add_argument("--rerun", action="store_true", help="simulate every run again, even a reusable one")
    p.add_argument("--no-store", action="store_true", help="store nothing (and so reuse nothing)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar; only failing rows")
    p.set_defaults(func=cmd_regress)
