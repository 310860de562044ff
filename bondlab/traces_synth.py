"""Synthetic cellular uplink traces (a seeded Markov-modulated model) and trace statistics.

Why: the recorded traces are few and long; a seeded model gives as many statistically similar
uplinks as a scenario needs, each reproducible from its seed, in the same mahimahi format.

The model: the link sits in one of a few states (good / fair / poor / outage by default), each with a
mean rate and a mean dwell time. A dwell is drawn from a lognormal of that mean (shape `dwell_sigma`;
measured runs are heavy-tailed, exponential dwells would give too many 10 ms blips); on leaving, the
next state is drawn from the state's row of the transition matrix. Within a state the rate is redrawn
every 100 ms (`STEP_S`) from a lognormal of the state's mean and coefficient of variation `cv`. Rates
become delivery opportunities by a byte budget per millisecond, so a trace's mean rate is the rates'
mean to within one packet.

Default numbers: fitted to the two recorded *uplink* traces bundled from mahimahi (Saturator
recordings for Winstein, Sivaraman, Balakrishnan, "Stochastic Forecasts Achieve High Throughput and
Low Delay over Cellular Networks", NSDI 2013: `ATT-LTE-driving.up`, 1012 s, 0.83 Mbps mean, and
`TMobile-UMTS-driving.up`, 931 s, 0.94 Mbps). Their 0.5 s windows, banded (ATT / T-Mobile):
>= 1.2 Mbps ("good") 11 / 42 % of the time at 1.23 / 1.36 Mbps, cv 0.03 / 0.06, runs 0.6 / 3.0 s;
0.4-1.2 Mbps ("fair") 69 / 42 % at 0.99 / 0.82 Mbps, cv 0.20 / 0.29, runs 2.9 / 2.0 s;
(0, 0.4) Mbps ("poor") 9 / 11 % at 0.19 / 0.24 Mbps, cv 0.59 / 0.50, runs 1.1 / 1.0 s;
zero ("outage") 11 / 5 % of windows, runs 3.4 / 1.1 s on average (ATT has one of 77 s).
The defaults sit between the two: good 1.3 Mbps (cv 0.05, 2 s), fair 0.9 Mbps (cv 0.25, 2.5 s),
poor 0.2 Mbps (cv 0.55, 1 s), outage (1.5 s); the transition matrix gives 25 / 54 / 11 / 9 % of the
time in them and a 0.84 Mbps mean. These are 2013 rates: `scale` multiplies every rate, e.g. 5 for
a present-day LTE modem's few Mbps, keeping the shape.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bondlab.traces import MTU_BYTES, load_trace

STEP_S = 0.1
WINDOW_S = 0.5
MAX_DURATION_S = 86_400  # a day; the rate of every millisecond is held in memory while drawing


@dataclass(frozen=True)
class State:
    """One channel state: mean rate (IP bits/s), mean dwell time (s), rate variation within it."""

    name: str
    rate_bps: float
    dwell_s: float
    cv: float = 0.0


DEFAULT_STATES: tuple[State, ...] = (
    State("good", 1_300_000, 2.0, 0.05),
    State("fair", 900_000, 2.5, 0.25),
    State("poor", 200_000, 1.0, 0.55),
    State("outage", 0.0, 1.5, 0.0),
)
# Rows: from good, fair, poor, outage; columns: to the same order. No self-transitions.
DEFAULT_TRANSITIONS: tuple[tuple[float, ...], ...] = (
    (0.0, 0.85, 0.10, 0.05),
    (0.50, 0.0, 0.35, 0.15),
    (0.10, 0.70, 0.0, 0.20),
    (0.10, 0.50, 0.40, 0.0),
)


@dataclass(frozen=True)
class Model:
    """States (best first) and the transition matrix between them (rows sum to 1, zero diagonal)."""

    states: tuple[State, ...] = DEFAULT_STATES
    transitions: tuple[tuple[float, ...], ...] = DEFAULT_TRANSITIONS
    dwell_sigma: float = 0.7
    scale: float = 1.0

    def __post_init__(self) -> None:
        n = len(self.states)
        if n < 2:
            raise ValueError("states: give at least two states")
        if len({s.name for s in self.states}) != n:
            raise ValueError("states: names must be distinct")
        for s in self.states:
            if not (s.rate_bps >= 0 and math.isfinite(s.rate_bps)):
                raise ValueError(f"states: {s.name}: rate must be >= 0 (got {s.rate_bps})")
            if not (s.dwell_s > 0 and math.isfinite(s.dwell_s)):
                raise ValueError(f"states: {s.name}: dwell must be > 0 s (got {s.dwell_s})")
            if not (s.cv >= 0 and math.isfinite(s.cv)):
                raise ValueError(f"states: {s.name}: cv must be >= 0 (got {s.cv})")
        if not (self.scale > 0 and math.isfinite(self.scale)):
            raise ValueError(f"scale must be > 0 (got {self.scale})")
        if self.dwell_sigma < 0:
            raise ValueError(f"dwell_sigma must be >= 0 (got {self.dwell_sigma})")
        m = np.asarray(self.transitions, dtype=float)
        if m.shape != (n, n) or np.any(m < 0) or np.any(np.diag(m) != 0) or not np.allclose(m.sum(1), 1):
            raise ValueError(f"transitions: need a {n}x{n} matrix, rows summing to 1, zero diagonal")

    def time_fractions(self) -> np.ndarray:
        """Long-run share of time in each state: the jump chain's stationary law x mean dwell."""
        m = np.asarray(self.transitions, dtype=float)
        w, v = np.linalg.eig(m.T)
        pi = np.abs(np.real(v[:, np.argmin(np.abs(w - 1))]))
        share = pi * np.array([s.dwell_s for s in self.states])
        return share / share.sum()

    def mean_rate_bps(self) -> float:
        rates = np.array([s.rate_bps for s in self.states]) * self.scale
        return float(self.time_fractions() @ rates)


def neighbour_transitions(n: int) -> tuple[tuple[float, ...], ...]:
    """For user-given states (best first): move one state better or worse, evenly; ends bounce."""
    rows = []
    for i in range(n):
        row = [0.0] * n
        nbrs = [j for j in (i - 1, i + 1) if 0 <= j < n]
        for j in nbrs:
            row[j] = 1.0 / len(nbrs)
        rows.append(tuple(row))
    return tuple(rows)


def parse_states(text: str) -> Model:
    """`NAME:RATE_MBPS:DWELL_S[:CV],...` (best first) -> a Model with neighbour transitions."""
    states = []
    for item in (p.strip() for p in text.split(",")):
        parts = item.split(":")
        if len(parts) not in (3, 4) or not parts[0]:
            raise ValueError(f"--states: expected NAME:RATE_MBPS:DWELL_S[:CV], got {item!r}")
        try:
            nums = [float(x) for x in parts[1:]]
        except ValueError:
            raise ValueError(f"--states: {item!r}: rate, dwell and cv must be numbers") from None
        states.append(State(parts[0], nums[0] * 1e6, nums[1], nums[2] if len(nums) == 3 else 0.0))
    return Model(states=tuple(states), transitions=neighbour_transitions(len(states)))


@dataclass(frozen=True)
class Synth:
    """What the model drew: the state segments and the rate in every millisecond."""

    segments: list[tuple[float, float, int]]  # (start_s, end_s, state index), covering [0, duration)
    rates_bps: np.ndarray  # one per millisecond: the state's mean x a factor redrawn every STEP_S
    times_ms: np.ndarray  # the delivery opportunities (mahimahi lines)


def synthesize(model: Model, duration_s: float, seed: int) -> Synth:
    """Draw one trace of `duration_s` from `model`; the same seed gives the same trace."""
    if not (0 < duration_s <= MAX_DURATION_S):
        raise ValueError(f"duration must be > 0 s and at most {MAX_DURATION_S} s (got {duration_s})")
    rng = np.random.default_rng(seed)
    n = len(model.states)
    trans = np.asarray(model.transitions, dtype=float)
    state = int(rng.choice(n, p=model.time_fractions()))
    segments: list[tuple[float, float, int]] = []
    t = 0.0
    sig = model.dwell_sigma
    while t < duration_s:
        mean = model.states[state].dwell_s
        dwell = float(rng.lognormal(math.log(mean) - sig * sig / 2, sig)) if sig > 0 else mean
        segments.append((t, min(t + dwell, duration_s), state))
        t += dwell
        state = int(rng.choice(n, p=trans[state]))
    total_ms = max(int(round(duration_s * 1000)), 1)
    ms = np.arange(1, total_ms + 1)  # millisecond t stands for (t - 1, t]
    starts_ms = np.array([a for a, _, _ in segments]) * 1000
    idx = np.array([k for _, _, k in segments])[np.searchsorted(starts_ms, ms - 0.5, side="right") - 1]
    steps = (ms - 1) // round(STEP_S * 1000)
    z = rng.standard_normal(int(steps[-1]) + 1)[steps]  # one draw per 100 ms step
    cv = np.array([s.cv for s in model.states])[idx]
    s2 = np.log1p(cv * cv)  # lognormal factor of mean 1 and the state's cv
    rates = np.array([s.rate_bps for s in model.states])[idx] * model.scale * np.exp(np.sqrt(s2) * z - s2 / 2)
    return Synth(segments, rates, _opportunities(rates))


def _opportunities(ms_rates_bps: np.ndarray) -> np.ndarray:
    """Millisecond times (1..n) at which the accumulated byte budget pays for 1500 bytes.

    Millisecond t stands for (t - 1, t], as mahimahi's cycles are (0, period]; the last line is
    always the duration so the file repeats with the right period even if it ends in an outage.
    """
    total_ms = len(ms_rates_bps)
    budget = np.cumsum(ms_rates_bps / 8 / 1000)  # bytes available by the end of each ms
    packets = np.floor(budget / MTU_BYTES + 1e-9).astype(np.int64)
    times = np.repeat(np.arange(1, total_ms + 1), np.diff(np.r_[0, packets]))
    if len(times) == 0 or times[-1] != total_ms:
        times = np.r_[times, total_ms]
    return times.astype(np.int64)


def write_trace(times_ms: Sequence[int] | np.ndarray, path: str | Path) -> Path:
    """Write mahimahi lines (one millisecond per line); creates the parent folder."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(f"{int(t)}\n" for t in times_ms))
    return out


def cut_trace(path: str | Path, start_s: float, length_s: float) -> np.ndarray:
    """The opportunities in (start, start + length] of a trace (repeating it), rebased to 0.

    Why: the recorded traces run for 15 minutes; scenarios bundle only the stretch they replay.
    The last line is the length, so the cut repeats with its own period, like a synthetic trace.
    """
    if not (start_s >= 0 and 0 < length_s <= MAX_DURATION_S and math.isfinite(start_s)):
        raise ValueError(
            f"cut: need start >= 0 and 0 < length <= {MAX_DURATION_S} s (got {start_s}, {length_s})"
        )
    trace = load_trace(path)
    a, n = int(round(start_s * 1000)), int(round(length_s * 1000))
    first = int(trace.opportunities_before(a + 1e-6))  # opportunities at times <= a are outside
    last = int(trace.opportunities_before(a + n + 1e-6))
    period, k = trace.period_ms, len(trace.times_ms)
    idx = np.arange(first, last)
    times = (idx // k) * period + trace.times_ms[idx % k] - a
    if len(times) == 0 or times[-1] != n:
        times = np.r_[times, n]
    return times.astype(np.int64)


@dataclass(frozen=True)
class TraceStats:
    """A trace's rate over 0.5 s windows (IP bits/s) and the time it delivers nothing."""

    duration_s: float
    mean_bps: float
    p5_bps: float
    p50_bps: float
    p95_bps: float
    outage_s: float  # total length of windows with no delivery opportunity
    windows: int


def window_rates(path: str | Path, window_s: float = WINDOW_S) -> tuple[np.ndarray, np.ndarray]:
    """(rate, width) of each window over one period, (a, b] like mahimahi; the last may be short."""
    trace = load_trace(path)
    period = trace.period_ms
    w_ms = window_s * 1000
    edges = np.r_[np.arange(0, period, w_ms), period].astype(float)
    counts = np.diff(np.searchsorted(trace.times_ms, edges, side="right"))
    counts[0] += int(np.sum(trace.times_ms == 0))  # a time of 0 belongs to the first window
    widths = np.diff(edges) / 1000
    return counts * MTU_BYTES * 8 / widths, widths


def trace_stats(path: str | Path, window_s: float = WINDOW_S) -> TraceStats:
    """Mean rate, p5/p50/p95 of the window rates, outage time (empty windows), duration."""
    trace = load_trace(path)
    rates, widths = window_rates(path, window_s)
    p5, p50, p95 = np.percentile(rates, [5, 50, 95])
    return TraceStats(
        duration_s=trace.period_ms / 1000,
        mean_bps=trace.mean_rate_bps,
        p5_bps=float(p5),
        p50_bps=float(p50),
        p95_bps=float(p95),
        outage_s=float(widths[rates == 0].sum()),
        windows=len(rates),
    )
