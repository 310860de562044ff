"""One simulated link: tail-drop bottleneck queue, time-varying capacity, delay, jitter, loss, outages."""

from __future__ import annotations

import bisect
import random
from collections import deque
from collections.abc import Sequence
from typing import Any

from bondlab.scenario import Scenario
from bondlab.sim.loss import LossProcess
from bondlab.sim.service import Segment, ServiceCurve
from bondlab.timeline import link_timeline, trace_segments
from bondlab.traces import load_trace

INF = float("inf")


class SimLink:
    """A cellular modem's uplink as the sender sees it.

    Packets queue FIFO behind the bottleneck (tail drop at `queue_bytes`), leave at the capacity
    of the moment, then cross the radio hop: one-way delay + uniform jitter (as netem's default,
    so packets may reorder), and random / burst loss. While `up` is false every packet handed to
    the link is lost; what was already queued waits for the link to return.
    """

    def __init__(self, scenario: Scenario, index: int, seed: int) -> None:
        spec = scenario.links[index]
        self.name = spec.name
        self.index = index
        self._timeline = link_timeline(scenario, spec.name)
        self._times = [t for t, _ in self._timeline]
        self.service = ServiceCurve(self._segments(scenario))
        rng = random.Random(f"{seed}:{index}:link")
        self._jitter_rng = random.Random(f"{seed}:{index}:jitter")
        self.loss = LossProcess(rng)
        self._queue: deque[tuple[float, int]] = deque()
        self._queued_bytes = 0
        self.drops = {"queue": 0, "down": 0, "loss": 0}
        self._cached: tuple[float, float, dict[str, Any]] = (-1.0, -1.0, self._timeline[0][1])

    def _segments(self, scenario: Scenario) -> list[Segment]:
        # Segment.trace_ms(t) = (t - origin + offset): origin follows from the trace time at the start.
        origins = {
            start: start + st["trace_offset_s"] - trace_t0
            for start, _end, st, trace_t0 in trace_segments(scenario, self.name)
        }
        segments: list[Segment] = []
        for t, state in self._timeline:
            origin = origins.get(t, 0.0)
            trace = load_trace(scenario.trace_path(state["trace"])) if state["trace"] else None
            segments.append(
                Segment(t, state["capacity_bps"], trace, origin, state["trace_offset_s"], state["up"])
            )
        return segments

    def state(self, t: float) -> dict[str, Any]:
        lo, hi, state = self._cached
        if lo <= t < hi:
            return state
        i = bisect.bisect_right(self._times, t) - 1
        hi = self._times[i + 1] if i + 1 < len(self._times) else float("inf")
        self._cached = (self._times[i], hi, self._timeline[i][1])
        return self._timeline[i][1]

    def capacity_bps(self, t: float) -> float:
        return self.service.capacity_bps(t)

    def queued_bytes(self, t: float) -> int:
        q = self._queue
        while q and q[0][0] <= t:
            self._queued_bytes -= q.popleft()[1]
        return self._queued_bytes

    def one_way_delay_s(self, state: dict[str, Any]) -> float:
        jitter = state["jitter_ms"]
        d = state["delay_ms"] + (jitter * (2.0 * self._jitter_rng.random() - 1.0) if jitter else 0.0)
        return (d if d > 0.0 else 0.0) / 1000.0

    def send(self, t: float, size: int) -> float | None:
        """Hand a packet to the link at t: its arrival time at the receiver, or None if lost."""
        return self.send_burst(t, (size,))[0]

    def send_burst(self, t: float, sizes: Sequence[int]) -> list[float | None]:
        """Hand packets to the link together at t (a frame's share): arrival times, None where lost.

        One call per burst rather than per packet keeps the sim fast; the per-packet outcome is
        exactly what sending them one by one would give.
        """
        state = self.state(t)
        if not state["up"]:
            self.drops["down"] += len(sizes)
            return [None] * len(sizes)
        queue = self._queue
        while queue and queue[0][0] <= t:
            self._queued_bytes -= queue.popleft()[1]
        limit = state["queue_bytes"]
        room = limit - self._queued_bytes
        if sum(sizes) <= room:  # the whole burst fits: serve it in one go
            accepted = list(sizes)
        else:
            accepted = []
            for size in sizes:
                if size <= room:
                    accepted.append(size)
                    room -= size
                else:
                    accepted.append(0)
        served = self.service.serve_burst(t, [s for s in accepted if s])
        loss_p, gilbert = state["loss"], state["gilbert"]
        lossy = bool(loss_p or gilbert)
        lost, jitter_rnd = self.loss.lost, self._jitter_rng.random
        lo, hi, here = self._cached  # state valid on [lo, hi): departures mostly fall inside
        out: list[float | None] = []
        departures = iter(served)
        for size in accepted:
            if not size:
                self.drops["queue"] += 1
                out.append(None)
                continue
            depart = next(departures)
            queue.append((depart, size))
            self._queued_bytes += size
            if depart == INF:
                self.drops["down"] += 1
                out.append(None)
            elif lossy and lost(loss_p, gilbert):
                self.drops["loss"] += 1
                out.append(None)
            else:
                if not lo <= depart < hi:
                    here = self.state(depart)
                    lo, hi, here = self._cached
                jitter = here["jitter_ms"]
                d = here["delay_ms"] + (jitter * (2.0 * jitter_rnd() - 1.0) if jitter else 0.0)
                out.append(depart + (d if d > 0.0 else 0.0) / 1000.0)
        return out

    def echo_rtt_ms(self, t: float) -> float | None:
        """RTT an echo sent now would measure (queue wait included), or None if it is lost to an outage."""
        state = self.state(t)
        if not state["up"]:
            return None
        wait = self.service.wait_s(t)
        back_t = t + wait + state["delay_ms"] / 1000.0
        if not self.state(back_t)["up"]:
            return None
        return (wait + self.one_way_delay_s(state) + self.one_way_delay_s(self.state(back_t))) * 1000.0

    def reverse_ok(self, t: float) -> bool:
        """Whether a NACK sent back at time t gets through (only outages stop it)."""
        return bool(self.state(t)["up"])
