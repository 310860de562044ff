"""`bondlab sweep --report DIR`: PNG plots and a Markdown summary of a stored sweep, in DIR/report/.

Plots use the comparison report's figure helpers (Agg canvas, scheduler colours): each metric
against each parameter, one line per scheduler with the spread over seeds as a band, and a
heatmap of the objective for every pair of gridded parameters.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bondlab.report.data import scheduler_rank, slug
from bondlab.report.figures import legend_below, line, new_figure, save
from bondlab.schedulers import SCHEDULERS
from bondlab.sweep import analysis as an
from bondlab.sweep.store import load_points, read_manifest

PLOT_METRICS = {  # column -> (axis label, scale)
    "decodable_ratio": ("decodable frames, %", 100.0),
    "on_time_ratio": ("frames on time, %", 100.0),
    "goodput_bps": ("goodput, Mbps", 1e-6),
    "p95_delay_ms": ("p95 delay, ms", 1.0),
}
MAX_HEATMAP_LEVELS = 12


@dataclass(frozen=True)
class SweepReport:
    markdown: Path
    plots: list[Path]


def _color(scheduler: str) -> str:
    info = SCHEDULERS.get(scheduler)
    return info.color if info is not None else "0.3"


def _schedulers(df: pd.DataFrame) -> list[str]:
    return sorted(df["scheduler"].unique(), key=lambda s: (scheduler_rank(s), s))


def _positions(values: pd.Series) -> tuple[pd.Series, list[str] | None]:
    """x positions: numbers as they are, anything else (bools, text) as evenly spaced categories."""
    if an.is_numeric(values):
        return values.astype(float), None
    labels = sorted({str(v) for v in values})
    return values.map(lambda v: labels.index(str(v))).astype(float), labels


def plot_parameter(df: pd.DataFrame, param: str) -> object:
    """Rows: scenarios; columns: metrics; a line per scheduler (mean over seeds, band = min..max)."""
    ok = an.succeeded(df).copy()
    ok = ok[ok[param].notna()]
    ok["_x"], labels = _positions(an.binned(ok[param]))
    scenarios = sorted(ok["scenario"].unique())
    metrics = [m for m in PLOT_METRICS if m in ok]
    fig = new_figure(3.2 * len(metrics), 2.4 * len(scenarios) + 0.6)
    axes = np.atleast_2d(fig.subplots(len(scenarios), len(metrics), squeeze=False, sharex=True))
    for r, scenario in enumerate(scenarios):
        part = ok[ok["scenario"] == scenario]
        for c, metric in enumerate(metrics):
            ax = axes[r, c]
            label, scale = PLOT_METRICS[metric]
            for scheduler in _schedulers(part):
                one = part[part["scheduler"] == scheduler]
                # other parameters averaged within each seed, then the spread across seeds
                per_seed = one.groupby(["_x", "seed"])[metric].mean().unstack("seed") * scale
                mean = per_seed.mean(axis=1)
                ax.plot(mean.index, mean.values, marker="o", ms=3, color=_color(scheduler))
                ax.fill_between(
                    mean.index, per_seed.min(axis=1), per_seed.max(axis=1), color=_color(scheduler), alpha=0.2
                )
            ax.grid(alpha=0.3)
            if scale == 100.0:  # a share: the axis ends at 100 %, however the margins fall
                low, high = ax.get_ylim()
                ax.set_ylim(max(low, 0.0), min(high, 100.0 + 0.02 * (100.0 - max(low, 0.0))))
            ax.set_title(f"{scenario}: {label}" if len(scenarios) > 1 else label, fontsize="small")
            if labels is not None:
                ax.set_xticks(range(len(labels)), labels)
            elif ok["_x"].min() > 0 and ok["_x"].max() >= 10 * ok["_x"].min():
                ax.set_xscale("log")  # a range over a decade or more (a log-sampled space)
            if r == len(scenarios) - 1:
                ax.set_xlabel(param)
    handles = [line(s, color=_color(s), marker="o") for s in _schedulers(ok)]
    legend_below(fig, [*handles, line("band: min to max over seeds", color="0.6", lw=6, alpha=0.4)])
    fig.suptitle(f"metrics vs {param} (mean over seeds; other parameters averaged)", fontsize="medium")
    return fig


def plot_heatmap(df: pd.DataFrame, p: str, q: str) -> object:
    """Mean decodable ratio over the (p, q) grid; rows: scenarios, columns: schedulers."""
    ok = an.succeeded(df)
    scenarios, schedulers = sorted(ok["scenario"].unique()), _schedulers(ok)
    fig = new_figure(3.4 * len(schedulers) + 0.8, 2.8 * len(scenarios) + 0.4)
    axes = np.atleast_2d(fig.subplots(len(scenarios), len(schedulers), squeeze=False))
    image = None
    for (r, scenario), (c, scheduler) in itertools.product(enumerate(scenarios), enumerate(schedulers)):
        ax = axes[r, c]
        part = ok[(ok["scenario"] == scenario) & (ok["scheduler"] == scheduler)]
        grid = part.groupby([q, p])[an.OBJECTIVE].mean().unstack(p) * 100
        image = ax.imshow(grid.values, origin="lower", aspect="auto", cmap="RdYlGn", vmin=0, vmax=100)
        ax.set_xticks(
            range(grid.shape[1]), [f"{v:g}" if isinstance(v, float) else str(v) for v in grid.columns]
        )
        ax.set_yticks(
            range(grid.shape[0]), [f"{v:g}" if isinstance(v, float) else str(v) for v in grid.index]
        )
        for (i, j), value in np.ndenumerate(grid.values):
            if not math.isnan(value):
                ax.text(j, i, f"{value:.0f}", ha="center", va="center", fontsize="x-small")
        ax.set_xlabel(p)
        ax.set_ylabel(q)
        ax.set_title(f"{scenario}, {scheduler}", fontsize="small")
    if image is not None:
        fig.colorbar(image, ax=axes, label="decodable frames, % (mean)", shrink=0.8)
    return fig


def _gridded(df: pd.DataFrame, params: list[str]) -> list[str]:
    return [p for p in params if 1 < df[p].nunique() <= MAX_HEATMAP_LEVELS]


def _fmt(value: object) -> str:
    if isinstance(value, float | np.floating):
        return "–" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def markdown_table(df: pd.DataFrame) -> str:
    """A plain Markdown table (pandas' to_markdown needs tabulate, which bondlab does not use)."""
    head = "| " + " | ".join(map(str, df.columns)) + " |"
    rule = "|" + "|".join("---" for _ in df.columns) + "|"
    body = ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, rule, *body])


def _readable(table: pd.DataFrame) -> pd.DataFrame:
    out = table.copy()
    if "goodput_bps" in out:
        out["goodput_bps"] = out["goodput_bps"] / 1e6
        out = out.rename(columns={"goodput_bps": "goodput_Mbps"})
    return out


def _importance_summary(imp: pd.DataFrame) -> pd.DataFrame:
    if imp.empty:
        return imp
    summary = imp.groupby("parameter", sort=False).agg(
        mean_range=("range", "mean"), max_range=("range", "max"), mean_explained=("explained", "mean")
    )
    return summary.sort_values("mean_range", ascending=False).reset_index()


def write_sweep_report(out: str | Path) -> SweepReport:
    """Read the sweep stored in `out` and write out/report/report.md and its PNG files."""
    out = Path(out)
    df = load_points(out)
    if df.empty:
        raise FileNotFoundError(f"{out}: no sweep points here (expected {out}/points/*.parquet)")
    params = [p for p in read_manifest(out).get("params", []) if p in df]
    report_dir = out / "report"
    report_dir.mkdir(parents=True, exist_ok=True)
    plots: list[Path] = []
    ok = an.succeeded(df)
    if not ok.empty:
        for p in params:
            plots.append(save(plot_parameter(df, p), report_dir / f"vs_{slug(p)}.png"))
        for p, q in itertools.combinations(_gridded(ok, params), 2):
            plots.append(save(plot_heatmap(df, p, q), report_dir / f"heatmap_{slug(p)}_{slug(q)}.png"))
    failed = df[df["error"].notna()]
    spec = read_manifest(out).get("spec")
    title = Path(spec).stem if spec and spec not in ("sweep", "sweep spec") else out.name
    best_overall = an.best_overall(df, params)
    lines = [
        f"# Sweep report: {title}",
        "",
        f"{len(df)} points ({len(failed)} failed) in `{out}`: scenarios "
        f"{', '.join(sorted(df['scenario'].unique()))}; schedulers {', '.join(_schedulers(df))}; "
        f"seeds {', '.join(map(str, sorted(df['seed'].unique())))}; "
        f"parameters {', '.join(params) or 'none'}.",
        "Objective: mean decodable ratio over seeds, then mean goodput.",
        "",
        "## Best setting per scenario",
        "",
        markdown_table(_readable(an.best_per_scenario(df, params))),
        "",
        "## Best settings over all scenarios (each scenario weighs the same)",
        "",
        markdown_table(_readable(best_overall)),
        "",
        *_edge_notes(ok, best_overall, params),
    ]
    imp = an.importance(df, params)
    if params:
        lines += [
            "## How much each parameter matters",
            "",
            "`range`: max - min of the mean decodable ratio over the parameter's values (others averaged); "
            "`explained`: share of the decodable ratio's variance explained by the parameter.",
            "",
            markdown_table(_importance_summary(imp)),
            "",
            markdown_table(imp),
            "",
        ]
    if plots:
        lines += ["## Plots", "", *(f"![{p.stem}]({p.name})" for p in plots), ""]
    if len(failed):
        shown = failed[[*params, "scenario", "scheduler", "seed", "point_key", "error"]].head(50)
        lines += ["## Failed points", "", markdown_table(shown), ""]
    markdown = report_dir / "report.md"
    markdown.write_text("\n".join(lines))
    return SweepReport(markdown, plots)


def _edge_notes(ok: pd.DataFrame, best: pd.DataFrame, params: list[str]) -> list[str]:
    """A line per numeric parameter whose best overall value is the smallest or largest swept:
    the optimum may lie outside the grid, and the report should not let that pass unsaid."""
    if best.empty or ok.empty:
        return []
    notes = []
    top = best.iloc[0]
    for p in params:
        values = ok[p].dropna()
        if p not in top or not an.is_numeric(values) or values.nunique() < 3:
            continue
        v = float(top[p])
        if v in (float(values.min()), float(values.max())):
            side = "largest" if v == float(values.max()) else "smallest"
            notes.append(
                f"**At the edge of the grid:** the best `{p}` ({v:g}) is the {side} value swept; "
                "the optimum may lie beyond it: widen the range."
            )
    return [*notes, ""] if notes else []
