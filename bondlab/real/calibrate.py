"""Sim-vs-real calibration: how far a real run lands from the sim run of the same scenario and scheduler.

Writes calibration.csv, calibration.md and three PNGs per (sim, real) pair. The project's goal is
per-link share and goodput within 10 % on constant-rate scenarios; every row carries the marks.
Tables and figures reuse bondlab.report's helpers, so both reports look alike.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from bondlab.core.schedulers import SCHEDULERS
from bondlab.report import (
    CAPACITY_COLOR,
    DOWN_COLOR,
    MISSING,
    _down_spans,
    _figure,
    _grouped_bars,
    _legend,
    _percent,
    _percent_axis,
    _save,
    _slug,
    _timeseries,
    _totals,
    _zero_based,
    markdown_table,
)
from bondlab.results import StoredRun

Pair = tuple[StoredRun, StoredRun]
METRICS = (
    "on_time_ratio",
    "goodput_bps",
    "p50_delay_ms",
    "p95_delay_ms",
    "congestion_messages",
    "mean_bitrate_bps",
)
GOODPUT_TOLERANCE = 0.10  # relative: |real - sim| / sim
SHARE_TOLERANCE_PP = 10.0  # absolute, percentage points of the bytes sent
PLOT_KINDS = ("bitrate", "link-share", "estimator")
STYLES = {"sim": ("-", None), "real": ("--", "//")}  # line style and bar hatch, as in bondlab.report


@dataclass(frozen=True)
class CalibrationFiles:
    """What write_calibration wrote: the table as CSV and Markdown, and every PNG (pair by pair)."""

    csv: Path
    markdown: Path
    plots: list[Path] = field(default_factory=list)


# -- table ---------------------------------------------------------------------------------------


def relative_difference(sim: float | None, real: float | None) -> float:
    """|real - sim| / sim; NaN if a value is missing, inf if only sim is 0."""
    if sim is None or real is None:
        return math.nan
    if sim == 0:
        return 0.0 if real == 0 else math.inf
    return abs(real - sim) / abs(sim)


def share_diff_pp(sim: StoredRun, real: StoredRun, link: str) -> float:
    """|real - sim| of one link's share of the bytes sent, in percentage points."""
    return 100 * abs(float(real.metrics["links"][link]["share"]) - float(sim.metrics["links"][link]["share"]))


def _check_pair(sim: StoredRun, real: StoredRun) -> None:
    if (sim.backend, real.backend) != ("sim", "real"):
        raise ValueError(f"pair must be (sim run, real run), got ({sim.backend}, {real.backend})")
    if (sim.scenario, sim.scheduler) != (real.scenario, real.scheduler):
        raise ValueError(f"pair mixes {sim.scenario}/{sim.scheduler} with {real.scenario}/{real.scheduler}")
    if list(sim.metrics.get("links") or {}) != list(real.metrics.get("links") or {}):
        raise ValueError(f"{sim.scenario}: sim and real runs have different links")


def _constant_rate(run: StoredRun) -> bool:
    """No events and no capacity traces: the scenarios the calibration goal is about."""
    scenario = run.meta.get("scenario") or {}
    return not scenario.get("events") and not any(link.get("trace") for link in scenario.get("links", []))


def calibration_row(sim: StoredRun, real: StoredRun) -> dict[str, Any]:
    """One pair: sim, real and difference per metric and per link share, and the 10 % marks."""
    _check_pair(sim, real)
    row: dict[str, Any] = {
        "scenario": sim.scenario,
        "scheduler": sim.scheduler,
        "sim_seed": sim.seed,
        "real_seed": real.seed,
        "constant_rate": _constant_rate(sim),
    }
    for key in METRICS:
        a, b = sim.metrics.get(key), real.metrics.get(key)
        diff = round(relative_difference(a, b), 6)
        row.update({f"{key}_sim": a, f"{key}_real": b, f"{key}_rel_diff": diff})
    diffs = {link: share_diff_pp(sim, real, link) for link in sim.metrics["links"]}
    for link, pp in diffs.items():
        row.update(
            {
                f"share_{link}_sim": sim.metrics["links"][link]["share"],
                f"share_{link}_real": real.metrics["links"][link]["share"],
                f"share_{link}_diff_pp": round(pp, 4),
            }
        )
    worst = max(diffs.values(), default=math.nan)
    row["max_share_diff_pp"] = round(worst, 4)
    row["goodput_within_10pct"] = (
        relative_difference(sim.metrics.get("goodput_bps"), real.metrics.get("goodput_bps"))
        <= GOODPUT_TOLERANCE
    )
    row["share_within_10pct"] = worst <= SHARE_TOLERANCE_PP
    row["within_10pct"] = row["goodput_within_10pct"] and row["share_within_10pct"]
    return row


def calibration_table(pairs: Sequence[Pair]) -> pd.DataFrame:
    """One row per pair, in the order given; share columns per link (empty where a scenario lacks one)."""
    table = pd.DataFrame([calibration_row(sim, real) for sim, real in pairs])
    marks = ["max_share_diff_pp", "goodput_within_10pct", "share_within_10pct", "within_10pct"]
    return table[[c for c in table.columns if c not in marks] + marks]


# -- markdown ------------------------------------------------------------------------------------


def _diff_text(value: float) -> str:
    return MISSING if math.isnan(value) else "∞" if math.isinf(value) else f"{value * 100:.1f}%"


_MD_METRICS: dict[str, tuple[str, Callable[[float], str]]] = {
    "on_time_ratio": ("on time", _percent),
    "goodput_bps": ("goodput (Mbps)", lambda v: f"{v / 1e6:.2f}"),
    "p50_delay_ms": ("p50 delay (ms)", lambda v: f"{v:.0f}"),
    "p95_delay_ms": ("p95 delay (ms)", lambda v: f"{v:.0f}"),
    "congestion_messages": ("cong. msgs", lambda v: f"{int(v)}"),
    "mean_bitrate_bps": ("bitrate (Mbps)", lambda v: f"{v / 1e6:.2f}"),
}


def _md_row(row: pd.Series, links: Sequence[str]) -> dict[str, str]:
    out = {
        "scenario": row["scenario"],
        "scheduler": row["scheduler"],
        "seeds sim/real": f"{row['sim_seed']}/{row['real_seed']}",
        "constant rate": "yes" if row["constant_rate"] else "no",
    }
    for key, (label, fmt) in _MD_METRICS.items():
        a, b = (row[f"{key}_{side}"] for side in ("sim", "real"))
        values = [MISSING if v is None or pd.isna(v) else fmt(v) for v in (a, b)]
        out[label] = f"{values[0]} / {values[1]} ({_diff_text(row[f'{key}_rel_diff'])})"
    out["link share (Δ in pp)"] = ", ".join(
        f"{link} {row[f'share_{link}_sim'] * 100:.1f}% / {row[f'share_{link}_real'] * 100:.1f}% "
        f"({row[f'share_{link}_diff_pp']:.1f})"
        for link in links
        if pd.notna(row.get(f"share_{link}_sim"))
    )
    out["goodput ≤ 10 %"] = "✓" if row["goodput_within_10pct"] else "✗"
    out["shares ≤ 10 pp"] = "✓" if row["share_within_10pct"] else "✗"
    return out


def _buffers(pairs: Sequence[Pair]) -> str:
    values = sorted({r.metrics.get("real", {}).get("librist_buffer_ms") for _, r in pairs} - {None})
    return f"buffer {', '.join(f'{v:g} ms' for v in values)} here" if values else "buffer not recorded here"


def _markdown(table: pd.DataFrame, pairs: Sequence[Pair], plots: Sequence[Sequence[Path]]) -> str:
    links = [
        c.removeprefix("share_").removesuffix("_sim")
        for c in table.columns
        if c.startswith("share_") and c.endswith("_sim")
    ]
    view = pd.DataFrame([_md_row(row, links) for _, row in table.iterrows()])
    parts = [
        "# bondlab calibration: sim vs real\n",
        f"{len(table)} pair(s) of runs, each a sim run and a real run of the same scenario and scheduler.\n",
        "Each cell reads *sim / real (Δ)*.\n",
        markdown_table(view),
        "- **Δ** after a metric is the relative difference |real − sim| / sim (∞ when only sim is 0).\n"
        "- **Link share** is each link's share of the bytes sent, sim / real; its Δ is the absolute "
        "difference |real − sim| in percentage points (pp), not a relative one.\n"
        f"- **Calibration goal**: on constant-rate scenarios (no events, no traces) goodput within "
        f"{GOODPUT_TOLERANCE * 100:g} % (relative) and every link's share within {SHARE_TOLERANCE_PP:g} pp "
        "(`within_10pct` in calibration.csv). Rows with *constant rate: no* carry the marks for "
        "information only.\n"
        f"- **Delays are not comparable.** Real delays are librist's output times: librist releases each "
        f"packet `buffer` ms after it was written ({_buffers(pairs)}), so real delay "
        "percentiles sit near the buffer and are not the network delay the sim reports.\n",
    ]
    for (sim, real), files in zip(pairs, plots, strict=True):
        parts.append(
            f"## {sim.scenario} · {_display(sim.scheduler)} (sim seed {sim.seed}, real seed {real.seed})\n"
        )
        parts.extend(f"![{p.stem}]({p.name})\n" for p in files)
    return "\n".join(parts)


# -- plots ---------------------------------------------------------------------------------------


def _display(scheduler: str) -> str:
    info = SCHEDULERS.get(scheduler)
    return info.display if info is not None else scheduler


def _color(scheduler: str) -> str:
    info = SCHEDULERS.get(scheduler)
    return info.color if info is not None else "C0"


def _plot_bitrate(pair: Pair, frames: dict[str, pd.DataFrame | None], title: str) -> Figure | None:
    if all(f is None for f in frames.values()):
        return None
    fig = _figure(10, 4.4)
    ax = fig.subplots()
    truth = frames["sim"] if frames["sim"] is not None else frames["real"]
    tot = _totals(truth) if truth is not None else pd.DataFrame()
    if "capacity_bps" in tot:
        ax.plot(
            tot.index,
            tot["capacity_bps"] / 1e6,
            color=CAPACITY_COLOR,
            lw=1.0,
            drawstyle="steps-pre",
            label="true total capacity (sum of up links)",
        )
    for run in pair:
        frame = frames[run.backend]
        if frame is not None and "bitrate_bps" in frame:
            tot = _totals(frame)
            ax.plot(
                tot.index,
                tot["bitrate_bps"] / 1e6,
                color=_color(run.scheduler),
                lw=2.0,
                ls=STYLES[run.backend][0],
                label=f"encoder bitrate, {run.backend} (seed {run.seed})",
            )
    ax.set_xlabel("time (s)")
    ax.set_ylabel("rate (Mbps)")
    ax.grid(alpha=0.3)
    _zero_based([ax])
    ax.set_title(f"{title}: encoder bitrate, sim vs real")
    _legend(fig, ax.get_legend_handles_labels()[0], ncols=3)
    return fig


def _plot_link_share(pair: Pair, title: str) -> Figure:
    sim = pair[0]
    links = list(sim.metrics["links"])

    def shares(run: StoredRun, key: str) -> list[list[float]]:
        return [
            [100 * float(run.metrics["links"][n][key])]
            if run.metrics["links"][n].get(key) is not None
            else []
            for n in links
        ]

    items = [("capacity share", "0.8", None, shares(sim, "capacity_share"))]
    items += [
        (f"bytes sent, {run.backend}", _color(run.scheduler), STYLES[run.backend][1], shares(run, "share"))
        for run in pair
    ]
    fig = _figure(max(6.0, 1.5 + 1.6 * len(links)), 4.4)
    ax = fig.subplots()
    _grouped_bars(ax, len(links), items, decimals=1)
    ax.set_xticks(range(len(links)), [f"{n}\n|real − sim| = {share_diff_pp(*pair, n):.1f} pp" for n in links])
    ax.set_xlabel("link")
    ax.set_ylabel("share of bonded total (%)")
    _percent_axis(ax)
    ax.set_title(f"{title}: per-link share, sim vs real vs capacity")
    _legend(fig, ax.get_legend_handles_labels()[0], ncols=3)
    return fig


def _shade_down(ax: Axes, link_ts: pd.DataFrame) -> bool:
    t = link_ts["t"].to_numpy()
    if "up" not in link_ts or len(t) < 2:
        return False
    spans = _down_spans(t, link_ts["up"].astype(bool).to_numpy(), float(np.median(np.diff(t))))
    for a, b in spans:
        ax.axvspan(a, b, color=DOWN_COLOR, alpha=0.6, lw=0)
    return bool(spans)


def _plot_estimator(pair: Pair, frames: dict[str, pd.DataFrame | None], title: str) -> Figure | None:
    shown = [(run, f) for run in pair if (f := frames[run.backend]) is not None and "est_capacity_bps" in f]
    if not shown:
        return None
    links = list(pair[0].metrics["links"])
    fig = _figure(10, 1.4 + 2.4 * len(links))
    axes = fig.subplots(len(links), 1, sharex=True, squeeze=False)[:, 0]
    any_down = False
    for ax, link in zip(axes, links, strict=True):
        for i, (run, frame) in enumerate(shown):
            part = frame[frame["link"] == link]
            if i == 0 and "capacity_bps" in part:
                any_down |= _shade_down(ax, part)
                ax.plot(
                    part["t"], part["capacity_bps"] / 1e6, color=CAPACITY_COLOR, lw=1.0, drawstyle="steps-pre"
                )
            ax.plot(
                part["t"],
                part["est_capacity_bps"] / 1e6,
                color=_color(run.scheduler),
                lw=1.6,
                ls=STYLES[run.backend][0],
            )
        ax.set_title(link, loc="left", fontsize="medium")
        ax.set_ylabel("rate (Mbps)")
        ax.grid(alpha=0.3)
    _zero_based(axes)
    axes[-1].set_xlabel("time (s)")
    fig.suptitle(f"{title}: estimated capacity per link, sim vs real")
    handles = [Line2D([], [], color=CAPACITY_COLOR, lw=1.0, label=f"true capacity ({shown[0][0].backend})")]
    handles += [
        Line2D(
            [],
            [],
            color=_color(run.scheduler),
            lw=1.6,
            ls=STYLES[run.backend][0],
            label=f"estimated capacity, {run.backend} (seed {run.seed})",
        )
        for run, _ in shown
    ]
    if any_down:
        handles.append(Patch(color=DOWN_COLOR, alpha=0.6, lw=0, label="link down"))
    _legend(fig, handles)
    return fig


def _pair_plots(pair: Pair, out_dir: Path) -> list[Path]:
    sim, real = pair
    frames = {run.backend: _timeseries(run) for run in pair}
    title = f"{sim.scenario} · {_display(sim.scheduler)}"
    figures = {
        "bitrate": _plot_bitrate(pair, frames, title),
        "link-share": _plot_link_share(pair, title),
        "estimator": _plot_estimator(pair, frames, title),
    }
    stem = f"{_slug(sim.scenario)}-{_slug(sim.scheduler)}-sim{sim.seed}-real{real.seed}"
    return [_save(fig, out_dir / f"{stem}-{kind}.png") for kind, fig in figures.items() if fig is not None]


# -- entry point ---------------------------------------------------------------------------------


def write_calibration(pairs: list[tuple[StoredRun, StoredRun]], out_dir: Path) -> CalibrationFiles:
    """Write calibration.csv, calibration.md and the PNGs for each (sim run, real run) pair."""
    if not pairs:
        raise ValueError("no (sim, real) pairs to calibrate")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    table = calibration_table(pairs)  # validates every pair before anything is drawn
    csv_path = out_dir / "calibration.csv"
    table.to_csv(csv_path, index=False)
    plots = [_pair_plots(pair, out_dir) for pair in pairs]
    md_path = out_dir / "calibration.md"
    md_path.write_text(_markdown(table, pairs, plots))
    return CalibrationFiles(csv_path, md_path, [p for files in plots for p in files])
