"""`bondlab compare`: run scenarios x schedulers (x rate controllers) x seeds, then the reports.

The comparison report (table and per-scenario plots) is written as before; the leaderboard
(bondlab/report/leaderboard.py) as well when the oracle runs, `--schedulers all` is given or
`--rate-controllers` is. With several rate controllers each gets its own comparison report in
OUT/<controller>/ (their plots draw one line per scheduler), and the leaderboard spans them all.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from bondlab.leaderboard import (
    ALL,
    ORACLE,
    SINGLE_LINK,
    Job,
    expand_rate_controllers,
    expand_schedulers,
    plan,
    run_jobs,
)
from bondlab.results import StoredRun, load_run
from bondlab.scenario import load_scenario, yaml_files


class CompareUsageError(ValueError):
    """Bad --schedulers / --rate-controllers / --workers: one line, exit 2 (cli.UsageError's role)."""


def add_compare_options(p: argparse.ArgumentParser) -> None:
    """The leaderboard's options on the compare sub-command."""
    p.add_argument(
        "--rate-controllers",
        metavar="NAMES",
        help="comma-separated bonding.rate_controller values to run each scheduler with "
        "(forecast, headroom, ladder, aimd, none, or all) [default: each scenario's own]",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="runs in parallel processes [default: all cores, %(default)s here]",
    )
    p.add_argument(
        "--report",
        action="store_true",
        help="also write OUT/report.html: one self-contained page (figures embedded, sortable tables, "
        "a section per run)",
    )
    p.add_argument(
        "--leaderboard-only",
        action="store_true",
        help="write the leaderboard alone (csv, md, png and summary.md for a docs block), no "
        "comparison tables or per-scenario plots: for large runs, whose plots take minutes",
    )
    p.add_argument(
        "--rerun",
        action="store_true",
        help="simulate every run again, even one stored under RESULTS from the same scenario, traces, "
        "scheduler, seed and code (reused otherwise)",
    )


def cmd_compare(args: argparse.Namespace) -> int:
    from bondlab.report import write_report
    from bondlab.report.leaderboard import write_leaderboard

    try:
        schedulers = expand_schedulers(args.schedulers)
        rcs = expand_rate_controllers(getattr(args, "rate_controllers", None))
    except ValueError as exc:
        raise CompareUsageError(str(exc)) from None
    workers = getattr(args, "workers", 1)
    if workers < 1:
        raise CompareUsageError("--workers: give at least 1")
    files = [path for path, _ in yaml_files(args.scenarios)]
    if not files:
        raise CompareUsageError(f"{', '.join(args.scenarios)}: no scenario files (*.yaml) there")
    scenarios = [load_scenario(p, args.set) for p in files]  # validate all before running any
    jobs = plan(scenarios, schedulers, rcs, args.seeds or [None])
    results = Path(args.results)

    def done(k: int, job: Job, directory: Path) -> None:
        if args.quiet:
            return
        m = load_run(directory).metrics
        print(
            f"[{k}/{len(jobs)}] {job.label}: on-time {m['on_time_ratio']:.3f}, "
            f"goodput {m['goodput_bps'] / 1e6:.2f} Mbps",
            file=sys.stderr,
        )

    dirs, reused = run_jobs(jobs, results, workers, done, rerun=getattr(args, "rerun", False))
    if reused:
        print(
            f"{reused} of {len(jobs)} runs reused from {results} (same inputs and code; --rerun redoes them)"
        )
    runs = [load_run(d) for d in dirs]
    out_dir = Path(args.out) if args.out else results / "compare"
    plain = [r for r, job in zip(runs, jobs, strict=True) if job.scheduler != SINGLE_LINK]
    progress = not args.quiet
    only_board = getattr(args, "leaderboard_only", False)
    if only_board:
        reports = []
    elif len(rcs) == 1:
        reports = [(out_dir, write_report(plain, out_dir, progress))]
    else:
        reports = [
            (out_dir / str(rc), write_report(_of(plain, jobs, rc), out_dir / str(rc), progress)) for rc in rcs
        ]
    for where, files in reports:
        print(f"table: {files.csv}\ntable: {files.markdown}\nplots: {where} ({len(files.plots)} PNG files)")
    board = None
    asked_all = ALL in (s.strip() for s in args.schedulers.split(","))
    if only_board or ORACLE in schedulers or asked_all or getattr(args, "rate_controllers", None):
        board = write_leaderboard(runs, out_dir)
        print(f"leaderboard: {board[1]} ({board[0].name}, {board[2].name})")
    if getattr(args, "report", False):
        from bondlab.report.html import write_html

        plots = [p for _, files in reports for p in files.plots]
        page = write_html(plain, out_dir / "report.html", plots=plots if reports else None, progress=progress)
        print(f"report: {page}")
    print()
    print(terminal_text((board[1] if board is not None else reports[0][1].markdown).read_text()))
    return 0


def terminal_text(markdown: str) -> str:
    """The report for a terminal: its tables and prose, without the image links (they are in the file)."""
    return "\n".join(line for line in markdown.splitlines() if not line.lstrip().startswith("!["))


def _of(runs: list[StoredRun], jobs: list[Job], rc: str | None) -> list[StoredRun]:
    """The runs one rate controller's comparison report shows (the oracle's in every one)."""
    plain = [job for job in jobs if job.scheduler != SINGLE_LINK]
    return [
        r for r, job in zip(runs, plain, strict=True) if job.rate_controller == rc or job.scheduler == ORACLE
    ]
