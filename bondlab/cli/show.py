"""`bondlab show`: a stored run's metrics (or every run under a results directory) on stdout.

For reading at the terminal (aligned), and for piping: `--json` (one run: its metrics.json as
written; several: one JSON object per line) and `--csv` (a row per run, the columns
`bondlab.load_results` gives). Nothing is recomputed: it reads what the run stored.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from bondlab.results import IncompleteRunError, is_run_folder, load_run

# The columns the terminal table shows for several runs (all of them go to --csv and --json).
SUMMARY = ["scenario", "scheduler", "seed", "backend", "decodable_ratio", "on_time_ratio", "goodput_mbps"]
SUMMARY_OPTIONAL = ["p95_delay_ms", "valid"]


def _value(v: Any) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return ""
        return f"{v:.0f}" if abs(v) >= 1e5 else f"{v:.6g}"  # bit rates in full, not 8.70186e+06
    return str(v)


def one_run_text(directory: Path) -> str:
    """A run's key fields, then its scalar metrics one per line, then each link's share."""
    run = load_run(directory)
    m = run.metrics
    lines = [f"{run.scenario}  {run.scheduler}  seed {run.seed}  {run.backend}  ({run.path})"]
    scalars = {k: v for k, v in m.items() if isinstance(v, int | float | str | bool) or v is None}
    width = max(map(len, scalars), default=0)
    lines += [f"  {k.ljust(width)}  {_value(v)}" for k, v in scalars.items()]
    for name, link in (m.get("links") or {}).items():
        parts = ", ".join(f"{k} {_value(v)}" for k, v in link.items())
        lines.append(f"  link {name}: {parts}")
    return "\n".join(lines)


def cmd_show(args: argparse.Namespace) -> int:
    from bondlab.cli.common import UsageError, existing_path
    from bondlab.frames import load_results

    path = existing_path(args.path, "show")
    single = is_run_folder(path)
    try:
        if single and args.json:
            print(json.dumps(load_run(path).metrics, indent=2))
            return 0
        if single and not args.csv:
            print(one_run_text(path))
            return 0
        frame = load_results(path)
    except (IncompleteRunError, FileNotFoundError) as exc:
        raise UsageError(f"show: {exc}") from None
    if args.csv:
        frame.to_csv(sys.stdout, index=False)
    elif args.json:
        sys.stdout.write(frame.to_json(orient="records", lines=True))
    else:
        columns = [c for c in [*SUMMARY, *SUMMARY_OPTIONAL] if c in frame.columns]
        print(frame[columns or list(frame.columns)].to_string(index=False))
    return 0


def add_show_command(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "show",
        help="print a stored run's metrics (or every run under a results directory)",
        description="Print what a run stored: its metrics one per line (a run directory), or a row "
        "per complete run (a results directory, a sweep's folder). --json and --csv for piping.",
        epilog="examples:\n  bondlab show results/black-hole/dwrr-3\n"
        "  bondlab show results/black-hole/dwrr-3 --json | jq .decodable_ratio\n"
        "  bondlab show results/ --csv > runs.csv",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("path", metavar="RUN_DIR|RESULTS_DIR", help="a run directory or a results directory")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument(
        "--json", action="store_true", help="one run: its metrics.json; several: a JSON object per line"
    )
    fmt.add_argument("--csv", action="store_true", help="a row per run with a header (load_results' columns)")
    p.set_defaults(func=cmd_show)
