"""Mahimahi delivery traces: each line is a millisecond at which one 1500-byte packet may leave."""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

MTU_BYTES = 1500


@dataclass(frozen=True)
class Trace:
    """Delivery opportunities of one trace period; the trace repeats every `period_ms`."""

    path: str
    times_ms: np.ndarray  # sorted int64, one entry per 1500-byte opportunity
    times_list: list[int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "times_list", self.times_ms.tolist())  # fast scalar bisect

    @property
    def period_ms(self) -> int:
        # mahimahi repeats the trace after its last timestamp; a one-line "1" file is 1 packet/ms.
        return max(int(self.times_ms[-1]), 1)

    @property
    def mean_rate_bps(self) -> float:
        return len(self.times_ms) * MTU_BYTES * 8 / (self.period_ms / 1000)

    def rate_series_bps(self, start_s: float, duration_s: float, step_s: float) -> np.ndarray:
        """Mean rate in each `step_s` window from `start_s` (trace time), wrapping at the period."""
        n = max(int(np.ceil(duration_s / step_s)), 1)
        edges_ms = (start_s + np.arange(n + 1) * step_s) * 1000.0
        # Windows are (a, b], like the cycles (0, period]; opportunity times are whole milliseconds,
        # so a 1 ns nudge selects that side and absorbs float rounding in the edges.
        counts = np.diff(self.opportunities_before(edges_ms + 1e-6))
        return counts * MTU_BYTES * 8 / step_s

    def opportunities_before(self, t_ms: np.ndarray | float) -> np.ndarray:
        """Number of opportunities at times < t_ms, counting repeats of the trace."""
        t = np.asarray(t_ms, dtype=float)
        period = self.period_ms
        # Cycle c holds the times (c * period, (c + 1) * period]: k * period ends cycle k - 1.
        cycles = np.maximum(np.ceil(t / period) - 1, 0)
        idx = np.searchsorted(self.times_ms, t - cycles * period, side="left")
        return (cycles * len(self.times_ms) + idx).astype(np.int64)


def _read_lines(path: str) -> list[str]:
    """Lines of a text file; ValueError if it is binary (not UTF-8, or holding NUL bytes)."""
    text: str | None
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()  # universal newlines, so numbering matches iterating the file
    except UnicodeDecodeError:
        text = None
    if text is None or "\0" in text:
        raise ValueError(f"{path}: not a text trace file")
    return text.split("\n")


@lru_cache(maxsize=32)
def _load(path: str, mtime_ns: int) -> Trace:
    values: list[int] = []
    for lineno, line in enumerate(_read_lines(path), 1):
        text = line.strip()
        if not text:
            continue
        try:
            ms = int(text)
        except ValueError:
            raise ValueError(f"{path} line {lineno}: not an integer millisecond: {text[:20]!r}") from None
        if ms < 0:
            raise ValueError(f"{path} line {lineno}: negative time {ms}")
        if values and ms < values[-1]:
            raise ValueError(f"{path} line {lineno}: times must not decrease")
        values.append(ms)
    if not values:
        raise ValueError(f"{path}: empty trace")
    return Trace(path=path, times_ms=np.asarray(values, dtype=np.int64))


def load_trace(path: str | Path) -> Trace:
    """Load (cached) a mahimahi trace; raises OSError if missing, ValueError if malformed."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"trace file not found: {p}")
    return _load(str(p.resolve()), p.stat().st_mtime_ns)


def opportunity_index_at(trace: Trace, t_ms: float, strictly_after: bool) -> int:
    """Index (counting repeats) of the first opportunity at/after `t_ms` (or strictly after).

    Cycle c holds the times (c * period, (c + 1) * period], so an opportunity at the period end is
    found at its own time; times before 0 find opportunity 0.
    """
    times = trace.times_list
    period = trace.period_ms
    if strictly_after:  # count opportunities at times <= t_ms
        cycle = max(math.floor(t_ms / period), 0)
        idx = bisect.bisect_right(times, t_ms - cycle * period)
    else:  # count opportunities at times < t_ms
        cycle = max(math.ceil(t_ms / period) - 1, 0)
        idx = bisect.bisect_left(times, t_ms - cycle * period)
    return cycle * len(times) + idx


def opportunity_time_ms(trace: Trace, index: int) -> float:
    """Trace time of opportunity `index` (counting repeats)."""
    cycle, i = divmod(index, len(trace.times_list))
    return float(cycle * trace.period_ms + trace.times_list[i])
