"""Expand a scenario's events (several links, `for_s` reverts) into per-link state timelines.

Both backends replay the same expansion: the sim reads link state at any time, the real backend
applies each change live at its time.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Any

from bondlab.scenario import LinkSpec, Scenario

LINK_FIELDS = (
    "capacity_bps",
    "trace",
    "trace_offset_s",
    "delay_ms",
    "jitter_ms",
    "loss",
    "gilbert",
    "queue_bytes",
    "up",
)


@dataclass(frozen=True)
class LinkChange:
    t: float
    link: str
    changes: dict[str, Any]  # field -> new value (after this change, the link's full state is `state`)
    state: dict[str, Any]


def initial_state(link: LinkSpec) -> dict[str, Any]:
    state = {f: getattr(link, f) for f in LINK_FIELDS}
    if state["gilbert"] is not None:
        state["gilbert"] = link.gilbert.model_dump() if link.gilbert else None
    return state


def _apply(state: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    new = dict(state)
    new.update(changes)
    # One capacity source at a time: setting a rate ends a trace and vice versa.
    if "capacity_bps" in changes and changes["capacity_bps"] is not None:
        new["trace"] = None
    if "trace" in changes and changes["trace"] is not None:
        new["capacity_bps"] = None
        new.setdefault("trace_offset_s", 0.0)
    return new


def expand_events(scenario: Scenario) -> list[LinkChange]:
    """All link changes in time order (ties keep file order), with `for_s` reverts inserted."""
    states = {link.name: initial_state(link) for link in scenario.links}
    heap: list[tuple[float, int, str, dict[str, Any], float | None]] = []
    order = 0
    for ev in scenario.events:
        for name in ev.links:
            heapq.heappush(heap, (ev.at_s, order, name, ev.changes(), ev.for_s))
            order += 1
    out: list[LinkChange] = []
    while heap:
        t, _, name, changes, for_s = heapq.heappop(heap)
        before = states[name]
        if for_s is not None and t + for_s < scenario.duration_s:
            revert = {k: before[k] for k in changes}
            if "capacity_bps" in changes or "trace" in changes:
                revert.update(
                    {
                        "capacity_bps": before["capacity_bps"],
                        "trace": before["trace"],
                        "trace_offset_s": before["trace_offset_s"],
                    }
                )
            heapq.heappush(heap, (t + for_s, order, name, revert, None))
            order += 1
        states[name] = _apply(before, changes)
        out.append(LinkChange(t, name, changes, dict(states[name])))
    return out


def link_timeline(scenario: Scenario, name: str) -> list[tuple[float, dict[str, Any]]]:
    """[(t, full link state from t on)], starting at t=0 with the link's spec."""
    timeline = [(0.0, initial_state(scenario.link(name)))]
    timeline += [(c.t, c.state) for c in expand_events(scenario) if c.link == name]
    return timeline


def trace_segments(scenario: Scenario, name: str) -> list[tuple[float, float, dict[str, Any], float]]:
    """(start, end, state, trace time at start) of each trace-driven stretch of a link's timeline.

    Trace time keeps running through changes of other fields (the radio channel goes on); it
    restarts at `trace_offset_s` only when an event sets a different trace or offset.
    """
    timeline = link_timeline(scenario, name)
    base = scenario.link(name).trace
    origin = 0.0
    prev: tuple[Any, Any] | None = None
    out = []
    for k, (t, state) in enumerate(timeline):
        key = (state["trace"], state["trace_offset_s"])
        if state["trace"] is not None and key != prev:
            origin = 0.0 if (state["trace"] == base and t == 0.0) else t
        prev = key
        end = timeline[k + 1][0] if k + 1 < len(timeline) else scenario.duration_s
        if state["trace"] is not None and end > t:
            out.append((t, end, state, state["trace_offset_s"] + (t - origin)))
    return out
