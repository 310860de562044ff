"""Figure helpers shared by the comparison report and the calibration report.

Figures use matplotlib's object API on an Agg canvas, so nothing is registered with pyplot and
each figure is cleared as soon as its file is written (no leaks over many scenarios).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from bondlab.report.data import controller_up, down_spans, truly_up
from bondlab.report.stats import mean_ci

DPI = 150
CAPACITY_COLOR = "black"  # truth
COUNTED_COLOR = "#2166ac"  # what the rate controller counted (blue: no scheduler uses it)
DELIVERED_COLOR = "0.45"
HEALTH_COLOR = "#4d4d4d"
DEADLINE_COLOR = "#c51b7d"
DOWN_COLOR = "#fbb4ae"  # the link really was down
BELIEVED_DOWN_COLOR = "0.55"  # the controller believed it down (hatched)

_BarItem = tuple[str, str, str | None, list[list[float]]]


def new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save(fig: Figure, path: Path) -> Path:
    fig.savefig(path, dpi=DPI)
    fig.clear()
    return path


def legend_below(fig: Figure, handles: Sequence[Any], ncols: int | None = None) -> None:
    """One legend for the whole figure, below the axes (clear of titles and data)."""
    fig.legend(
        handles=list(handles),
        loc="outside lower center",
        ncols=ncols or min(len(handles), 4),
        frameon=False,
        fontsize="small",
    )


def log_x_ticks(ax: Axes) -> None:
    """A log x axis labelled 1-2-5 per decade in plain numbers: a range within one decade
    (40-300 ms) still gets several labels, not one `10^2`."""
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def percent_axis(ax: Axes) -> None:
    ax.set_ylim(0, 112)
    ax.set_yticks(range(0, 101, 20))
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)


def zero_based(axes: Iterable[Axes]) -> None:
    """Start y at 0 once every panel is drawn (earlier, set_ylim would freeze shared autoscaling)."""
    for ax in axes:
        ax.set_ylim(bottom=0)


def mean_interval(values: Sequence[float], top: float = 100.0) -> tuple[float, tuple[float, float]]:
    """Mean and its 95 % interval over seeds as (below, above) whisker lengths, clipped to
    [0, top] (the bars are percentages) and never negative (matplotlib refuses those); (0, 0)
    for a single value."""
    mean, half = mean_ci(values)
    if math.isnan(half):
        return mean, (0.0, 0.0)
    return mean, (max(0.0, min(half, mean)), max(0.0, min(half, top - mean)))


def grouped_bars(ax: Axes, n_groups: int, items: Sequence[_BarItem], decimals: int) -> bool:
    """items: (label, colour, hatch, per-group values over seeds, in percent), side by side; mean
    bars, whiskers the 95 % interval over seeds. Returns whether any whisker was drawn (some group
    had several seeds)."""
    several = any(len(v) > 1 for *_, groups in items for v in groups)
    width = 0.8 / max(len(items), 1)
    x = np.arange(n_groups)
    for i, (label, color, hatch, groups) in enumerate(items):
        stats = [mean_interval(v) if v else (math.nan, (0.0, 0.0)) for v in groups]
        means = [m for m, _ in stats]
        err = np.array([s for _, s in stats]).T if several else None
        bars = ax.bar(
            x + (i - (len(items) - 1) / 2) * width,
            means,
            width * 0.92,
            color=color,
            hatch=hatch,
            edgecolor="white" if hatch is None else "0.2",
            linewidth=0.5,
            label=label,
            yerr=err,
            error_kw={"elinewidth": 1.0, "capsize": 0, "ecolor": "0.2"},
        )
        ax.bar_label(
            bars, labels=["" if math.isnan(v) else f"{v:.{decimals}f}%" for v in means], padding=2, fontsize=7
        )
    return several


def seeds_note(title: str, several: bool) -> str:
    return f"{title}\n(mean over seeds, whiskers its 95 % interval)" if several else title


def shade_down(axes: Sequence[Axes], link_ts: pd.DataFrame) -> tuple[bool, bool]:
    """Shade, on every axis given, the intervals where the link really was down (pink) and where
    the controller believed it down (grey hatching). Returns (any truly down, any believed down)."""
    t = link_ts["t"].to_numpy()
    truth = down_spans(t, truly_up(link_ts).to_numpy()) if "up" in link_ts else []
    believed = down_spans(t, controller_up(link_ts).to_numpy())
    for ax in axes:
        for a, b in truth:
            ax.axvspan(a, b, color=DOWN_COLOR, alpha=0.7, lw=0, zorder=0)
        for a, b in believed:
            ax.axvspan(a, b, facecolor="none", edgecolor=BELIEVED_DOWN_COLOR, hatch="////", lw=0, zorder=0.5)
    return bool(truth), bool(believed)


def down_handles(truly: bool, believed: bool) -> list[Any]:
    handles: list[Any] = []
    if truly:
        handles.append(Patch(color=DOWN_COLOR, alpha=0.7, lw=0, label="link down (truth)"))
    if believed:
        handles.append(
            Patch(
                facecolor="none",
                edgecolor=BELIEVED_DOWN_COLOR,
                hatch="////",
                lw=0,
                label="controller believed link down",
            )
        )
    return handles


def line(label: str, **style: Any) -> Line2D:
    """A legend entry for a line drawn elsewhere."""
    return Line2D([], [], label=label, **style)
