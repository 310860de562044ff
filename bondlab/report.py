"""Comparison report over stored runs: one table (CSV and Markdown) and PNG plots per scenario.

Reads results/<scenario>/<run-id>/ only (see bondlab.results); it never runs a simulation.
Figures use matplotlib's object API on an Agg canvas, so nothing is registered with pyplot
and each figure is cleared as soon as its file is written (no leaks over many scenarios).

    python -m bondlab.report results report/
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, NullFormatter

from bondlab.core.schedulers import SCHEDULERS
from bondlab.results import DEFAULT_RESULTS, StoredRun, find_runs

DPI = 150
DELAYS_FILE = "delays_ms.npy"  # optional, one float per delivered packet: end-to-end delay in ms
KEY_COLUMNS = ("scenario", "backend", "scheduler", "seed")
METRIC_COLUMNS = ("on_time_ratio", "decodable_ratio", "goodput_bps", "mean_bitrate_bps", "p95_delay_ms",
                  "retransmissions", "congestion_messages", "packets_lost")
COLUMNS = (*KEY_COLUMNS, *METRIC_COLUMNS, "link_share")
PLOT_KINDS = ("bitrate", "link-share", "delay", "frames", "estimator")
CAPACITY_COLOR = "black"
DEADLINE_COLOR = "#c51b7d"
DOWN_COLOR = "#fbb4ae"
MISSING = "–"


@dataclass(frozen=True)
class ReportFiles:
    """What write_report wrote: the two table files and every PNG (per scenario, then the overview)."""

    csv: Path
    markdown: Path
    plots: list[Path] = field(default_factory=list)


# -- table ---------------------------------------------------------------------------------------

def comparison_table(runs: Iterable[StoredRun]) -> pd.DataFrame:
    """One row per run, ordered by scenario, backend, scheduler (registry order) and seed.

    Metric values are copied unchanged from metrics.json; `link_share` is text such as
    "lte-a 84%/83%, lte-b 16%/17%" (share of bytes sent / share of capacity, per link).
    """
    rows = [_table_row(run) for run in sorted(runs, key=_run_order)]
    return pd.DataFrame(rows, columns=list(COLUMNS))


def _table_row(run: StoredRun) -> dict[str, Any]:
    row: dict[str, Any] = {"scenario": run.scenario, "backend": run.backend, "scheduler": run.scheduler,
                           "seed": run.seed}
    row.update({key: run.metrics.get(key) for key in METRIC_COLUMNS})
    row["link_share"] = link_share_text(run.metrics.get("links") or {})
    return row


def link_share_text(links: dict[str, dict[str, Any]]) -> str:
    return ", ".join(f"{name} {_percent(e.get('share'), 0)}/{_percent(e.get('capacity_share'), 0)}"
                     for name, e in links.items())


def _run_order(run: StoredRun) -> tuple[Any, ...]:
    return (run.scenario, run.backend != "sim", run.backend, _scheduler_rank(run.scheduler), run.scheduler,
            run.seed)


def _scheduler_rank(name: str) -> int:
    names = list(SCHEDULERS)
    return names.index(name) if name in names else len(names)


# -- markdown ------------------------------------------------------------------------------------

_NUMBER = re.compile(r"^[-+]?(\d[\d,]*)?(\.\d+)?(e[-+]?\d+)?\s*%?$|^" + MISSING + "$", re.IGNORECASE)


def markdown_table(df: pd.DataFrame) -> str:
    """GitHub Markdown table padded to column width, so it also reads well in a terminal.

    Cells are str() of the values (format them first); columns whose cells all look numeric
    are right-aligned; NaN and None become empty cells.
    """
    header = [_md_cell(c) for c in df.columns]
    body = [[_md_cell(v) for v in row] for row in df.itertuples(index=False, name=None)]
    columns = list(zip(header, *body, strict=True)) if header else []
    widths = [max(3, *(len(cell) for cell in col)) for col in columns]
    right = [bool(body) and all(_NUMBER.match(row[i]) or not row[i] for row in body)
             for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        padded = [c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right, strict=True)]
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join("-" * (w + 1) + ":" if r else "-" * (w + 2)
                          for w, r in zip(widths, right, strict=True)) + "|"
    return "\n".join([line(header), rule, *(line(row) for row in body)]) + "\n"


def _md_cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value).replace("|", "\\|").replace("\n", " ")


def _missing(fn: Callable[[Any], str]) -> Callable[[Any], str]:
    def wrapped(value: Any) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return MISSING
        return fn(value)
    return wrapped


def _percent(value: float | None, decimals: int = 1) -> str:
    return MISSING if value is None else f"{value * 100:.{decimals}f}%"


_MD_VIEW: dict[str, tuple[str, Callable[[Any], str]]] = {
    "scenario": ("scenario", str),
    "backend": ("backend", str),
    "scheduler": ("scheduler", str),
    "seed": ("seed", str),
    "on_time_ratio": ("on time", _missing(_percent)),
    "decodable_ratio": ("decodable", _missing(_percent)),
    "goodput_bps": ("goodput (Mbps)", _missing(lambda v: f"{v / 1e6:.2f}")),
    "mean_bitrate_bps": ("bitrate (Mbps)", _missing(lambda v: f"{v / 1e6:.2f}")),
    "p95_delay_ms": ("p95 delay (ms)", _missing(lambda v: f"{v:.0f}")),
    "retransmissions": ("retx", _missing(lambda v: f"{int(v)}")),
    "congestion_messages": ("cong. msgs", _missing(lambda v: f"{int(v)}")),
    "packets_lost": ("lost pkts", _missing(lambda v: f"{int(v)}")),
    "link_share": ("link share (bytes/capacity)", str),
}


def _markdown_view(table: pd.DataFrame) -> pd.DataFrame:
    """The comparison table with units a reader wants: percentages, Mbps, whole milliseconds."""
    return pd.DataFrame({_MD_VIEW[c][0]: [_MD_VIEW[c][1](v) for v in table[c]] for c in table.columns})


def _markdown_report(table: pd.DataFrame, sections: dict[str, list[Path]], overview: Path) -> str:
    n_scenarios = table["scenario"].nunique()
    parts = [
        "# bondlab comparison\n",
        f"{len(table)} runs in {n_scenarios} scenario(s). *On time* and *decodable* are shares of frames; "
        "*link share* is the share of bytes sent on each link / that link's share of the bonded capacity.\n",
        markdown_table(_markdown_view(table)),
        f"![On-time ratio per scenario]({overview.name})\n",
    ]
    for scenario, plots in sections.items():
        parts.append(f"## {scenario}\n")
        parts.extend(f"![{scenario} {p.stem.removeprefix(_slug(scenario) + '-')}]({p.name})\n" for p in plots)
    return "\n".join(parts)


# -- grouping ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Series:
    """Every seed of one (backend, scheduler) in one scenario: drawn in one colour."""

    backend: str
    scheduler: str
    runs: tuple[StoredRun, ...]
    label: str
    color: str

    @property
    def first(self) -> StoredRun:
        """The run that time-series plots show (lowest seed)."""
        return self.runs[0]

    @property
    def linestyle(self) -> str:
        return "-" if self.backend == "sim" else "--"

    @property
    def hatch(self) -> str | None:
        return None if self.backend == "sim" else "//"

    def seed_note(self) -> str:
        extra = f" of {len(self.runs)} seeds" if len(self.runs) > 1 else ""
        return f"seed {self.first.seed}{extra}"


def _series(runs: Sequence[StoredRun]) -> list[_Series]:
    groups: dict[tuple[str, str], list[StoredRun]] = {}
    for run in sorted(runs, key=_run_order):
        groups.setdefault((run.backend, run.scheduler), []).append(run)
    several_backends = len({backend for backend, _ in groups}) > 1
    unknown = 0
    out = []
    for (backend, scheduler), members in groups.items():
        info = SCHEDULERS.get(scheduler)
        if info is None:
            color, unknown = f"C{unknown % 10}", unknown + 1
        else:
            color = info.color
        label = info.display if info is not None else scheduler
        if several_backends:
            label = f"{label} ({backend})"
        out.append(_Series(backend, scheduler, tuple(members), label, color))
    return out


def _by_scenario(runs: Sequence[StoredRun]) -> dict[str, list[StoredRun]]:
    groups: dict[str, list[StoredRun]] = {}
    for run in sorted(runs, key=_run_order):
        groups.setdefault(run.scenario, []).append(run)
    return groups


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "scenario"


# -- reading -------------------------------------------------------------------------------------

def load_delays(run: StoredRun) -> np.ndarray | None:
    """Per-packet end-to-end delays (ms) if the runner stored them, else None."""
    path = run.path / DELAYS_FILE
    if not path.exists():
        return None
    delays = np.asarray(np.load(path), dtype=float).ravel()
    return delays[np.isfinite(delays)]


def _timeseries(run: StoredRun) -> pd.DataFrame | None:
    try:
        ts = run.timeseries()
    except (OSError, ValueError):
        return None
    return ts if len(ts) and {"t", "link"} <= set(ts.columns) else None


def _latencies(runs: Iterable[StoredRun]) -> list[float]:
    values = {run.meta.get("scenario", {}).get("receiver", {}).get("latency_ms") for run in runs}
    return sorted(float(v) for v in values if v is not None)


def _mean_spread(values: Sequence[float]) -> tuple[float, tuple[float, float]]:
    """Mean and (below, above) distance to min and max, for error bars over seeds."""
    arr = np.asarray(values, dtype=float)
    mean = float(arr.mean())
    return mean, (mean - float(arr.min()), float(arr.max()) - mean)


# -- figure helpers ------------------------------------------------------------------------------

def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: Path) -> Path:
    fig.savefig(path, dpi=DPI)
    fig.clear()
    return path


def _legend(fig: Figure, handles: Sequence[Any], ncols: int | None = None) -> None:
    """One legend for the whole figure, below the axes (clear of titles and data)."""
    fig.legend(handles=list(handles), loc="outside lower center", ncols=ncols or min(len(handles), 4),
               frameon=False, fontsize="small")


def _percent_axis(ax: Axes) -> None:
    ax.set_ylim(0, 112)
    ax.set_yticks(range(0, 101, 20))
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)


def _bar_labels(ax: Axes, bars: Any, values: Sequence[float], decimals: int) -> None:
    ax.bar_label(bars, labels=[f"{v:.{decimals}f}%" for v in values], padding=2, fontsize=7)


_BarItem = tuple[str, str, str | None, list[list[float]]]


def _grouped_bars(ax: Axes, n_groups: int, items: Sequence[_BarItem], decimals: int) -> bool:
    """items: (label, colour, hatch, per-group values over seeds), side by side; mean bars, min-max
    whiskers. Returns whether any whisker was drawn (some group had several seeds)."""
    several = any(len(v) > 1 for *_, groups in items for v in groups)
    width = 0.8 / max(len(items), 1)
    x = np.arange(n_groups)
    for i, (label, color, hatch, groups) in enumerate(items):
        stats = [_mean_spread(v) if v else (math.nan, (0.0, 0.0)) for v in groups]
        means = [m for m, _ in stats]
        err = np.array([s for _, s in stats]).T if several else None
        bars = ax.bar(x + (i - (len(items) - 1) / 2) * width, means, width * 0.92, color=color, hatch=hatch,
                      edgecolor="white" if hatch is None else "0.2", linewidth=0.5, label=label, yerr=err,
                      error_kw={"elinewidth": 1.0, "capsize": 0, "ecolor": "0.2"})
        _bar_labels(ax, bars, means, decimals)
    return several


def _seeds_note(title: str, several: bool) -> str:
    return f"{title}\n(mean over seeds, whiskers min to max)" if several else title


# -- per-scenario plots --------------------------------------------------------------------------

def _totals(ts: pd.DataFrame) -> pd.DataFrame:
    """Per stats interval: usable true capacity (down links count 0), estimated capacity, encoder bitrate."""
    frame = pd.DataFrame({"t": ts["t"]})
    up = ts["up"].astype(bool) if "up" in ts else True
    for column in ("capacity_bps", "est_capacity_bps", "sent_bps"):
        if column in ts:
            frame[column] = ts[column].where(up, 0.0) if column == "capacity_bps" else ts[column]
    if "bitrate_bps" in ts:
        frame["bitrate_bps"] = ts["bitrate_bps"]
    agg = {c: ("first" if c == "bitrate_bps" else "sum") for c in frame.columns if c != "t"}
    return frame.groupby("t", sort=True).agg(agg)


def _plot_bitrate(scenario: str, series: Sequence[_Series], ts: dict[str, pd.DataFrame]) -> Figure | None:
    shown = [s for s in series if s.label in ts]
    if not shown:
        return None
    fig = _figure(10, 1.2 + 2.4 * len(shown))
    axes = fig.subplots(len(shown), 1, sharex=True, sharey=True, squeeze=False)[:, 0]
    for ax, s in zip(axes, shown, strict=True):
        tot = _totals(ts[s.label])
        if "capacity_bps" in tot:
            ax.plot(tot.index, tot["capacity_bps"] / 1e6, color=CAPACITY_COLOR, lw=1.0)
        if "est_capacity_bps" in tot:
            ax.plot(tot.index, tot["est_capacity_bps"] / 1e6, color="0.5", ls="--", lw=1.0)
        if "bitrate_bps" in tot:
            ax.plot(tot.index, tot["bitrate_bps"] / 1e6, color=s.color, lw=2.0, ls=s.linestyle)
        ax.set_title(f"{s.label} ({s.seed_note()})", loc="left", fontsize="medium")
        ax.set_ylabel("rate (Mbps)")
        ax.grid(alpha=0.3)
    _zero_based(axes)
    axes[-1].set_xlabel("time (s)")
    fig.suptitle(f"{scenario}: encoder bitrate vs bonded capacity")
    bitrates = [Line2D([], [], color=s.color, lw=2, ls=s.linestyle, label=f"encoder bitrate, {s.label}")
                for s in shown]
    _legend(fig, [Line2D([], [], color=CAPACITY_COLOR, lw=1.0, label="true capacity (sum of up links)"),
                  Line2D([], [], color="0.5", ls="--", label="estimated capacity (sum)"), *bitrates])
    return fig


def _zero_based(axes: Iterable[Axes]) -> None:
    """Start y at 0 once every panel is drawn (earlier, set_ylim would freeze shared autoscaling)."""
    for ax in axes:
        ax.set_ylim(bottom=0)


def _link_names(runs: Iterable[StoredRun]) -> list[str]:
    names: dict[str, None] = {}
    for run in runs:
        names.update(dict.fromkeys(run.metrics.get("links") or {}))
    return list(names)


def _link_values(runs: Sequence[StoredRun], links: Sequence[str], key: str) -> list[list[float]]:
    return [[100 * float(run.metrics["links"][name][key]) for run in runs
             if run.metrics.get("links", {}).get(name, {}).get(key) is not None] for name in links]


def _plot_link_share(scenario: str, series: Sequence[_Series]) -> Figure | None:
    runs = [run for s in series for run in s.runs]
    links = _link_names(runs)
    if not links:
        return None
    items = []
    # One capacity bar per link, not per run: it is a property of the scenario, not of a seed.
    capacity = [[float(np.mean(v))] if v else [] for v in _link_values(runs, links, "capacity_share")]
    if any(capacity):
        items.append(("capacity share", "0.8", None, capacity))
    items.extend((f"bytes sent, {s.label}", s.color, s.hatch, _link_values(s.runs, links, "share"))
                 for s in series)
    fig = _figure(max(6.0, 1.5 + 0.55 * len(links) * len(items)), 4.2)
    ax = fig.subplots()
    several = _grouped_bars(ax, len(links), items, decimals=0)
    ax.set_xticks(range(len(links)), links)
    ax.set_xlabel("link")
    ax.set_ylabel("share of bonded total (%)")
    _percent_axis(ax)
    ax.set_title(_seeds_note(f"{scenario}: per-link byte share vs capacity share", several))
    _legend(fig, ax.get_legend_handles_labels()[0], ncols=min(len(items), 3))
    return fig


def _ecdf(delays: np.ndarray, points: int = 1500) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(delay, fraction <= delay, fraction >= delay), thinned to about 2*points samples with
    the tail kept at full resolution for log plots."""
    x = np.sort(delays)
    n = len(x)
    head = np.linspace(0, n - 1, points)
    tail = n - np.geomspace(1, n, points)
    idx = np.unique(np.concatenate([head, tail]).round().astype(int).clip(0, n - 1))
    return x[idx], (idx + 1) / n, (n - idx) / n


_PERCENTILES = ((50, "p50_delay_ms"), (95, "p95_delay_ms"), (99, "p99_delay_ms"))


def _delay_curves(ax_cdf: Axes, ax_tail: Axes, s: _Series) -> list[Any]:
    handles = []
    loaded = [(run, load_delays(run)) for run in s.runs]
    delays = [d for _, d in loaded if d is not None and len(d)]
    if delays:
        x, below, above = _ecdf(np.concatenate(delays))
        ax_cdf.step(x, below, where="post", color=s.color, ls=s.linestyle, lw=1.6)
        ax_tail.step(x, above, where="post", color=s.color, ls=s.linestyle, lw=1.6)
        note = f"{len(delays)} seeds" if len(delays) > 1 else f"seed {s.first.seed}"
        handles.append(Line2D([], [], color=s.color, ls=s.linestyle, lw=1.6, label=f"{s.label} ({note})"))
    stored_only = [run for run, d in loaded if d is None]
    for i, run in enumerate(stored_only):
        pts = [(run.metrics.get(key), q / 100) for q, key in _PERCENTILES if run.metrics.get(key) is not None]
        if not pts:
            continue
        xs, qs = zip(*pts, strict=True)
        style = {"color": s.color, "marker": "D", "ls": "none", "ms": 6}
        ax_cdf.plot(xs, qs, **style)
        ax_tail.plot(xs, [1 - q for q in qs], **style)
        if i == 0:
            handles.append(Line2D([], [], label=f"{s.label}: p50/p95/p99 (no {DELAYS_FILE})", **style))
    return handles


def _log_ms_axis(ax: Axes) -> None:
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("end-to-end packet delay (ms, log scale)")
    ax.grid(alpha=0.3, which="both", lw=0.5)


def _plot_delay(scenario: str, series: Sequence[_Series]) -> Figure | None:
    fig = _figure(11, 4.4)
    ax_cdf, ax_tail = fig.subplots(1, 2)
    handles = [h for s in series for h in _delay_curves(ax_cdf, ax_tail, s)]
    if not handles:
        fig.clear()
        return None
    for latency in _latencies(run for s in series for run in s.runs):
        for ax in (ax_cdf, ax_tail):
            ax.axvline(latency, color=DEADLINE_COLOR, ls="--", lw=1.2)
        handles.append(Line2D([], [], color=DEADLINE_COLOR, ls="--",
                              label=f"playout deadline {latency:g} ms"))
    for ax in (ax_cdf, ax_tail):
        _log_ms_axis(ax)
    ax_cdf.set_ylim(0, 1.01)
    ax_cdf.set_ylabel("fraction of delivered packets ≤ delay")
    ax_cdf.set_title("CDF", loc="left", fontsize="medium")
    ax_tail.set_yscale("log")
    ax_tail.set_ylim(top=1.3)
    ax_tail.set_ylabel("fraction of delivered packets ≥ delay")
    ax_tail.set_title("tail (complementary CDF)", loc="left", fontsize="medium")
    fig.suptitle(f"{scenario}: packet delay per scheduler")
    _legend(fig, handles, ncols=min(len(handles), 3))
    return fig


def _metric_percent(runs: Iterable[StoredRun], key: str) -> list[float]:
    return [100 * float(r.metrics[key]) for r in runs if r.metrics.get(key) is not None]


def _plot_frames(scenario: str, series: Sequence[_Series]) -> Figure | None:
    keys = (("on_time_ratio", "on time"), ("decodable_ratio", "decodable"))
    items = [(s.label, s.color, s.hatch, [_metric_percent(s.runs, k) for k, _ in keys]) for s in series]
    if not any(v for *_, groups in items for v in groups):
        return None
    fig = _figure(max(5.5, 2.0 + 1.0 * len(items) * len(keys)), 4.2)
    ax = fig.subplots()
    several = _grouped_bars(ax, len(keys), items, decimals=1)
    ax.set_xticks(range(len(keys)), [label for _, label in keys])
    ax.set_ylabel("frames (% of all frames)")
    _percent_axis(ax)
    ax.set_title(_seeds_note(f"{scenario}: frames on time and decodable", several))
    _legend(fig, ax.get_legend_handles_labels()[0])
    return fig


def _down_spans(t: np.ndarray, up: np.ndarray, step: float) -> list[tuple[float, float]]:
    spans, start = [], None
    for ti, ok in zip(t, up, strict=True):
        if not ok and start is None:
            start = ti - step
        elif ok and start is not None:
            spans.append((start, ti - step))
            start = None
    if start is not None:
        spans.append((start, float(t[-1])))
    return spans


def _estimator_panel(ax: Axes, link_ts: pd.DataFrame, s: _Series) -> bool:
    """Draw one link of one run; returns whether the link was down at some point."""
    t = link_ts["t"].to_numpy()
    spans = []
    if "up" in link_ts and len(t) > 1:
        spans = _down_spans(t, link_ts["up"].astype(bool).to_numpy(), float(np.median(np.diff(t))))
    for a, b in spans:
        ax.axvspan(a, b, color=DOWN_COLOR, alpha=0.6, lw=0)
    if "sent_bps" in link_ts:
        ax.fill_between(t, link_ts["sent_bps"] / 1e6, color=s.color, alpha=0.25, lw=0, step="pre")
    if "capacity_bps" in link_ts:
        ax.plot(t, link_ts["capacity_bps"] / 1e6, color=CAPACITY_COLOR, lw=0.9, drawstyle="steps-pre")
    if "est_capacity_bps" in link_ts:
        ax.plot(t, link_ts["est_capacity_bps"] / 1e6, color=s.color, lw=1.6, ls=s.linestyle)
    ax.grid(alpha=0.3)
    return bool(spans)


def _plot_estimator(scenario: str, series: Sequence[_Series], ts: dict[str, pd.DataFrame]) -> Figure | None:
    shown = [s for s in series if s.label in ts]
    if not shown:
        return None
    links = list(dict.fromkeys(name for s in shown for name in ts[s.label]["link"]))
    fig = _figure(min(1.0 + 4.2 * len(links), 24.0), 1.3 + 2.3 * len(shown))
    axes = fig.subplots(len(shown), len(links), sharex=True, sharey="col", squeeze=False)
    any_down = False
    for row, s in enumerate(shown):
        frame = ts[s.label]
        for col, link in enumerate(links):
            ax = axes[row, col]
            any_down |= _estimator_panel(ax, frame[frame["link"] == link], s)
            ax.set_title(f"{link} · {s.label}", loc="left", fontsize="medium")
            if col == 0:
                ax.set_ylabel("rate (Mbps)")
            if row == len(shown) - 1:
                ax.set_xlabel("time (s)")
    _zero_based(axes.ravel())
    notes = sorted({s.seed_note() for s in shown})
    fig.suptitle(f"{scenario}: per-link capacity, estimate and sent rate ({', '.join(notes)})")
    handles = [Line2D([], [], color=CAPACITY_COLOR, lw=0.9, label="true capacity"),
               Line2D([], [], color="0.35", lw=1.6, label="estimated capacity (scheduler colour)"),
               Patch(color="0.35", alpha=0.3, lw=0, label="sent rate (scheduler colour)")]
    if any_down:
        handles.append(Patch(color=DOWN_COLOR, alpha=0.6, lw=0, label="link down"))
    _legend(fig, handles)
    return fig


def _scenario_plots(scenario: str, runs: Sequence[StoredRun], out_dir: Path) -> list[Path]:
    series = _series(runs)
    ts = {s.label: frame for s in series if (frame := _timeseries(s.first)) is not None}
    figures = {
        "bitrate": _plot_bitrate(scenario, series, ts),
        "link-share": _plot_link_share(scenario, series),
        "delay": _plot_delay(scenario, series),
        "frames": _plot_frames(scenario, series),
        "estimator": _plot_estimator(scenario, series, ts),
    }
    stem = _slug(scenario)
    return [_save(fig, out_dir / f"{stem}-{kind}.png") for kind, fig in figures.items() if fig is not None]


# -- across scenarios ----------------------------------------------------------------------------

def plot_overview(runs: Sequence[StoredRun]) -> Figure:
    """On-time ratio per scenario, one bar per scheduler (mean over seeds, whiskers min to max)."""
    scenarios = list(_by_scenario(runs))
    series = _series(runs)  # across all scenarios: one colour per (backend, scheduler)
    items = [(s.label, s.color, s.hatch,
              [_metric_percent((r for r in s.runs if r.scenario == sc), "on_time_ratio") for sc in scenarios])
             for s in series]
    fig = _figure(max(6.0, 1.5 + len(scenarios) * (0.7 * len(series) + 0.5)), 4.6)
    ax = fig.subplots()
    several = _grouped_bars(ax, len(scenarios), items, decimals=1)
    long_names = len(scenarios) > 4 or max(len(sc) for sc in scenarios) > 18
    ax.set_xticks(range(len(scenarios)), scenarios, rotation=25 if long_names else 0,
                  ha="right" if long_names else "center")
    ax.set_xlabel("scenario")
    ax.set_ylabel("frames on time (%)")
    _percent_axis(ax)
    ax.set_title(_seeds_note("On-time ratio per scenario and scheduler", several))
    _legend(fig, ax.get_legend_handles_labels()[0])
    return fig


def write_report(runs: list[StoredRun], out_dir: Path) -> ReportFiles:
    """Write comparison.csv, comparison.md and the PNG plots for `runs` into `out_dir`."""
    if not runs:
        raise ValueError("no runs to report (no metrics.json under the results directory?)")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    table = comparison_table(runs)
    csv_path = out_dir / "comparison.csv"
    table.to_csv(csv_path, index=False)
    sections = {scenario: _scenario_plots(scenario, members, out_dir)
                for scenario, members in _by_scenario(runs).items()}
    overview = _save(plot_overview(runs), out_dir / "overview-on-time.png")
    md_path = out_dir / "comparison.md"
    md_path.write_text(_markdown_report(table, sections, overview))
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


if __name__ == "__main__":
    raise SystemExit(main())
