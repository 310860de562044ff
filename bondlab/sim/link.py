"""One simulated link: tail-drop bottleneck queue, time-varying capacity, delay, jitter, loss, outages,
and a reverse path (delay, jitter, loss, outages; no rate limit) for NACKs, echoes and reports."""

from __future__ import annotations

import bisect
import random
from collections import deque
from collections.abc import Sequence
from itertools import compress, repeat
from operator import add, le, mul
from typing import Any

import numpy as np

from bondlab.scenario import Scenario
from bondlab.sim.loss import Draws, LossProcess
from bondlab.sim.service import Segment, ServiceCurve
from bondlab.timeline import link_timeline, trace_segments
from bondlab.traces import load_trace
from bondlab.wire import WIRE_OVERHEAD_BYTES

INF = float("inf")


def _delay_bounds_s(delay_ms: float, jitter_ms: float) -> tuple[float, float]:
    """Seconds no packet's delay falls below / rises above: each is max(delay + jitter x (2r - 1),
    0) / 1000 with 2r - 1 in [-1, 1), and float rounding keeps that order (no jitter: the delay)."""
    if not jitter_ms:
        d = delay_ms + 0.0
        return ((d if d > 0.0 else 0.0) / 1000.0,) * 2
    low, high = delay_ms - abs(jitter_ms), delay_ms + abs(jitter_ms)
    return (low if low > 0.0 else 0.0) / 1000.0, (high if high > 0.0 else 0.0) / 1000.0


class JitterDraws(Draws):
    """A link's jitter draws, with each draw's one-way delay in seconds for the link's current
    (delay_ms, jitter_ms) worked out a block at a time: max(delay + jitter x (2r - 1), 0) / 1000,
    the same float operations, in numpy, as the per-packet formula (so the same values)."""

    __slots__ = ("_key", "_delay_s", "_arr")

    def __init__(self, rng: random.Random) -> None:
        super().__init__(rng)
        self._key: tuple[float, float] | None = None
        self._delay_s: list[float] = []
        self._arr: np.ndarray = np.empty(0)  # `buf` as an array, for the block's delays

    def _refill(self, n: int) -> None:
        self._arr = np.concatenate((self._arr[self.pos :], self.rng.random_sample(max(self.block, n))))
        self.buf = self._arr.tolist()
        self.pos = 0
        self._key = None

    def delays_s(self, n: int, delay_ms: float, jitter_ms: float) -> list[float]:
        """One-way delays (s) of the next n packets, one draw each."""
        end = self.pos + n
        if end > len(self.buf):
            self._refill(n)
            end = n
        if self._key != (delay_ms, jitter_ms):
            d = delay_ms + jitter_ms * (2.0 * self._arr - 1.0)
            self._delay_s = (np.where(d > 0.0, d, 0.0) / 1000.0).tolist()
            self._key = (delay_ms, jitter_ms)
        out = self._delay_s[self.pos : end]
        self.pos = end
        return out


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
        self._jitter = JitterDraws(random.Random(f"{seed}:{index}:jitter"))
        self.loss = LossProcess(rng)
        self.reverse_loss = LossProcess(random.Random(f"{seed}:{index}:reverse-loss"))
        self._reverse_jitter_rng = random.Random(f"{seed}:{index}:reverse-jitter")
        self.report_interval_s = report_interval_s
        self._inv_interval = 1.0 / report_interval_s
        horizon = scenario.duration_s + scenario.receiver.latency_ms / 1000.0 + 5.0
        n_bins = int(horizon / report_interval_s) + 2
        self.rx_bytes = [0] * n_bins  # payload bytes of data that arrived in each report interval
        self.rx_packets = [0] * n_bins  # packets of any kind that arrived in each report interval
        # The FIFO's contents, a burst per entry: [departures, sizes, index of the first not yet
        # gone, latest departure, IP bytes not yet gone, overhead to add to each size for its IP
        # bytes] (a tuple per packet cost a third of the work).
        self._queue: deque[list[Any]] = deque()
        self._queued_bytes = 0
        self.drops = {"queue": 0, "down": 0, "loss": 0}
        # Per timeline state, what the per-packet path reads: (up, queue_bytes, loss, gilbert,
        # delay_ms, jitter_ms, least and most one-way delay in s), so it looks up no dict entries.
        self._params = [
            (st["up"], st["queue_bytes"], st["loss"], st["gilbert"], st["delay_ms"], st["jitter_ms"])
            + _delay_bounds_s(st["delay_ms"], st["jitter_ms"])
            for _, st in self._timeline
        ]
        self._cached: tuple[float, float, dict[str, Any]] = (-1.0, -1.0, self._timeline[0][1])
        self._cached_params = self._params[0]

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
        self._cached_params = self._params[i]
        return self._timeline[i][1]

    def capacity_bps(self, t: float) -> float:
        return self.service.capacity_bps(t)

    def queued_bytes(self, t: float) -> int:
        """IP bytes in the bottleneck queue at t (packets leave in FIFO order at their departure)."""
        q = self._queue
        while q:
            entry = q[0]
            if entry[3] <= t:  # the whole burst has left
                self._queued_bytes -= entry[4]
                q.popleft()
                continue
            deps, sizes, i, over = entry[0], entry[1], entry[2], entry[5]
            # Departures rise within a burst and its latest is after t: those left are a prefix.
            j = bisect.bisect_right(deps, t, i)
            gone = sum(sizes[i:j]) + (j - i) * over
            entry[2] = j
            entry[4] -= gone
            self._queued_bytes -= gone
            break
        return self._queued_bytes

    def _enqueue(self, served: list[float], kept: list[int]) -> None:
        if kept:
            total = sum(kept)
            self._queue.append([served, kept, 0, max(served), total, 0])
            self._queued_bytes += total

    def send(self, t: float, size: int) -> float | None:
        """Hand a packet to the link at t: its arrival time at the receiver, or None if lost."""
        return self.send_burst(t, (size,))[0]

    def send_burst(self, t: float, sizes: Sequence[int], data: bool = True) -> list[float | None]:
        """Hand packets to the link together at t (a frame's share): arrival times, None where lost.

        `sizes` are payload bytes of data packets, or whole IP packets when `data` is False
        (librist's echo requests and other control packets).

        One call per burst rather than per packet keeps the sim fast; the per-packet outcome is
        exactly what sending them one by one would give (the same draws from each random stream,
        in the same order).
        """
        lo, hi, _ = self._cached
        if not lo <= t < hi:
            self.state(t)
            lo, hi, _ = self._cached
        up, limit, loss_p, gilbert, delay, jitter, low_s, high_s = self._cached_params
        n = len(sizes)
        if not up:
            self.drops["down"] += n
            return [None] * n
        if not n:
            return []
        queue = self._queue
        # At most the room: departures since the queue was last counted are not taken off yet.
        # Counting them walks the queue, so it is done only when the difference could matter.
        room = limit - self._queued_bytes
        over = WIRE_OVERHEAD_BYTES if data else 0
        if n == 1:  # echoes, resends, a small link's share: the same steps for one packet
            if sizes[0] + over > room and queue:
                room = limit - self.queued_bytes(t)
            return [self._send_one(t, sizes[0], over, room, hi, data)]
        total = sum(sizes) + n * over
        if total > room and queue:
            room = limit - self.queued_bytes(t)
        if total > room:  # tail drop: some of the burst does not fit
            return self._send_dropping(t, [size + over for size in sizes], room, data)
        served = self.service.serve_burst(t, sizes, over)
        last = served[-1]
        if INF in served:
            queue.append([served, sizes, 0, INF, total, over])
            self._queued_bytes += total
            return self._deliver(served, [size + over for size in sizes], data)
        queue.append([served, sizes, 0, last, total, over])  # finite departures rise: the last is latest
        self._queued_bytes += total
        if gilbert is not None or last >= hi:
            # Burst losses, or a state change before the last departure: packet by packet.
            return self._deliver(served, [size + over for size in sizes], data)
        # The common case: every packet leaves within the state of `t`; independent loss only.
        n_lost = 0
        if loss_p:
            draws = self.loss.draws.take(n)
            if loss_p > min(draws):
                kept = [r >= loss_p for r in draws]
                n_lost = kept.count(False)
        if jitter:
            delays = self._jitter.delays_s(n - n_lost, delay, jitter)
            arr = list(map(add, compress(served, kept) if n_lost else served, delays))
        else:
            arr = list(map(add, compress(served, kept) if n_lost else served, repeat(low_s)))
        out: list[float | None]
        if n_lost:
            self.drops["loss"] += n_lost
            it = iter(arr)
            out = [next(it) if k else None for k in kept]
            payload = sum(compress(sizes, kept)) if data else 0
        else:
            out = arr  # type: ignore[assignment]
            payload = total - n * over if data else 0
        if arr:
            # Every arrival lies within [first departure + least delay, last + most delay]: one
            # report bin holds them all when both ends fall in it (the usual case).
            inv = self._inv_interval
            k = int((served[0] + low_s) * inv)
            if k != int((last + high_s) * inv):  # the bounds straddle two bins: the arrivals may not
                k = int(min(arr) * inv)
                if k != int(max(arr) * inv):
                    k = -1
            if 0 <= k < len(self.rx_packets):
                self.rx_packets[k] += len(arr)
                self.rx_bytes[k] += payload
            else:
                self._count_arrivals(arr, list(compress(sizes, kept)) if n_lost else sizes, over, data)
        return out

    def _send_one(self, t: float, size: int, over: int, room: int, hi: float, data: bool) -> float | None:
        """send_burst for a single packet (the same outcome and draws as the general path)."""
        wire = size + over
        if wire > room:
            self.drops["queue"] += 1
            return None
        depart = self.service.serve(t, wire)
        self._queue.append([[depart], (size,), 0, depart, wire, over])
        self._queued_bytes += wire
        if depart == INF:
            self.drops["down"] += 1
            return None
        _, _, loss_p, gilbert, delay, jitter, _, _ = self._cached_params  # the state at send time
        if gilbert is not None:
            if self.loss.lost(loss_p, gilbert):
                self.drops["loss"] += 1
                return None
        elif loss_p and self.loss.draws.random() < loss_p:
            self.drops["loss"] += 1
            return None
        if not depart < hi:  # leaves in a later state: its delay and jitter
            here = self.state(depart)
            delay, jitter = here["delay_ms"], here["jitter_ms"]
        d = delay + (jitter * (2.0 * self._jitter.random() - 1.0) if jitter else 0.0)
        arrival = depart + (d if d > 0.0 else 0.0) / 1000.0
        k = int(arrival * self._inv_interval)
        try:
            self.rx_packets[k] += 1
        except IndexError:  # after the last report: nobody will ask
            return arrival
        if data:
            self.rx_bytes[k] += wire - WIRE_OVERHEAD_BYTES
        return arrival

    def _count_arrivals(self, arr: list[float], sizes: Sequence[int], over: int, data: bool) -> None:
        """Count arrivals (payload bytes of data, packets of any kind) in the report bins."""
        rx_bytes, rx_packets, inv = self.rx_bytes, self.rx_packets, self._inv_interval
        low = int(min(arr) * inv)
        high = low + 1
        if int(max(arr) * inv) == high and high < len(rx_packets):
            # The usual straddle, two bins: int(x) >= high iff x >= high (x >= 0), so the later
            # bin's packets are picked in C, with the same products; integer sums are exact.
            later = list(map(le, repeat(high), map(mul, arr, repeat(inv))))
            n_later = later.count(True)
            rx_packets[high] += n_later
            rx_packets[low] += len(arr) - n_later
            if data:
                extra = over - WIRE_OVERHEAD_BYTES
                late_bytes = sum(compress(sizes, later)) + n_later * extra
                rx_bytes[high] += late_bytes
                rx_bytes[low] += sum(sizes) + len(arr) * extra - late_bytes
            return
        for arrival, size in zip(arr, sizes):
            k = int(arrival * inv)
            try:
                rx_packets[k] += 1
            except IndexError:  # after the last report: nobody will ask
                continue
            if data:
                rx_bytes[k] += size + over - WIRE_OVERHEAD_BYTES

    def _send_dropping(self, t: float, wire: list[int], room: int, data: bool) -> list[float | None]:
        """A burst that does not fit the queue: tail drop packet by packet, then serve the rest."""
        accepted = []
        for size in wire:
            if size <= room:
                accepted.append(size)
                room -= size
            else:
                accepted.append(0)
        kept = [s for s in accepted if s]
        served = self.service.serve_burst(t, kept)
        self._enqueue(served, kept)
        return self._deliver(served, accepted, data)

    def _deliver(self, served: list[float], accepted: list[int], data: bool) -> list[float | None]:
        """Loss, delay and jitter packet by packet; `accepted` is 0 where the queue dropped one."""
        loss_p, gilbert = self._cached_params[2:4]  # the state at send time
        lost, rnd = self.loss.lost, self.loss.draws.random
        jitter_rnd = self._jitter.random
        lo, hi, here = self._cached  # state valid on [lo, hi): departures mostly fall inside
        out: list[float | None] = []
        departures = iter(served)
        rx_bytes, rx_packets = self.rx_bytes, self.rx_packets
        inv = self._inv_interval
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
