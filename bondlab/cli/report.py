"""`bondlab report PATH [-o FILE.html]`: the HTML page of a stored run or of every run under a folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bondlab.results import IncompleteRunError, find_runs, is_run_folder, load_run


def cmd_report(args: argparse.Namespace) -> int:
    from bondlab.cli.common import UsageError, existing_path
    from bondlab.report.html import write_html

    path = existing_path(args.path, "report")
    single = is_run_folder(path)
    try:
        runs = [load_run(path)] if single else find_runs(path)
    except IncompleteRunError as exc:
        raise UsageError(f"report: {exc}") from None
    if not runs:
        raise UsageError(f"report: {path}: no complete runs there")
    out = Path(args.output) if args.output else path / ("report/report.html" if single else "report.html")
    write_html(runs, out, progress=not args.quiet)
    print(f"report: {out} ({len(runs)} run{'s' * (len(runs) != 1)})", file=sys.stderr)
    return 0


def add_report_command(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "report",
        help="write one self-contained HTML page for a run or a folder of runs",
        description="Write an HTML page (figures embedded, tables that sort on a click or by "
        "#sort=COLUMN in the address, a section per run with its scenario and every metric) for a "
        "stored run or for every complete run under a folder. Nothing is simulated again.",
        epilog="examples:\n  bondlab report results/black-hole/dwrr-3\n"
        "  bondlab report results/ -o /tmp/all-runs.html\n"
        "  bondlab compare scenarios/ --report          # the same page, at the end of a comparison",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("path", metavar="RUN_DIR|RESULTS_DIR")
    p.add_argument(
        "-o",
        "--output",
        metavar="FILE.html",
        help="where to write [default: RUN_DIR/report/report.html, or RESULTS_DIR/report.html]",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar while the figures are drawn")
    p.set_defaults(func=cmd_report)
