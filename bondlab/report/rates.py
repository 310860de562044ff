"""Time-series plots of one scenario: the encoder against the capacity the controller counted, and
per link the estimate against the truth with the controller's health and up/down belief."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from bondlab.report.data import (
    BITRATE_LABEL,
    COUNTED_LABEL,
    TRUE_LABEL,
    Series,
    capacity_totals,
    link_frame,
    link_order,
)
from bondlab.report.figures import (
    CAPACITY_COLOR,
    COUNTED_COLOR,
    DELIVERED_COLOR,
    HEALTH_COLOR,
    down_handles,
    legend_below,
    line,
    new_figure,
    shade_down,
    zero_based,
)


def counted_note(ts: pd.DataFrame) -> str:
    """How the counted line was obtained, for the legend."""
    if "counted_capacity_bps" in ts:
        return f"{COUNTED_LABEL} (sum over links; 0 for a link it believed down)"
    return f"{COUNTED_LABEL} (sum of weight = estimate × health; this run predates counted_capacity_bps)"


def draw_totals(ax: Axes, ts: pd.DataFrame, color: str, linestyle: str = "-", truth: bool = True) -> None:
    """Draw capacity_totals(ts) on ax: true capacity (black), counted capacity (blue), encoder bitrate
    (colour). Values are per stats interval ending at t, hence steps-pre."""
    tot = capacity_totals(ts)
    if truth and "capacity_bps" in tot:
        ax.plot(tot.index, tot["capacity_bps"] / 1e6, color=CAPACITY_COLOR, lw=1.1, drawstyle="steps-pre")
    if "counted_bps" in tot:
        ax.plot(
            tot.index,
            tot["counted_bps"] / 1e6,
            color=COUNTED_COLOR,
            lw=1.3,
            ls=linestyle,
            drawstyle="steps-pre",
        )
    if "bitrate_bps" in tot:
        ax.plot(tot.index, tot["bitrate_bps"] / 1e6, color=color, lw=2.0, ls=linestyle, drawstyle="steps-pre")


def plot_bitrate(scenario: str, series: Sequence[Series], ts: dict[str, pd.DataFrame]) -> Figure | None:
    """One panel per (backend, scheduler): encoder bitrate, the capacity the rate controller counted
    and the true capacity, all summed over links, in Mbps."""
    shown = [s for s in series if s.label in ts]
    if not shown:
        return None
    fig = new_figure(10, 1.6 + 2.4 * len(shown))
    axes = fig.subplots(len(shown), 1, sharex=True, sharey=True, squeeze=False)[:, 0]
    for ax, s in zip(axes, shown, strict=True):
        draw_totals(ax, ts[s.label], s.color, s.linestyle)
        ax.set_title(f"{s.label} ({s.seed_note()})", loc="left", fontsize="medium")
        ax.set_ylabel("rate (Mbps)")
        ax.grid(alpha=0.3)
    zero_based(axes)
    axes[-1].set_xlabel("time (s)")
    fig.suptitle(f"{scenario}: encoder bitrate vs the capacity the rate controller counted")
    notes = list(dict.fromkeys(counted_note(ts[s.label]) for s in shown))
    handles = [line(f"{TRUE_LABEL} (sum over links that were up)", color=CAPACITY_COLOR, lw=1.1)]
    handles += [line(note, color=COUNTED_COLOR, lw=1.3) for note in notes]
    handles += [line(f"{BITRATE_LABEL}, {s.label}", color=s.color, lw=2, ls=s.linestyle) for s in shown]
    legend_below(fig, handles, ncols=1 if len(handles) <= 3 else 2)
    return fig


def _link_panel(ax: Axes, ax_health: Axes, link_ts: pd.DataFrame, s: Series) -> dict[str, bool]:
    """One link of one run: rates on ax, health on ax_health. Returns which optional parts were drawn."""
    t = link_ts["t"].to_numpy()
    truly, believed = shade_down([ax, ax_health], link_ts)
    drawn = {"truly_down": truly, "believed_down": believed}
    if "sent_bps" in link_ts:
        ax.fill_between(t, link_ts["sent_bps"] / 1e6, color=s.color, alpha=0.2, lw=0, step="pre")
        drawn["sent"] = True
    if "capacity_bps" in link_ts:
        ax.plot(t, link_ts["capacity_bps"] / 1e6, color=CAPACITY_COLOR, lw=1.0, drawstyle="steps-pre")
    if "delivered_bps" in link_ts and link_ts["delivered_bps"].notna().any():
        ax.plot(
            t, link_ts["delivered_bps"] / 1e6, color=DELIVERED_COLOR, lw=0.8, ls=":", drawstyle="steps-pre"
        )
        drawn["delivered"] = True
    if "est_capacity_bps" in link_ts:
        ax.plot(
            t, link_ts["est_capacity_bps"] / 1e6, color=s.color, lw=1.6, ls=s.linestyle, drawstyle="steps-pre"
        )
    if "counted_capacity_bps" in link_ts:
        ax.plot(
            t,
            link_ts["counted_capacity_bps"] / 1e6,
            color=COUNTED_COLOR,
            lw=1.0,
            ls="--",
            drawstyle="steps-pre",
        )
        drawn["counted"] = True
    ax.grid(alpha=0.3)
    if "health" in link_ts:
        health = link_ts["health"].to_numpy(dtype=float)
        ax_health.fill_between(t, np.nan_to_num(health), color=HEALTH_COLOR, alpha=0.12, lw=0, step="pre")
        ax_health.plot(t, health, color=HEALTH_COLOR, lw=0.9, drawstyle="steps-pre")
        drawn["health"] = True
    ax_health.set_ylim(0, 1.08)
    ax_health.set_yticks([0, 1])
    ax_health.grid(alpha=0.3)
    return drawn


def plot_links(scenario: str, series: Sequence[Series], ts: dict[str, pd.DataFrame]) -> Figure | None:
    """Rows: (backend, scheduler), each a rate panel over a health strip; columns: links."""
    shown = [s for s in series if s.label in ts]
    if not shown:
        return None
    links = list(dict.fromkeys(name for s in shown for name in link_order(ts[s.label])))
    fig = new_figure(min(1.0 + 4.6 * len(links), 24.0), 1.9 + 2.9 * len(shown))
    grid = fig.add_gridspec(2 * len(shown), len(links), height_ratios=[3.2, 1.0] * len(shown))
    drawn: dict[str, bool] = {}
    first: Axes | None = None
    columns: dict[int, Axes] = {}
    rate_axes: list[Axes] = []
    for row, s in enumerate(shown):
        frame = ts[s.label]
        for col, link in enumerate(links):
            ax = fig.add_subplot(grid[2 * row, col], sharex=first, sharey=columns.get(col))
            first = first or ax
            columns.setdefault(col, ax)
            ax_health = fig.add_subplot(grid[2 * row + 1, col], sharex=first)
            rate_axes.append(ax)
            for key, value in _link_panel(ax, ax_health, link_frame(frame, link), s).items():
                drawn[key] = drawn.get(key, False) or value
            ax.set_title(f"{link} · {s.label}", loc="left", fontsize="medium")
            ax.tick_params(labelbottom=False)
            if col == 0:
                ax.set_ylabel("rate (Mbps)")
                ax_health.set_ylabel("health")
            if row == len(shown) - 1:
                ax_health.set_xlabel("time (s)")
            else:
                ax_health.tick_params(labelbottom=False)
    zero_based(rate_axes)
    notes = sorted({s.seed_note() for s in shown})
    fig.suptitle(
        f"{scenario}: per link, estimated vs true capacity, health and the controller's "
        f"up/down belief ({', '.join(notes)})"
    )
    legend_below(fig, _link_handles(drawn, shown), ncols=3)
    return fig


def _link_handles(drawn: dict[str, bool], shown: Sequence[Series]) -> list[Any]:
    handles: list[Any] = [line(TRUE_LABEL, color=CAPACITY_COLOR, lw=1.0)]
    colour = shown[0].color if len(shown) == 1 else "0.35"
    suffix = "" if len(shown) == 1 else " (scheduler colour)"
    handles.append(line(f"estimated capacity{suffix}", color=colour, lw=1.6))
    if drawn.get("counted"):
        handles.append(line(COUNTED_LABEL, color=COUNTED_COLOR, lw=1.0, ls="--"))
    if drawn.get("delivered"):
        handles.append(line("delivery rate the receiver reported", color=DELIVERED_COLOR, lw=0.8, ls=":"))
    if drawn.get("sent"):
        handles.append(Patch(color=colour, alpha=0.25, lw=0, label=f"sent rate{suffix}"))
    if drawn.get("health"):
        handles.append(line("health (0 to 1, strip below each panel)", color=HEALTH_COLOR, lw=0.9))
    handles += down_handles(drawn.get("truly_down", False), drawn.get("believed_down", False))
    return handles
