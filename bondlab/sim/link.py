"""One simulated link: tail-drop bottleneck queue, time-varying capacity, delay, jitter, loss, outages,
and a reverse path (delay, jitter, loss, outages; no rate limit) for NACKs, echoes and reports."""

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
from bondlab.wire import WIRE_OVERHEAD_BYTES

INF = float("inf")


class SimLink:
    """A cellular modem's uplink as the sender sees it.

    Packets queue FIFO behind the bottleneck (tail drop at `queue_bytes`), leave at the capacity
    of the moment, then cross the radio hop: one-way delay + uniform jitter (as netem's default,
    so packets may reorder), and random / burst loss. While `up` is false every packet handed to
    the link is lost; what was already queued waits for the link to return. Capacity and queue
    count IP bytes: each packet costs its payload + WIRE_OVERHEAD_BYTES, as on a real wire.

    What arrives is also counted in bins of the receiver's report interval (payload bytes of data,
    packets of any kind), so a receiver report at time T can say what had arrived by T.
    """

    def __init__(self, scenario: Scenario, index: int, seed: int, report_interval_s: float = 0.1) -> None:
        spec = scenario.links[index]
        self.name = spec.name
        self.index = index
        self._timeline = link_timeline(scenario, spec.name)
        self._times = [t for t, _ in self._timeline]
        self.jittery = any(2 * state["jitter_ms"] > 25 for _, state in self._timeline)  # see sim/arq.py
        self.service = ServiceCurve(self._segments(scenario))
        rng = random.Random(f"{seed}:{index}:link")
        self._jitter_rng = random.Random(f"{seed}:{index}:jitter")
        self.loss = LossProcess(rng)
        self.reverse_loss = LossProcess(random.Random(f"{seed}:{index}:reverse-loss"))
        self._reverse_jitter_rng = random.Random(f"{seed}:{index}:reverse-jitter")
        self.report_interval_s = report_interval_s
        horizon = scenario.duration_s + scenario.receiver.latency_ms / 1000.0 + 5.0
        n_bins = int(horizon / report_interval_s) + 2
        self.rx_bytes = [0] * n_bins  # payload bytes of data that arrived in each report interval
        self.rx_packets = [0] * n_bins  # packets of any kind that arrived in each report interval
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

    def send(self, t: float, size: int) -> float | None:
        """Hand a packet to the link at t: its arrival time at the receiver, or None if lost."""
        return self.send_burst(t, (size,))[0]

    def send_burst(self, t: float, sizes: Sequence[int], data: bool = True) -> list[float | None]:
        """Hand packets to the link together at t (a frame's share): arrival times, None where lost.

        `sizes` are payload bytes of data packets, or whole IP packets when `data` is False
        (librist's echo requests and other control packets).

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
        wire = [size + WIRE_OVERHEAD_BYTES for size in sizes] if data else list(sizes)
        if sum(wire) <= room:  # the whole burst fits: serve it in one go
            accepted = wire
        else:
            accepted = []
            for size in wire:
                if size <= room:
                    accepted.append(size)
                    room -= size
                else:
                    accepted.append(0)
        kept = [s for s in accepted if s] if len(accepted) != len(wire) or 0 in accepted else accepted
        served = self.service.serve_burst(t, kept)
        queue.extend(zip(served, kept))
        self._queued_bytes += sum(kept)
        loss_p, gilbert = state["loss"], state["gilbert"]
        lost, rnd = self.loss.lost, self.loss.rng.random
        jitter_rnd = self._jitter_rng.random
        lo, hi, here = self._cached  # state valid on [lo, hi): departures mostly fall inside
        out: list[float | None] = []
        departures = iter(served)
        rx_bytes, rx_packets = self.rx_bytes, self.rx_packets
        inv = 1.0 / self.report_interval_s
        for size in accepted:
            if not size:
                self.drops["queue"] += 1
                out.append(None)
                continue
            depart = next(departures)
            if depart == INF:
                self.drops["down"] += 1
                out.append(None)
                continue
            if gilbert is not None:
                if lost(loss_p, gilbert):
                    self.drops["loss"] += 1
                    out.append(None)
                    continue
            elif loss_p and rnd() < loss_p:  # independent loss, inlined: the common case
                self.drops["loss"] += 1
                out.append(None)
                continue
            if not lo <= depart < hi:
                here = self.state(depart)
                lo, hi, here = self._cached
            jitter = here["jitter_ms"]
            d = here["delay_ms"] + (jitter * (2.0 * jitter_rnd() - 1.0) if jitter else 0.0)
            arrival = depart + (d if d > 0.0 else 0.0) / 1000.0
            k = int(arrival * inv)
            try:
                rx_packets[k] += 1
            except IndexError:  # after the last report: nobody will ask
                out.append(arrival)
                continue
            if data:
                rx_bytes[k] += size - WIRE_OVERHEAD_BYTES
            out.append(arrival)
        return out

    def uncount(self, arrival: float, payload_bytes: int) -> None:
        """A data packet that arrived at `arrival` was a duplicate: reports count first arrivals."""
        k = int(arrival / self.report_interval_s)
        if k < len(self.rx_bytes):
            self.rx_bytes[k] -= payload_bytes

    def reverse(self, t: float) -> float | None:
        """A packet sent back to the sender at t (NACK, echo reply, report): its arrival, or None.

        The reverse path has the uplink's delay, jitter and loss model (its own draws) and its
        outages, but no rate limit: feedback is small beside the data.
        """
        state = self.state(t)
        if not state["up"]:
            return None
        if (state["loss"] or state["gilbert"]) and self.reverse_loss.lost(state["loss"], state["gilbert"]):
            return None
        jitter = state["jitter_ms"]
        d = state["delay_ms"] + (jitter * (2.0 * self._reverse_jitter_rng.random() - 1.0) if jitter else 0.0)
        return t + (d if d > 0.0 else 0.0) / 1000.0
