"""What the commands share: the one-line usage error, paths and seeds from the command line, and
the summary line a run prints. Apart from cli/main.py so that subcommands living in their own
packages (real/cli.py, tuner/cli.py) import it without importing the whole command line."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


class UsageError(Exception):
    """Bad command-line input: one line to stderr, exit 2."""


def existing_path(text: str, command: str) -> Path:
    """A run or results folder named on the command line; UsageError (one line) if there is none."""
    path = Path(text)
    if not path.exists():
        raise UsageError(f"{command}: {path}: no such run or results directory")
    return path


def seed_list(text: str) -> list[int]:
    """`--seeds`: comma-separated seeds and ranges, `1,2,5` or `1-10` or `1-3,7` (argparse type)."""
    seeds: list[int] = []
    for item in text.split(","):
        lo, dash, hi = item.strip().partition("-")
        try:
            first = int(lo)
            last = int(hi) if dash else first
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{item.strip()!r} is not a seed or a range (give e.g. 1,2,3 or 1-10)"
            ) from None
        if last < first:
            raise argparse.ArgumentTypeError(f"{item.strip()!r}: a range runs from low to high")
        seeds.extend(s for s in range(first, last + 1) if s not in seeds)
    return seeds


def report_run(directory: Path, metrics: dict[str, Any], as_json: bool, extra: str = "") -> None:
    """What `run` and `real run` print: the metrics object, or one summary line."""
    if as_json:
        print(json.dumps(metrics, indent=2))
        return
    m = metrics
    print(
        f"{directory}: on-time {m['on_time_ratio']:.3f}, decodable {m['decodable_ratio']:.3f}, "
        f"goodput {m['goodput_bps'] / 1e6:.2f} Mbps, p95 delay {m['p95_delay_ms']} ms, "
        f"{m['congestion_messages']} congestion-control messages{extra}"
    )
