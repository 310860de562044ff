"""Calibration in motion: sim and real compared phase by phase, not only over the whole run.

A run's means hide what users care about in moving scenarios: a link dies at 10 s and the real
run's goodput falls for 4 s where the sim's fell for 1, yet the 30 s means agree within 10 %. So
each pair is also cut into phases (the windows between a scenario's events; 5 s windows where a
link follows a trace), and every phase is judged with the run's own bounds (calibrate.BOUNDS).

Per phase, both worlds measure the same things the same way, from files each run writes:
frames captured in the window (frames.parquet: on time, decodable, on-time bytes for goodput),
packets captured in it (delays_ms.npy with delay_capture_s.npy: p50, p95 delay), and each
link's share of the bytes delivered in it as the receiver reports counted them (the timeseries'
`delivered_bps`: each packet's first arrival on that link, the one definition both worlds share).
Phases shorter than MIN_PHASE_S are merged into the one before (a ratio over a second of frames
swings by a GOP).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bondlab.real.calibrate import checks
from bondlab.results import StoredRun
from bondlab.scenario import parse_scenario
from bondlab.timeline import expand_events, trace_segments

MIN_PHASE_S = 2.0
TRACE_WINDOW_S = 5.0
PHASE_METRICS = ("goodput_bps", "on_time_ratio", "decodable_ratio", "p50_delay_ms", "p95_delay_ms")


def phase_bounds(run: StoredRun) -> list[tuple[float, float]]:
    """[(start, end)] of the run's phases: cut at every event, and every 5 s on a trace."""
    sc = run.meta["scenario"]
    scenario = parse_scenario(dict(sc), "run.json", Path(sc.get("base_dir", ".")), run.scenario)
    duration = float(scenario.duration_s)
    cuts = {round(c.t, 6) for c in expand_events(scenario) if 0.0 < c.t < duration}
    if any(trace_segments(scenario, link.name) for link in scenario.links):
        cuts |= {round(float(t), 6) for t in np.arange(TRACE_WINDOW_S, duration, TRACE_WINDOW_S)}
    edges = [0.0]
    for cut in sorted(cuts):
        if cut - edges[-1] >= MIN_PHASE_S:
            edges.append(cut)
    if duration - edges[-1] < MIN_PHASE_S and len(edges) > 1:
        edges.pop()
    edges.append(duration)
    return list(zip(edges[:-1], edges[1:], strict=True))


def phase_metrics(run: StoredRun, start: float, end: float) -> dict[str, Any]:
    """The PHASE_METRICS and each link's delivered share over [start, end), or {} where the run
    lacks the per-frame files (stored before they existed)."""
    frames, delays = run.frames(), run.delays()
    if frames is None or delays is None:
        return {}
    f = frames[(frames.t >= start) & (frames.t < end)]
    d_ms, d_t = delays
    d = d_ms[(d_t >= start) & (d_t < end)]
    n = len(f)
    out: dict[str, Any] = {
        "goodput_bps": float(f.bytes[f.on_time].sum()) * 8 / (end - start),
        "on_time_ratio": float(f.on_time.mean()) if n else float("nan"),
        "decodable_ratio": float(f.decodable.mean()) if n else float("nan"),
        "p50_delay_ms": float(np.percentile(d, 50)) if len(d) else float("nan"),
        "p95_delay_ms": float(np.percentile(d, 95)) if len(d) else float("nan"),
    }
    ts = run.timeseries()
    part = ts[(ts.t > start) & (ts.t <= end)]
    delivered = part.groupby("link", observed=True).delivered_bps.sum()
    total = float(delivered.sum())
    for link in run.metrics.get("links") or {}:
        out[f"share_{link}"] = float(delivered.get(link, 0.0)) / total if total else float("nan")
    return out


def phase_rows(sim: StoredRun, real: StoredRun) -> list[dict[str, Any]]:
    """One row per phase of the pair: window, both worlds' values (`{key}_sim`, `{key}_real`, the
    same keys calibrate.checks reads), `within_bounds` and `failures` ("; "-joined)."""
    rows = []
    for start, end in phase_bounds(sim):
        a, b = phase_metrics(sim, start, end), phase_metrics(real, start, end)
        if not a or not b:
            return []
        row: dict[str, Any] = {
            "scenario": sim.scenario,
            "scheduler": sim.scheduler,
            "seed": real.seed,
            "start_s": start,
            "end_s": end,
        }
        for key in a:
            row[f"{key}_sim"], row[f"{key}_real"] = a[key], b.get(key, float("nan"))
        found = checks(row)
        row["within_bounds"] = all(c.ok for c in found)
        row["failures"] = "; ".join(c.failure() for c in found if not c.ok)
        rows.append(row)
    return rows


def phase_failures(rows: Sequence[dict[str, Any]]) -> list[str]:
    """One line per failed bound per phase, naming the window."""
    return [
        f"{r['start_s']:g}-{r['end_s']:g} s: {line}"
        for r in rows
        for line in (r["failures"].split("; ") if r["failures"] else [])
    ]
