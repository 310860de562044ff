"""Replaying a trace-driven link: the trace as htb rate changes, one per 100 ms window.

Why a module of its own: the qdisc tree (bondlab.real.shaping) is built once per link; a trace's
replay is the time series of rate changes the runner plans on top of it.

`trace_rate_steps` turns `Trace.rate_series_bps(offset, duration, 0.1)` into
(t, rate) changes; the runner issues `rate_argv` at each. The link then serves at the mean rate
of each 100 ms window: mahimahi's per-millisecond delivery opportunities (bursts, gaps shorter
than a window) are averaged away. A window without any opportunity cannot be a zero rate (htb
needs a positive rate, and a tiny rate would hold the head packet for seconds after the trace
recovers: htb schedules the head packet's wake-up with the rate of the moment), so it runs at
RATE_FLOOR_BPS, one 1514-byte frame per window.
"""

from __future__ import annotations

from bondlab.real.shaping import STEP_S
from bondlab.traces import Trace


def trace_rate_steps(
    trace: Trace, offset_s: float, duration_s: float, step_s: float = STEP_S
) -> list[tuple[float, float]]:
    """(t, rate_bps) at each change of the windowed trace rate; t from the start of the replay.

    The first entry is at t=0. Rates are IP bit/s as in the trace (0 for a window without any
    opportunity; `rate_argv` turns that into RATE_FLOOR_BPS).
    """
    rates = trace.rate_series_bps(offset_s, duration_s, step_s)
    steps: list[tuple[float, float]] = []
    for i, rate in enumerate(rates):
        value = float(rate)
        if not steps or value != steps[-1][1]:
            steps.append((round(i * step_s, 9), value))
    return steps


def trace_rate_at(trace: Trace, trace_time_s: float, step_s: float = STEP_S) -> float:
    """Mean rate of the window [trace_time_s, trace_time_s + step_s): to apply an event mid-trace."""
    return float(trace.rate_series_bps(trace_time_s, step_s, step_s)[0])
