"""Figures of one (sim run, real run) pair for the calibration report (bondlab.real.calibration_report):
encoder vs counted capacity and per-link estimates (the comparison report's plots, one row per
backend), and per-link byte shares against the share bound."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from bondlab.report.data import Series, read_timeseries, slug
from bondlab.report.figures import grouped_bars, legend_below, new_figure, percent_axis, save
from bondlab.report.rates import plot_bitrate, plot_links
from bondlab.results import StoredRun
from bondlab.schedulers import SCHEDULERS

Pair = tuple[StoredRun, StoredRun]
PLOT_KINDS = ("bitrate", "link-share", "estimator")


def display_name(scheduler: str) -> str:
    info = SCHEDULERS.get(scheduler)
    return info.display if info is not None else scheduler


def _pair_series(pair: Pair) -> list[Series]:
    info = SCHEDULERS.get(pair[0].scheduler)
    color = info.color if info is not None else "C0"
    return [
        Series(run.backend, run.scheduler, (run,), f"{display_name(run.scheduler)}, {run.backend}", color)
        for run in pair
    ]


def _plot_link_share(pair: Pair, title: str, bound_pp: float) -> Figure:
    sim = pair[0]
    links = list(sim.metrics["links"])

    def shares(run: StoredRun, key: str) -> list[list[float]]:
        values = [run.metrics["links"][n].get(key) for n in links]
        return [[100 * float(v)] if v is not None else [] for v in values]

    items = [("capacity share", "0.8", None, shares(sim, "capacity_share"))]
    items += [
        (f"bytes sent, {s.backend}", s.color, s.hatch, shares(s.first, "share")) for s in _pair_series(pair)
    ]
    fig = new_figure(max(6.0, 1.5 + 1.6 * len(links)), 4.4)
    ax = fig.subplots()
    grouped_bars(ax, len(links), items, decimals=1)
    labels = []
    for n in links:
        diff = 100 * abs(
            float(pair[1].metrics["links"][n]["share"]) - float(sim.metrics["links"][n]["share"])
        )
        labels.append(f"{n}\n|real − sim| = {diff:.1f} pp {'≤' if diff <= bound_pp else '>'} {bound_pp:g} pp")
    ax.set_xticks(range(len(links)), labels)
    ax.set_xlabel("link")
    ax.set_ylabel("share of bonded total (%)")
    percent_axis(ax)
    ax.set_title(f"{title}: per-link share, sim vs real vs capacity")
    legend_below(fig, ax.get_legend_handles_labels()[0], ncols=3)
    return fig


def pair_plots(pair: Pair, out_dir: Path, share_bound_pp: float) -> list[Path]:
    """Draw and save the PLOT_KINDS figures of one pair; returns the PNG paths."""
    sim, real = pair
    series = _pair_series(pair)
    ts = {s.label: frame for s in series if (frame := read_timeseries(s.first)) is not None}
    title = f"{sim.scenario} · {display_name(sim.scheduler)}"
    figures = {
        "bitrate": plot_bitrate(title, series, ts),
        "link-share": _plot_link_share(pair, title, share_bound_pp),
        "estimator": plot_links(title, series, ts),
    }
    stem = f"{slug(sim.scenario)}-{slug(sim.scheduler)}-sim{sim.seed}-real{real.seed}"
    return [save(fig, out_dir / f"{stem}-{kind}.png") for kind, fig in figures.items() if fig is not None]
