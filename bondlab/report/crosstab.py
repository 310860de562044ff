"""A scenario x scheduler table from a comparison.csv: "decodable/on-time/goodput Mbps" per cell,
one scenario a row, the schedulers in the order they were asked for, means at the foot.

Why apart from comparison.md: that one lists every run with every metric for the one who ran it;
this is the at-a-glance table the docs show (docs/schedulers.md, docs/usage.md), generated so it
is never typed:

    python -m bondlab.report.crosstab results/compare/comparison.csv -o results/examples/schedulers/table.md
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

CELL = "{decodable_ratio:.2f}/{on_time_ratio:.2f}/{goodput_mbps:.1f}"


def crosstab(rows: pd.DataFrame, order: list[str] | None = None) -> pd.DataFrame:
    """Means over seeds per (scenario, scheduler), as cells; a `**mean**` row over scenarios.
    Columns in `order` (default: as the schedulers first appear)."""
    rows = rows.assign(goodput_mbps=rows["goodput_bps"] / 1e6)
    order = order or list(dict.fromkeys(rows["scheduler"]))
    keys = ["decodable_ratio", "on_time_ratio", "goodput_mbps"]
    means = rows.groupby(["scenario", "scheduler"], sort=True)[keys].mean()
    foot = means.groupby("scheduler")[keys].mean()
    cells = means.apply(lambda r: CELL.format(**r), axis=1).unstack("scheduler")[order]
    cells.loc["**mean**"] = foot.apply(lambda r: CELL.format(**r), axis=1)[order]
    return cells


def markdown(rows: pd.DataFrame, order: list[str] | None = None) -> str:
    """The table in Markdown, with a line saying what a cell holds and over which seeds."""
    table = crosstab(rows, order)
    seeds = sorted({int(s) for s in rows["seed"]})
    one_each = rows.groupby("scenario")["seed"].nunique().max() == 1
    head = "| scenario | " + " | ".join(table.columns) + " |"
    rule = "|---" * (len(table.columns) + 1) + "|"
    body = [f"| {name} | " + " | ".join(row) + " |" for name, row in table.iterrows()]
    over = (
        "one seed each (the scenario's own)" if one_each else f"means over seeds {', '.join(map(str, seeds))}"
    )
    note = f"Decodable / on-time / goodput (Mbps) per scenario and scheduler, {over}; means at the foot.\n"
    return note + "\n" + "\n".join([head, rule, *body]) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bondlab.report.crosstab",
        description="Write a scenario x scheduler table (decodable/on-time/goodput) from a comparison.csv.",
    )
    p.add_argument("csv", help="a comparison.csv that `bondlab compare` wrote")
    p.add_argument("-o", "--out", help="the Markdown file [default: stdout]")
    p.add_argument(
        "--order", help="the schedulers' column order, comma-separated (as compare's --schedulers)"
    )
    args = p.parse_args(argv)
    source = Path(args.csv)
    try:
        rows = pd.read_csv(source)
        text = markdown(rows, args.order.split(",") if args.order else None)
    except (OSError, KeyError, ValueError) as exc:
        print(f"error: {source}: {exc}", file=sys.stderr)
        return 2
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)
        print(f"{args.out}: {len(rows)} runs")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
