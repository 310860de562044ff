"""A link's bottleneck as a FIFO served by a capacity that changes over time (rate or trace).

Departure times are computed when a packet is enqueued, from the whole capacity timeline (known
in advance from the scenario), so the sim needs no process per packet. Trace links follow
mahimahi: each opportunity lets 1500 bytes leave; bytes of one opportunity may serve several
small packets back to back; opportunities of an idle link are lost.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate

from bondlab.traces import MTU_BYTES, Trace, opportunity_index_at, opportunity_time_ms

INF = math.inf


@dataclass(frozen=True)
class Segment:
    start: float
    rate_bps: float | None  # constant rate, or None when trace-driven
    trace: Trace | None
    trace_origin: float  # sim time at which trace time == trace_offset_s
    trace_offset_s: float
    up: bool

    def trace_ms(self, t: float) -> float:
        return (t - self.trace_origin + self.trace_offset_s) * 1000.0

    def sim_t(self, trace_ms: float) -> float:
        return trace_ms / 1000.0 - self.trace_offset_s + self.trace_origin

    def capacity_bps(self, t: float, window_s: float = 0.1) -> float:
        if not self.up:
            return 0.0
        if self.rate_bps is not None:
            return self.rate_bps
        assert self.trace is not None
        a = opportunity_index_at(self.trace, self.trace_ms(t), False)
        b = opportunity_index_at(self.trace, self.trace_ms(t + window_s), False)
        return (b - a) * MTU_BYTES * 8 / window_s


class ServiceCurve:
    """FIFO server over segments; `serve` returns when a packet of n bytes finishes leaving."""

    def __init__(self, segments: list[Segment]) -> None:
        self.segments = segments
        self._starts = [s.start for s in segments]
        self.busy_until = 0.0
        self._credit = 0.0  # unused bytes of the trace opportunity at busy_until
        self._next_opp = 0  # index of the first unused trace opportunity, valid while busy
        self._next_opp_seg = -1  # segment that index belongs to
        self._seg = (INF, -INF, None)  # cached (start, end, rate) of the last constant-rate segment used
        self._step_rate: float | None = None
        self._steps: dict[int, dict[int, float]] = {}  # overhead -> size -> (size + overhead) * 8 / rate

    def segment_at(self, t: float) -> int:
        return bisect.bisect_right(self._starts, t) - 1

    def capacity_bps(self, t: float) -> float:
        return self.segments[self.segment_at(t)].capacity_bps(t)

    def wait_s(self, t: float) -> float:
        """Queueing delay a packet arriving at t would see before its own transmission."""
        return max(self.busy_until - t, 0.0)

    def serve(self, t: float, nbytes: int) -> float:
        busy = t <= self.busy_until
        start = self.busy_until if busy else t
        lo, hi, rate = self._seg
        if rate is not None and lo <= start and start + nbytes * 8 / rate <= hi:  # common case, no lookups
            self.busy_until = start + nbytes * 8 / rate
            self._credit = 0.0
            self._next_opp_seg = -1
            return self.busy_until
        return self._serve_segments(start, busy, nbytes)

    def serve_burst(self, t: float, sizes: Sequence[int], overhead: int = 0) -> list[float]:
        """Departure times of packets of `sizes` + `overhead` bytes enqueued together at t, in order
        (as serve() one by one)."""
        lo, hi, rate = self._seg
        if rate is not None and sizes:
            # Within one constant-rate segment each packet leaves size * 8 / rate after the one
            # before it: the same sums, in the same order, as serving them one by one.
            start = self.busy_until if t <= self.busy_until else t
            if lo <= start:
                if rate != self._step_rate:
                    self._steps, self._step_rate = {}, rate
                steps = self._steps.get(overhead)
                if steps is None:
                    steps = self._steps[overhead] = {}
                try:
                    out = list(accumulate(map(steps.__getitem__, sizes), initial=start))
                except KeyError:
                    for size in sizes:
                        if size not in steps:
                            steps[size] = (size + overhead) * 8 / rate
                    out = list(accumulate(map(steps.__getitem__, sizes), initial=start))
                b = out[-1]
                if b <= hi:
                    self.busy_until = b
                    self._credit = 0.0
                    self._next_opp_seg = -1
                    del out[0]
                    return out
        out = []
        for payload in sizes:
            size = payload + overhead
            start = self.busy_until if t <= self.busy_until else t
            if rate is not None and lo <= start and start + size * 8 / rate <= hi:
                self.busy_until = start + size * 8 / rate
                self._credit = 0.0
                self._next_opp_seg = -1
                out.append(self.busy_until)
            else:
                out.append(self._serve_segments(start, t <= self.busy_until, size))
                lo, hi, rate = self._seg
        return out

    def _serve_segments(self, start: float, busy: bool, nbytes: int) -> float:
        credit = self._credit if busy else 0.0
        remaining = float(nbytes)
        i = self.segment_at(start)
        now = start
        while True:
            seg = self.segments[i]
            end = self._starts[i + 1] if i + 1 < len(self._starts) else INF
            if seg.up and seg.rate_bps is not None:
                self._seg = (seg.start, end, seg.rate_bps)
                need = remaining * 8 / seg.rate_bps
                if now + need <= end:
                    self._next_opp_seg = -1
                    return self._finish(now + need, 0.0)
                remaining -= (end - now) * seg.rate_bps / 8
                credit = 0.0
            elif seg.up and seg.trace is not None:
                used = min(credit, remaining)
                remaining -= used
                credit -= used
                if remaining <= 0:
                    return self._finish(now, credit)
                tr = seg.trace
                if busy and self._next_opp_seg == i:
                    first = self._next_opp  # continues where the previous packet stopped
                else:  # idle: the first opportunity from now on, 1 us slack for float rounding ...
                    first = opportunity_index_at(tr, seg.trace_ms(now) - 1e-3, strictly_after=False)
                    if self._next_opp_seg == i:  # ... but never one an earlier packet already used
                        first = max(first, self._next_opp)
                k = math.ceil(remaining / MTU_BYTES)
                done_t = seg.sim_t(opportunity_time_ms(tr, first + k - 1))
                if done_t <= end:
                    self._next_opp, self._next_opp_seg = first + k, i
                    return self._finish(max(done_t, now), k * MTU_BYTES - remaining)
                last = opportunity_index_at(tr, seg.trace_ms(end), strictly_after=False)
                remaining -= max(last - first, 0) * MTU_BYTES
                credit = 0.0
            if end == INF:
                return INF  # down (or zero capacity) for good: never leaves
            now = end
            i += 1
            busy = False

    def _finish(self, t: float, credit: float) -> float:
        self.busy_until = t
        self._credit = credit
        return t
