"""Comparison report over stored runs: one table (CSV and Markdown) and PNG plots per scenario.

Reads results/<scenario>/<run-id>/ only (see bondlab.results); it never runs a simulation.

- `table`: the comparison table, ranked by decodable frames then goodput, and Markdown helpers.
- `data`: what the plots draw, computed without drawing (capacity totals, up/down spans, grouping).
- `rates`: time-series plots (encoder vs counted capacity; per link estimate, health, belief).
- `outcomes`: bar and delay plots from metrics.json and delays_ms.npy.
- `figures`: figure helpers and colours, shared with bondlab.real.calibration_report.

    python -m bondlab.report results report/
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bondlab.report.data import (
    DELAYS_FILE,
    by_scenario,
    capacity_totals,
    controller_up,
    counted_capacity,
    load_delays,
    read_timeseries,
    series_of,
    slug,
)
from bondlab.report.figures import save
from bondlab.report.outcomes import plot_delay, plot_frames, plot_link_share, plot_overview
from bondlab.report.rates import plot_bitrate, plot_links
from bondlab.report.table import (
    COLUMNS,
    KEY_COLUMNS,
    METRIC_COLUMNS,
    comparison_table,
    link_share_text,
    markdown_report,
    markdown_table,
)
from bondlab.results import DEFAULT_RESULTS, StoredRun, find_runs

PLOT_KINDS = ("bitrate", "link-share", "delay", "frames", "estimator")
OVERVIEW_FILE = "overview-decodable.png"


@dataclass(frozen=True)
class ReportFiles:
    """What write_report wrote: the two table files and every PNG (per scenario, then the overview)."""

    csv: Path
    markdown: Path
    plots: list[Path] = field(default_factory=list)


def scenario_plots(scenario: str, runs: Sequence[StoredRun], out_dir: Path) -> list[Path]:
    series = series_of(runs)
    ts = {s.label: frame for s in series if (frame := read_timeseries(s.first)) is not None}
    figures = {
        "bitrate": plot_bitrate(scenario, series, ts),
        "link-share": plot_link_share(scenario, series),
        "delay": plot_delay(scenario, series),
        "frames": plot_frames(scenario, series),
        "estimator": plot_links(scenario, series, ts),
    }
    stem = slug(scenario)
    return [save(fig, out_dir / f"{stem}-{kind}.png") for kind, fig in figures.items() if fig is not None]


def write_report(runs: list[StoredRun], out_dir: Path, progress: bool = False) -> ReportFiles:
    """Write comparison.csv, comparison.md and the PNG plots for `runs` into `out_dir` (`progress`:
    a bar on stderr while the plots are drawn, the report's long part)."""
    if not runs:
        raise ValueError("no runs to report (no metrics.json under the results directory?)")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    table = comparison_table(runs)
    csv_path = out_dir / "comparison.csv"
    table.to_csv(csv_path, index=False)
    from tqdm import tqdm

    groups = by_scenario(runs)
    sections = {
        scenario: scenario_plots(scenario, members, out_dir)
        for scenario, members in tqdm(
            groups.items(),
            total=len(groups),
            desc="plots",
            unit="scenario",
            disable=not progress,
            leave=False,
        )
    }
    overview = save(plot_overview(runs), out_dir / OVERVIEW_FILE)
    md_path = out_dir / "comparison.md"
    md_path.write_text(markdown_report(table, sections, overview))
    plots = [p for paths in sections.values() for p in paths] + [overview]
    return ReportFiles(csv_path, md_path, plots)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bondlab.report", description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="?", type=Path, default=DEFAULT_RESULTS, help="results directory")
    parser.add_argument("out_dir", nargs="?", type=Path, default=Path("report"), help="output directory")
    args = parser.parse_args(argv)
    files = write_report(find_runs(args.results), args.out_dir)
    print(f"wrote {files.csv}, {files.markdown} and {len(files.plots)} plots to {args.out_dir}")
    return 0


__all__ = [
    "COLUMNS",
    "DELAYS_FILE",
    "KEY_COLUMNS",
    "METRIC_COLUMNS",
    "OVERVIEW_FILE",
    "PLOT_KINDS",
    "ReportFiles",
    "capacity_totals",
    "comparison_table",
    "controller_up",
    "counted_capacity",
    "link_share_text",
    "load_delays",
    "main",
    "markdown_table",
    "write_report",
]
