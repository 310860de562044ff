"""What the plots draw, computed from stored runs without drawing anything (so tests can check it).

Timeseries columns (one row per stats interval and link): `t`, `link`, `capacity_bps` (truth),
`up` (truth), `est_capacity_bps` (the estimate), `health`, `weight` (estimate x health, 0 when
the controller thinks the link is down), `bitrate_bps` (encoder). Newer runs add
`counted_capacity_bps` (what the rate controller counted for the link, 0 when it believes the link
is down), `est_up` (the controller's belief) and `delivered_bps` (the delivery rate the receiver
reported). Every function here works without the newer columns (older stored runs).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bondlab.results import StoredRun
from bondlab.schedulers import SCHEDULERS

DELAYS_FILE = "delays_ms.npy"  # optional, one float per delivered packet: end-to-end delay in ms

# Legend texts, shared by the report and the calibration plots so both say the same thing.
COUNTED_LABEL = "capacity the rate controller counted"
TRUE_LABEL = "true capacity"
BITRATE_LABEL = "encoder bitrate"


# -- reading -------------------------------------------------------------------------------------


def load_delays(run: StoredRun) -> np.ndarray | None:
    """Per-packet end-to-end delays (ms) if the runner stored them, else None."""
    path = run.path / DELAYS_FILE
    if not path.exists():
        return None
    delays = np.asarray(np.load(path), dtype=float).ravel()
    return delays[np.isfinite(delays)]


def read_timeseries(run: StoredRun) -> pd.DataFrame | None:
    """The run's timeseries, or None if it is missing, unreadable or has no `t`/`link` columns."""
    try:
        ts = run.timeseries()
    except (OSError, ValueError):
        return None
    return ts if len(ts) and {"t", "link"} <= set(ts.columns) else None


def latencies(runs: Iterable[StoredRun]) -> list[float]:
    """The playout deadlines (receiver.latency_ms) of these runs, each once."""
    values = {run.meta.get("scenario", {}).get("receiver", {}).get("latency_ms") for run in runs}
    return sorted(float(v) for v in values if v is not None)


# -- derived series ------------------------------------------------------------------------------


def controller_up(ts: pd.DataFrame) -> pd.Series:
    """Per row: did the controller believe the link was up? `est_up`, or `weight > 0` in older runs
    (all True if neither column exists)."""
    if "est_up" in ts:
        return ts["est_up"].fillna(False).astype(bool)
    if "weight" in ts:
        return ts["weight"].fillna(0.0) > 0
    return pd.Series(True, index=ts.index)


def truly_up(ts: pd.DataFrame) -> pd.Series:
    """Per row: was the link really up (the `up` column; all True without it)?"""
    return ts["up"].fillna(False).astype(bool) if "up" in ts else pd.Series(True, index=ts.index)


def counted_capacity(ts: pd.DataFrame) -> pd.Series | None:
    """Per row: the capacity the rate controller counted for that link, 0 when it believed the
    link down. `counted_capacity_bps` if stored, else `weight`; None if neither exists."""
    column = "counted_capacity_bps" if "counted_capacity_bps" in ts else "weight" if "weight" in ts else None
    if column is None:
        return None
    return ts[column].fillna(0.0).where(controller_up(ts), 0.0)


def capacity_totals(ts: pd.DataFrame) -> pd.DataFrame:
    """Per stats interval (index `t`): what the totals plot draws, in bit/s.

    - `counted_bps`: sum over links of the capacity the rate controller counted (see
      `counted_capacity`): what it sized the encoder against; links it believed down add 0.
    - `capacity_bps`: sum of the true capacity of the links that were really up.
    - `bitrate_bps`: the encoder bitrate.
    A column is left out when the timeseries lacks what it needs.
    """
    frame = pd.DataFrame({"t": ts["t"]})
    counted = counted_capacity(ts)
    if counted is not None:
        frame["counted_bps"] = counted
    if "capacity_bps" in ts:
        frame["capacity_bps"] = ts["capacity_bps"].fillna(0.0).where(truly_up(ts), 0.0)
    if "bitrate_bps" in ts:
        frame["bitrate_bps"] = ts["bitrate_bps"]
    agg = {c: ("first" if c == "bitrate_bps" else "sum") for c in frame.columns if c != "t"}
    if not agg:
        return pd.DataFrame(index=pd.Index(sorted(ts["t"].unique()), name="t"))
    return frame.groupby("t", sort=True).agg(agg).astype(float)


def down_spans(t: np.ndarray, up: np.ndarray) -> list[tuple[float, float]]:
    """Time intervals where `up` is False. Sample i covers (t[i-1], t[i]] (a stats interval ends at
    its timestamp), so a span starts one interval before its first down sample."""
    t = np.asarray(t, dtype=float)
    up = np.asarray(up, dtype=bool)
    if len(t) == 0:
        return []
    step = float(np.median(np.diff(t))) if len(t) > 1 else 0.0
    spans: list[tuple[float, float]] = []
    start = None
    for ti, ok in zip(t, up, strict=True):
        if not ok and start is None:
            start = float(ti) - step
        elif ok and start is not None:
            spans.append((start, float(ti) - step))
            start = None
    if start is not None:
        spans.append((start, float(t[-1])))
    return spans


def link_frame(ts: pd.DataFrame, link: str) -> pd.DataFrame:
    """One link's rows, in time order."""
    return ts[ts["link"].astype(str) == str(link)].sort_values("t")


def link_order(ts: pd.DataFrame) -> list[str]:
    return [str(name) for name in dict.fromkeys(ts["link"].astype(str))]


# -- grouping ------------------------------------------------------------------------------------


def run_order(run: StoredRun) -> tuple[object, ...]:
    """Scenario, sim before other backends, scheduler in registry order, seed."""
    return (
        run.scenario,
        run.backend != "sim",
        run.backend,
        scheduler_rank(run.scheduler),
        run.scheduler,
        run.seed,
    )


def scheduler_rank(name: str) -> int:
    names = list(SCHEDULERS)
    return names.index(name) if name in names else len(names)


@dataclass(frozen=True)
class Series:
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


def series_of(runs: Sequence[StoredRun]) -> list[Series]:
    groups: dict[tuple[str, str], list[StoredRun]] = {}
    for run in sorted(runs, key=run_order):
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
        out.append(Series(backend, scheduler, tuple(members), label, color))
    return out


def by_scenario(runs: Sequence[StoredRun]) -> dict[str, list[StoredRun]]:
    groups: dict[str, list[StoredRun]] = {}
    for run in sorted(runs, key=run_order):
        groups.setdefault(run.scenario, []).append(run)
    return groups


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "scenario"
