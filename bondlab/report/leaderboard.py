"""The leaderboard: every scheduler x rate controller over the scenarios, against the oracle.

Why a separate report: the comparison table answers "how did each run go"; the leaderboard
answers "which sender is best, and how far from the best possible". Rows are ranked by decodable
frames, then goodput (what a viewer sees first, then how much of it). When the oracle ran on a
scenario and seed, every run there gets `oracle_goodput_ratio` (its goodput / the oracle's);
when the aggregated single-link bound ran, `single_link_goodput_ratio` likewise. Both are
computed here, from stored runs only.

The figure is the field's headline plot: p95 one-way delay (x, reversed: better is right)
against goodput (y), one marker per scheduler x rate controller, colour by scheduler (the
registry's colour, as in every plot) and shape by rate controller.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from bondlab.report.data import scheduler_rank, slug
from bondlab.report.figures import legend_below, line, log_x_ticks, new_figure
from bondlab.report.stats import ci_half_width, overlap_note
from bondlab.report.table import is_missing, markdown_table, missing_as_dash, percent
from bondlab.results import StoredRun

ORACLE = "oracle"
SINGLE_LINK = "single-link"  # bondlab/sim/single_link.py's run id (kept import-free of the sim)
KEYS = ("scenario", "scheduler", "rate_controller", "seed")
METRICS = ("decodable_ratio", "goodput_bps", "on_time_ratio", "p95_delay_ms", "overhead_bytes")
RATIOS = ("oracle_goodput_ratio", "single_link_goodput_ratio")
# Metrics whose mean gets a 95 % interval over seeds (report/stats.py), in a `<metric>_ci95` column.
CI_METRICS = ("decodable_ratio", "goodput_bps", "p95_delay_ms", "oracle_goodput_ratio")
CI_SUFFIX = "_ci95"
RC_MARKERS = {"forecast": "D", "headroom": "o", "ladder": "s", "aimd": "^", "none": "X", ORACLE: "*"}
BOUND_COLOR = "#888888"
FIGURE_DPI = 110


def rate_controller_of(run: StoredRun) -> str:
    """The bitrate rule a run used: the oracle's own, else the scenario's (none if switched off)."""
    if run.scheduler == ORACLE:
        return ORACLE
    bonding = run.meta.get("scenario", {}).get("bonding", {})
    if not bonding.get("rate_control", True):
        return "none"
    return str(bonding.get("rate_controller", "headroom"))


def _goodput_by_run(runs: Iterable[StoredRun], scheduler: str) -> dict[tuple[str, int], float]:
    return {
        (r.scenario, r.seed): float(r.metrics["goodput_bps"])
        for r in runs
        if r.scheduler == scheduler and r.metrics.get("goodput_bps") is not None
    }


def _ratio(value: Any, reference: float | None) -> float:
    if value is None or not reference:
        return math.nan
    return float(value) / reference


def leaderboard_rows(runs: Sequence[StoredRun]) -> pd.DataFrame:
    """One row per run (the single-link bound is not a row: it only makes its ratio column)."""
    oracle = _goodput_by_run(runs, ORACLE)
    bound = _goodput_by_run(runs, SINGLE_LINK)
    rows = []
    for run in runs:
        if run.scheduler == SINGLE_LINK:
            continue
        row: dict[str, Any] = dict(
            zip(KEYS, (run.scenario, run.scheduler, rate_controller_of(run), run.seed))
        )
        row.update({key: run.metrics.get(key) for key in METRICS})
        key = (run.scenario, run.seed)
        row["oracle_goodput_ratio"] = _ratio(row["goodput_bps"], oracle.get(key))
        row["single_link_goodput_ratio"] = _ratio(row["goodput_bps"], bound.get(key))
        rows.append(row)
    frame = pd.DataFrame(rows, columns=[*KEYS, *METRICS, *RATIOS])
    for column in (*METRICS, *RATIOS):
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    return frame


def bound_goodputs(runs: Sequence[StoredRun]) -> dict[str, float]:
    """Mean goodput (bit/s) of the single-link bound per scenario, over its seeds."""
    values: dict[str, list[float]] = {}
    for (scenario, _seed), goodput in _goodput_by_run(runs, SINGLE_LINK).items():
        values.setdefault(scenario, []).append(goodput)
    return {scenario: sum(v) / len(v) for scenario, v in values.items()}


def rank(frame: pd.DataFrame) -> pd.DataFrame:
    """Best first: decodable, then goodput (missing values last), ties in registry order."""
    order = frame.assign(_sched=[scheduler_rank(s) for s in frame["scheduler"]])
    order = order.sort_values(
        ["decodable_ratio", "goodput_bps", "_sched", "rate_controller"],
        ascending=[False, False, True, True],
        na_position="last",
        kind="stable",
    )
    return order.drop(columns="_sched").reset_index(drop=True)


def leaderboard_table(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per scheduler x rate controller: means over every scenario and seed, ranked, with
    the 95 % half width of each CI_METRICS mean over seeds (NaN without two seeds or more)."""
    cis = [f"{m}{CI_SUFFIX}" for m in CI_METRICS]
    columns = ["rank", "scheduler", "rate_controller", "runs", "seeds", *METRICS, *RATIOS, *cis]
    if rows.empty:
        return pd.DataFrame(columns=columns)
    grouped = rows.groupby(["scheduler", "rate_controller"], sort=False)
    table = grouped[[*METRICS, *RATIOS]].mean().reset_index()
    table["runs"] = grouped.size().to_numpy()
    table["seeds"] = grouped["seed"].nunique().to_numpy()
    for metric in CI_METRICS:
        table[f"{metric}{CI_SUFFIX}"] = [ci_half_width(group, metric) for _, group in grouped]
    table = rank(table)
    table["rank"] = range(1, len(table) + 1)
    return table[columns]


def scenario_table(rows: pd.DataFrame, scenario: str) -> pd.DataFrame:
    """One scenario's rows, means over seeds, ranked."""
    mine = rows[rows["scenario"] == scenario]
    return leaderboard_table(mine)


_VIEW: dict[str, tuple[str, Callable[[Any], str]]] = {
    "rank": ("#", str),
    "scheduler": ("scheduler", str),
    "rate_controller": ("rate controller", str),
    "runs": ("runs", str),
    "seeds": ("seeds", str),
    "decodable_ratio": ("decodable", missing_as_dash(percent)),
    "goodput_bps": ("goodput (Mbps)", missing_as_dash(lambda v: f"{v / 1e6:.2f}")),
    "on_time_ratio": ("on time", missing_as_dash(percent)),
    "p95_delay_ms": ("p95 delay (ms)", missing_as_dash(lambda v: f"{v:.0f}")),
    "overhead_bytes": ("overhead (MB)", missing_as_dash(lambda v: f"{v / 1e6:.2f}")),
    "oracle_goodput_ratio": ("of oracle goodput", missing_as_dash(lambda v: percent(v, 0))),
    "single_link_goodput_ratio": ("of single-link bound", missing_as_dash(lambda v: percent(v, 0))),
}
# How a 95 % half width reads after its mean: the mean's unit, without the % sign.
_HALF: dict[str, Callable[[float], str]] = {
    "decodable_ratio": lambda h: f"{h * 100:.1f}",
    "goodput_bps": lambda h: f"{h / 1e6:.2f}",
    "p95_delay_ms": lambda h: f"{h:.0f}",
    "oracle_goodput_ratio": lambda h: f"{h * 100:.0f}",
}


def _cell(table: pd.DataFrame, column: str, i: int) -> str:
    text = _VIEW[column][1](table[column].iloc[i])
    ci = f"{column}{CI_SUFFIX}"
    if ci in table.columns and not is_missing(table[ci].iloc[i]) and not is_missing(table[column].iloc[i]):
        text += f" ± {_HALF[column](float(table[ci].iloc[i]))}"
    return text


def markdown_view(table: pd.DataFrame) -> pd.DataFrame:
    """Units a reader wants, a mean's 95 % interval after it (`± half width`); ratio columns that
    are empty everywhere, and the seeds column when every row ran one seed, are left out."""
    keep = [
        c
        for c in table.columns
        if c in _VIEW
        and (c not in RATIOS or table[c].notna().any())
        and (c != "seeds" or (table[c] > 1).any())
    ]
    return pd.DataFrame({_VIEW[c][0]: [_cell(table, c, i) for i in range(len(table))] for c in keep})


def _overlap(table: pd.DataFrame) -> str:
    return overlap_note(
        table["decodable_ratio"].to_list(), table[f"decodable_ratio{CI_SUFFIX}"].to_list(), "decodable"
    )


def markdown_leaderboard(rows: pd.DataFrame, bounds: dict[str, float], figure: Path | None) -> str:
    scenarios = sorted(rows["scenario"].unique())
    parts = [
        "# bondlab leaderboard\n",
        f"{len(rows)} runs over {len(scenarios)} scenario(s): {', '.join(scenarios)}. One row per "
        "scheduler x rate controller, means over scenarios and seeds, ranked by *decodable* frames, "
        "then *goodput*; `± x`: the 95 % confidence interval of the mean over seeds (Student's t over "
        "per-seed means). *Of oracle goodput*: goodput / the oracle's on the same scenario and seed "
        "(the oracle reads the sim's true link state; an upper bound in practice, not a proof). "
        "*Of single-link bound*: goodput / that of one link with the summed capacity and the best "
        "link's delay (DWRR, the scenario's rate controller).\n",
        markdown_table(markdown_view(overall := leaderboard_table(rows))),
        _overlap(overall) + "\n",
    ]
    if figure is not None:
        parts.append(f"![p95 delay against goodput]({figure.name})\n")
    for scenario in scenarios:
        parts.append(f"## {scenario}\n")
        if scenario in bounds:
            parts.append(f"Single-link bound: {bounds[scenario] / 1e6:.2f} Mbps goodput.\n")
        table = scenario_table(rows, scenario)
        parts.append(markdown_table(markdown_view(table)))
        if (table["seeds"] > 1).any():
            parts.append(_overlap(table) + "\n")
    return "\n".join(parts)


# -- the figure ----------------------------------------------------------------------------------


def _color(scheduler: str) -> str:
    from bondlab.schedulers import SCHEDULERS

    info = SCHEDULERS.get(scheduler)
    return info.color if info is not None else BOUND_COLOR


def plot_leaderboard(rows: pd.DataFrame, bounds: dict[str, float], path: Path) -> Path:
    """p95 delay (reversed x) against goodput, a panel per scenario, each point with its 95 %
    intervals over seeds when there are several; written to `path`."""
    scenarios = sorted(rows["scenario"].unique())
    ncols = min(len(scenarios), 2) or 1
    nrows = max(math.ceil(len(scenarios) / ncols), 1)
    fig = new_figure(5.0 * ncols, 3.4 * nrows + 0.9)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, scenario in zip(axes, scenarios, strict=False):
        points = scenario_table(rows, scenario)
        for p in points.itertuples(index=False):
            if pd.isna(p.p95_delay_ms) or pd.isna(p.goodput_bps):
                continue
            xerr, yerr = p.p95_delay_ms_ci95, p.goodput_bps_ci95 / 1e6
            if not (pd.isna(xerr) and pd.isna(yerr)):  # the 95 % intervals over seeds
                ax.errorbar(
                    p.p95_delay_ms,
                    p.goodput_bps / 1e6,
                    xerr=None if pd.isna(xerr) else xerr,
                    yerr=None if pd.isna(yerr) else yerr,
                    fmt="none",
                    ecolor=_color(str(p.scheduler)),
                    elinewidth=1.0,
                    alpha=0.6,
                    zorder=2,
                )
            ax.scatter(
                p.p95_delay_ms,
                p.goodput_bps / 1e6,
                color=_color(str(p.scheduler)),
                marker=RC_MARKERS.get(str(p.rate_controller), "D"),
                s=90 if p.scheduler == ORACLE else 45,
                edgecolors="white",
                linewidths=0.5,
                zorder=3,
            )
        if scenario in bounds:
            ax.axhline(bounds[scenario] / 1e6, color=BOUND_COLOR, ls="--", lw=1, zorder=1)
        delays = points["p95_delay_ms"].dropna()
        if len(delays) and delays.min() > 0 and delays.max() / delays.min() > 20:
            log_x_ticks(ax)
        ax.invert_xaxis()  # less delay is better: better senders sit top right
        ax.set_title(scenario, fontsize="medium")
        ax.set_xlabel("p95 one-way delay (ms, reversed)")
        ax.set_ylabel("goodput (Mbps)")
        ax.grid(alpha=0.3)
        ax.set_ylim(bottom=0)
    for ax in axes[len(scenarios) :]:
        ax.set_visible(False)
    legend_below(fig, _legend(rows, bool(bounds)), ncols=5)
    fig.savefig(path, dpi=FIGURE_DPI)
    fig.clear()
    return path


def _legend(rows: pd.DataFrame, bound: bool) -> list[Any]:
    from bondlab.schedulers import SCHEDULERS

    schedulers = sorted(rows["scheduler"].unique(), key=scheduler_rank)
    handles = [
        line(
            SCHEDULERS[s].display if s in SCHEDULERS else s,
            color=_color(s),
            marker=RC_MARKERS[ORACLE] if s == ORACLE else "o",
            ls="",
            markersize=6,
        )
        for s in schedulers
    ]
    for rc in sorted(set(rows["rate_controller"]) - {ORACLE}):
        handles.append(line(rc, color="0.3", marker=RC_MARKERS.get(rc, "D"), ls="", markersize=6))
    if bound:
        handles.append(line("single-link bound", color=BOUND_COLOR, ls="--"))
    return handles


def write_leaderboard(runs: Sequence[StoredRun], out_dir: Path) -> tuple[Path, Path, Path]:
    """leaderboard.csv (one row per run), leaderboard.md and leaderboard.png in `out_dir`."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = leaderboard_rows(runs)
    if rows.empty:
        raise ValueError("no runs for the leaderboard")
    bounds = bound_goodputs(runs)
    csv = out_dir / "leaderboard.csv"
    by_scenario = [rank(rows[rows["scenario"] == s]) for s in sorted(rows["scenario"].unique())]
    pd.concat(by_scenario, ignore_index=True).to_csv(csv, index=False)
    png = plot_leaderboard(rows, bounds, out_dir / f"{slug('leaderboard')}.png")
    md = out_dir / "leaderboard.md"
    md.write_text(markdown_leaderboard(rows, bounds, png))
    (out_dir / SUMMARY_FILE).write_text(summary_markdown(rows))
    return csv, md, png


SUMMARY_FILE = "summary.md"  # the overall table alone, for a README block (bondlab/readme_block.py)


def summary_markdown(rows: pd.DataFrame) -> str:
    """The overall table with its overlap sentence, headed by what it is over."""
    scenarios = sorted(rows["scenario"].unique())
    seeds = sorted(rows["seed"].unique())
    if len(seeds) > 2 and seeds == list(range(seeds[0], seeds[-1] + 1)):
        seed_text = f"seeds {seeds[0]}-{seeds[-1]}"
    else:
        seed_text = ("seed " if len(seeds) == 1 else "seeds ") + ", ".join(map(str, seeds))
    table = leaderboard_table(rows)
    return (
        f"{len(rows)} runs: {', '.join(scenarios)}; {seed_text}. Means over scenarios and seeds, "
        "`± x` the 95 % interval over seeds.\n\n"
        + markdown_table(markdown_view(table))
        + "\n"
        + _overlap(table)
        + "\n"
    )
