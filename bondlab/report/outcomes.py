"""Plots of what each run achieved (from metrics.json and delays_ms.npy): frames, link shares,
packet delay, and decodable frames across scenarios."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from bondlab.report.data import DELAYS_FILE, Series, by_scenario, latencies, load_delays, series_of
from bondlab.report.figures import (
    DEADLINE_COLOR,
    grouped_bars,
    legend_below,
    line,
    log_x_ticks,
    new_figure,
    percent_axis,
    seeds_note,
)
from bondlab.results import StoredRun


def metric_percent(runs: Iterable[StoredRun], key: str) -> list[float]:
    return [100 * float(r.metrics[key]) for r in runs if r.metrics.get(key) is not None]


def link_names(runs: Iterable[StoredRun]) -> list[str]:
    names: dict[str, None] = {}
    for run in runs:
        names.update(dict.fromkeys(run.metrics.get("links") or {}))
    return list(names)


def link_values(runs: Sequence[StoredRun], links: Sequence[str], key: str) -> list[list[float]]:
    return [
        [
            100 * float(run.metrics["links"][name][key])
            for run in runs
            if run.metrics.get("links", {}).get(name, {}).get(key) is not None
        ]
        for name in links
    ]


def plot_frames(scenario: str, series: Sequence[Series]) -> Figure | None:
    keys = (("decodable_ratio", "decodable"), ("on_time_ratio", "on time"))
    items = [(s.label, s.color, s.hatch, [metric_percent(s.runs, k) for k, _ in keys]) for s in series]
    if not any(v for *_, groups in items for v in groups):
        return None
    fig = new_figure(max(5.5, 2.0 + 1.0 * len(items) * len(keys)), 4.2)
    ax = fig.subplots()
    several = grouped_bars(ax, len(keys), items, decimals=1)
    ax.set_xticks(range(len(keys)), [label for _, label in keys])
    ax.set_ylabel("frames (% of all frames)")
    percent_axis(ax)
    ax.set_title(seeds_note(f"{scenario}: frames decodable and on time", several))
    legend_below(fig, ax.get_legend_handles_labels()[0])
    return fig


def plot_link_share(scenario: str, series: Sequence[Series]) -> Figure | None:
    runs = [run for s in series for run in s.runs]
    links = link_names(runs)
    if not links:
        return None
    items = []
    # One capacity bar per link, not per run: it is a property of the scenario, not of a seed.
    capacity = [[float(np.mean(v))] if v else [] for v in link_values(runs, links, "capacity_share")]
    if any(capacity):
        items.append(("capacity share", "0.8", None, capacity))
    items.extend(
        (f"bytes sent, {s.label}", s.color, s.hatch, link_values(s.runs, links, "share")) for s in series
    )
    fig = new_figure(max(6.0, 1.5 + 0.55 * len(links) * len(items)), 4.2)
    ax = fig.subplots()
    several = grouped_bars(ax, len(links), items, decimals=0)
    ax.set_xticks(range(len(links)), links)
    ax.set_xlabel("link")
    ax.set_ylabel("share of bonded total (%)")
    percent_axis(ax)
    ax.set_title(seeds_note(f"{scenario}: per-link byte share vs capacity share", several))
    legend_below(fig, ax.get_legend_handles_labels()[0], ncols=min(len(items), 3))
    return fig


def ecdf(delays: np.ndarray, points: int = 1500) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(delay, fraction <= delay, fraction >= delay), thinned to about 2*points samples with
    the tail kept at full resolution for log plots."""
    x = np.sort(delays)
    n = len(x)
    head = np.linspace(0, n - 1, points)
    tail = n - np.geomspace(1, n, points)
    idx = np.unique(np.concatenate([head, tail]).round().astype(int).clip(0, n - 1))
    return x[idx], (idx + 1) / n, (n - idx) / n


_PERCENTILES = ((50, "p50_delay_ms"), (95, "p95_delay_ms"), (99, "p99_delay_ms"))


def _delay_curves(ax_cdf: Axes, ax_tail: Axes, s: Series) -> list[Any]:
    handles = []
    loaded = [(run, load_delays(run)) for run in s.runs]
    delays = [d for _, d in loaded if d is not None and len(d)]
    if delays:
        x, below, above = ecdf(np.concatenate(delays))
        ax_cdf.step(x, below, where="post", color=s.color, ls=s.linestyle, lw=1.6)
        ax_tail.step(x, above, where="post", color=s.color, ls=s.linestyle, lw=1.6)
        note = f"{len(delays)} seeds" if len(delays) > 1 else f"seed {s.first.seed}"
        handles.append(line(f"{s.label} ({note})", color=s.color, ls=s.linestyle, lw=1.6))
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
            handles.append(line(f"{s.label}: p50/p95/p99 (no {DELAYS_FILE})", **style))
    return handles


def _log_ms_axis(ax: Axes) -> None:
    log_x_ticks(ax)
    ax.set_xlabel("end-to-end packet delay (ms, log scale)")
    ax.grid(alpha=0.3, which="both", lw=0.5)


def plot_delay(scenario: str, series: Sequence[Series]) -> Figure | None:
    fig = new_figure(11, 4.4)
    ax_cdf, ax_tail = fig.subplots(1, 2)
    handles = [h for s in series for h in _delay_curves(ax_cdf, ax_tail, s)]
    if not handles:
        fig.clear()
        return None
    for latency in latencies(run for s in series for run in s.runs):
        for ax in (ax_cdf, ax_tail):
            ax.axvline(latency, color=DEADLINE_COLOR, ls="--", lw=1.2)
        handles.append(line(f"playout deadline {latency:g} ms", color=DEADLINE_COLOR, ls="--"))
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
    legend_below(fig, handles, ncols=min(len(handles), 3))
    return fig


def plot_overview(runs: Sequence[StoredRun]) -> Figure:
    """Decodable frames per scenario, one bar per scheduler (mean over seeds, whiskers its 95 % interval)."""
    scenarios = list(by_scenario(runs))
    series = series_of(runs)  # across all scenarios: one colour per (backend, scheduler)
    items = [
        (
            s.label,
            s.color,
            s.hatch,
            [metric_percent((r for r in s.runs if r.scenario == sc), "decodable_ratio") for sc in scenarios],
        )
        for s in series
    ]
    fig = new_figure(max(6.0, 1.5 + len(scenarios) * (0.7 * len(series) + 0.5)), 4.6)
    ax = fig.subplots()
    several = grouped_bars(ax, len(scenarios), items, decimals=1)
    long_names = len(scenarios) > 4 or max(len(sc) for sc in scenarios) > 18
    ax.set_xticks(
        range(len(scenarios)),
        scenarios,
        rotation=25 if long_names else 0,
        ha="right" if long_names else "center",
    )
    ax.set_xlabel("scenario")
    ax.set_ylabel("frames decodable (%)")
    percent_axis(ax)
    ax.set_title(seeds_note("Decodable frames per scenario and scheduler", several))
    legend_below(fig, ax.get_legend_handles_labels()[0])
    return fig
