"""The oracle (sim only): a scheduler and a bitrate rule that read the sim's true link state.

Why it exists: to say how good a scheduler is, the leaderboard needs what the best possible
sender would have achieved on the same links. Every other scheduler and rate controller sees
only the feedback a real sender gets (tests/test_feedback.py); the oracle is the one component
that reads `SimLink` state, and only through `LinkTruth`, which the sim runner builds for it
(`attach_oracle`) when the scheduler is named `oracle`. Core never sees a link.

Scheduling: before a frame's picks the oracle copies each link's FIFO server (`ServiceCurve`)
and queue occupancy; per packet it serves the packet on each copy ("what if it went there
now") and sends it where it arrives first, committing the packet to that copy only. Arrival
is counted safely: the departure + the link's one-way delay + its whole jitter (the draws are
not read), + on a lossy link the time one resend needs (`repair_s`: a lost packet that cannot
be resent in time breaks its GOP). A packet that would be tail-dropped, enters a down link, or
cannot arrive by its playout deadline on any link goes nowhere (pick returns None: the sender
holds it and drops it at its deadline, so it costs no capacity). Links whose true loss is at
least `UNUSABLE_LOSS` are unusable. It chooses among the links the controller's weights allow
(the shared invariant: never a link the sender believes dead), so it bounds what a packet
scheduler can do on the same link set, not a clairvoyant link selection.

Bitrate (`OracleRate`, a SimPy process instead of core's rate controller): every stats interval,
for frames made after the encoder's reaction delay, the lower of two rules over the links the
controller's weights allow at that moment (what the scheduler may use), while they are of use
(up, loss below `UNUSABLE_LOSS`, safe one-way delay + repair within the latency; a link whose
delay spikes stops counting from the spike on):

    throughput: sum_i C_i x (1 - loss_i)
    I-frame:    sum_i C_i x (1 - loss_i) x (latency - delay_i - repair_i) x fps x (r + g - 1) / (g x r)

both x payload share / (1 + MARGIN), capped at the encoder's maximum. C_i is link i's true mean
capacity over W = playout latency + one interval from when the new bitrate takes effect (over
its queue budget, for the I-frame rule); the I-frame rule keeps the GOP's largest burst
(r = iframe_ratio, g = gop_frames) within what the links can carry by its deadline. MARGIN
leaves room for capacity moving within W and for resends. What is queued is not subtracted: it
is mostly the last I-frame's burst draining, already paid for in the bitrate's average
(subtracting it made the bitrate dip at every GOP). This is an honest rule, not an optimum: an
upper bound in practice (a test checks no scheduler beats its goodput beyond noise on bundled
scenarios), not a proof. It maximises decodable frames first: where a link's losses cannot be
repaired within the latency it leaves that link out, and a scheduler that uses it anyway can
carry more on-time (undecodable) bytes.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Any

from bondlab.core.rate_control import CongestionControl
from bondlab.core.schedulers import SchedulerInfo, register_scheduler
from bondlab.core.schedulers.dwrr import DeficitWeightedRoundRobin
from bondlab.sim.arq import REORDER_S, RTT_MAX_S, RTT_MIN_S
from bondlab.sim.link import SimLink
from bondlab.sim.service import ServiceCurve
from bondlab.wire import WIRE_OVERHEAD_BYTES

ORACLE = "oracle"
UNUSABLE_LOSS = 0.5  # a link that loses half its packets carries nothing worth its capacity
MARGIN = 0.1
CHANGE_DEADBAND = 0.02  # no message for a change below 2 % (each one is a quality change)
SAMPLE_S = 0.1  # the capacity integral's step (trace capacities are counted per 0.1 s window)
# ServiceCurve's state that a "what if" serve changes; restored after each trial.
_SERVER_STATE = ("busy_until", "_credit", "_next_opp", "_next_opp_seg", "_seg")


def mean_loss(state: dict[str, Any]) -> float:
    """A link state's long-run loss: independent loss plus the Gilbert chain's stationary loss."""
    loss = float(state["loss"])
    g = state.get("gilbert")
    if g:
        p_bad = g["p_good_bad"] / (g["p_good_bad"] + g["p_bad_good"])
        burst = p_bad * g["loss_bad"] + (1 - p_bad) * g.get("loss_good", 0.0)
        loss = 1 - (1 - loss) * (1 - burst)
    return loss


def one_way_s(state: dict[str, Any]) -> float:
    """The longest one-way delay a packet sees on the link: delay + the whole uniform jitter."""
    return (float(state["delay_ms"]) + float(state["jitter_ms"])) / 1000.0


def repair_s(state: dict[str, Any], frame_interval_s: float) -> float:
    """Time one resend of a lost packet needs on the link (0 if it loses nothing): the gap shows
    when a later packet arrives (at worst the next frame's), the receiver waits max(reorder
    buffer, RTT / 2) before its NACK (sim/arq.py), which crosses back, and the resend crosses."""
    if mean_loss(state) == 0:
        return 0.0
    rtt = 2 * one_way_s(state)
    clamped = min(max(rtt, RTT_MIN_S), RTT_MAX_S)  # the receiver's wait uses librist's clamped RTT
    return frame_interval_s + max(REORDER_S, clamped / 2) + rtt


class LinkTruth:
    """Read-only questions about the sim's links: the oracle's only window onto them."""

    def __init__(self, links: Sequence[SimLink]) -> None:
        self._links = list(links)

    def __len__(self) -> int:
        return len(self._links)

    def server_copy(self, i: int) -> ServiceCurve:
        """A copy of link i's FIFO server, to try packets on without touching the link."""
        return copy.copy(self._links[i].service)

    def queued_bytes(self, i: int, t: float) -> int:
        return self._links[i].queued_bytes(t)

    def state(self, i: int, t: float) -> dict[str, Any]:
        return self._links[i].state(t)

    def capacity_bps(self, i: int, t: float) -> float:
        """Link i's true capacity at t (IP bits/s; a trace's over the next 0.1 s)."""
        return self._links[i].capacity_bps(t)


class OracleScheduler:
    """Earliest true arrival per packet (see the module doc); DWRR until the sim attaches truth.

    Without truth (unit tests that build every registered scheduler from the registry) it has
    nothing to be an oracle with, so it splits by weights like DWRR.
    """

    def __init__(self, n_links: int, quantum_bytes: int = 1500, max_credit_quanta: float = 2.0) -> None:
        self.n_links = n_links
        self._fallback = DeficitWeightedRoundRobin(n_links, quantum_bytes, max_credit_quanta)
        self.truth: LinkTruth | None = None
        self._weights = [1.0] * n_links
        self._servers: list[ServiceCurve | None] = [None] * n_links
        self._queued = [0] * n_links
        self._limit = [0] * n_links
        self._now = 0.0
        self._deadline = math.inf
        self.frame_interval_s = 0.0
        self._copied_at = math.nan

    def attach(self, truth: LinkTruth, frame_interval_s: float) -> None:
        self.truth = truth
        self.frame_interval_s = frame_interval_s

    def set_weights(self, weights: Sequence[float]) -> None:
        self._weights = list(weights)
        self._fallback.set_weights(weights)
        self._copied_at = math.nan  # which links may be used changed: copy them afresh

    def allowed(self, i: int) -> bool:
        """Whether the controller's weights let link i be used now (the shared invariant)."""
        return self._weights[i] > 0

    def observe(self, t: float, links: Sequence[Any]) -> None:
        """The feedback is of no use to an oracle."""

    def begin_frame(self, now: float, deadline: float, is_iframe: bool) -> int | None:
        """Copy the links' servers and queues, unless already copied at this instant: the sender
        picks all its held packets (one begin_frame each) before it sends any of them, so the
        copies must go on counting what was picked since, not start again from the links."""
        self._now, self._deadline = now, deadline
        truth = self.truth
        if truth is None or now == self._copied_at:
            return None
        self._copied_at = now
        for i in range(self.n_links):
            state = truth.state(i, now)
            usable = self._weights[i] > 0 and state["up"] and mean_loss(state) < UNUSABLE_LOSS
            self._servers[i] = truth.server_copy(i) if usable else None
            self._queued[i] = truth.queued_bytes(i, now)
            self._limit[i] = int(state["queue_bytes"])
        return None

    def arrival(self, i: int, size: int) -> tuple[float, tuple[Any, ...]]:
        """When a packet of `size` payload bytes sent on link i now would safely have arrived
        (module doc), and the server state that sending it leaves (the copy is left as it was)."""
        server, truth = self._servers[i], self.truth
        wire = size + WIRE_OVERHEAD_BYTES
        if server is None or truth is None or self._queued[i] + wire > self._limit[i]:
            return math.inf, ()
        before = tuple(getattr(server, name) for name in _SERVER_STATE)
        depart = server.serve(self._now, wire)
        after = tuple(getattr(server, name) for name in _SERVER_STATE)
        for name, value in zip(_SERVER_STATE, before, strict=True):
            setattr(server, name, value)
        if depart == math.inf:
            return math.inf, ()
        state = truth.state(i, depart)
        return depart + one_way_s(state) + repair_s(state, self.frame_interval_s), after

    def pick(self, size: int) -> int | None:
        if self.truth is None:
            return self._fallback.pick(size)
        best, first = None, math.inf
        state: tuple[Any, ...] = ()
        for i in range(self.n_links):
            arrival, after = self.arrival(i, size)
            if arrival < first:
                best, first, state = i, arrival, after
        if best is None or first > self._deadline:
            return None
        server = self._servers[best]
        for name, committed in zip(_SERVER_STATE, state, strict=True):
            setattr(server, name, committed)
        self._queued[best] += size + WIRE_OVERHEAD_BYTES
        return best

    def credits(self) -> list[float]:
        return [0.0] * self.n_links


class OracleRate:
    """The oracle's encoder bitrate, set every stats interval from the links' true future."""

    def __init__(self, truth: LinkTruth, scenario: Any, scheduler: OracleScheduler | None = None) -> None:
        e, b = scenario.encoder, scenario.bonding
        self.truth = truth
        self.scheduler = scheduler  # links its weights forbid now carry nothing in this decision
        self.interval = b.stats_interval_ms / 1000.0
        self.reaction_s = e.reaction_delay_ms / 1000.0
        self.latency_s = scenario.receiver.latency_ms / 1000.0
        self.window_s = self.latency_s + self.interval
        self.frame_interval_s = 1.0 / e.fps
        # bitrate per bit/s that an I-frame's burst may take: bitrate x (gop / fps) x r / (r + g - 1)
        # bytes must leave within the budget, so bitrate <= carried bits x fps x (r + g - 1) / (g x r)
        self.iframe_factor = e.fps * (e.iframe_ratio + e.gop_frames - 1) / (e.gop_frames * e.iframe_ratio)
        self.payload_share = e.packet_bytes / (e.packet_bytes + WIRE_OVERHEAD_BYTES)
        self.min_bps, self.max_bps = int(e.min_bitrate_bps), int(e.max_bitrate_bps)
        self.target = int(e.start_bitrate_bps)

    def _budget(self, state: dict[str, Any]) -> float:
        """Time a packet may wait in the link's queue and still arrive, repairably, by its
        deadline; <= 0 when the link is of no use to the stream (down, lossy beyond use, or too slow)."""
        if not state["up"] or mean_loss(state) >= UNUSABLE_LOSS:
            return 0.0
        return float(self.latency_s - one_way_s(state) - repair_s(state, self.frame_interval_s))

    def _carried(self, i: int, start: float, window: float) -> float:
        """Mean bits/s link i delivers, lost packets aside, over [start, start + window], counting
        only the samples where it is of use (a link whose delay spikes mid-window stops counting)."""
        n = max(1, math.ceil(window / SAMPLE_S - 1e-9))
        total = 0.0
        for k in range(n):
            ts = start + k * SAMPLE_S
            state = self.truth.state(i, ts)
            if self._budget(state) > 0:
                total += self.truth.capacity_bps(i, ts) * (1 - mean_loss(state))
        return total / n

    def _links(self) -> list[int]:
        sched = self.scheduler
        return [i for i in range(len(self.truth)) if sched is None or sched.allowed(i)]

    def capacity_bps(self, t: float) -> float:
        """What the links can carry for frames made at t + reaction delay (IP bits/s)."""
        start = t + self.reaction_s
        return sum(self._carried(i, start, self.window_s) for i in self._links())

    def iframe_bps(self, t: float) -> float:
        """The bitrate whose I-frame the links carry within their budgets (IP bits/s)."""
        start = t + self.reaction_s
        bits = 0.0
        for i in self._links():
            budget = self._budget(self.truth.state(i, start))
            if budget > 0:
                bits += self._carried(i, start, budget) * budget
        return float(bits * self.iframe_factor)

    def bitrate(self, t: float) -> int:
        raw = min(self.capacity_bps(t), self.iframe_bps(t)) * self.payload_share / (1 + MARGIN)
        return int(max(self.min_bps, min(self.max_bps, raw)))

    def update(self, t: float) -> CongestionControl | None:
        """A message when the right bitrate moved by more than the deadband (always at t = 0)."""
        new = self.bitrate(t)
        if t > 0 and abs(new - self.target) <= CHANGE_DEADBAND * self.target:
            return None
        reason = "recovery" if new > self.target else "congestion"
        self.target = new
        return CongestionControl(t, new, self.capacity_bps(t), f"oracle {reason}")


def attach_oracle(run: Any) -> OracleRate:
    """Give a SimRun's oracle scheduler the truth and drive its encoder by `OracleRate`.

    Core's rate controller is switched off for this run (the oracle's rule replaces it); a SimPy
    process asks `OracleRate` every stats interval from t = 0 (no warm-up: nothing to learn).
    """
    truth = LinkTruth(run.transport.links)
    scheduler = run.controller.scheduler
    if not isinstance(scheduler, OracleScheduler):
        raise TypeError("attach_oracle needs a run of the oracle scheduler")
    scheduler.attach(truth, 1.0 / run.scenario.encoder.fps)
    run.controller.rate = None
    rate = OracleRate(truth, run.scenario, scheduler)
    run.env.process(_drive(run, rate))
    return rate


def _drive(run: Any, rate: OracleRate):  # type: ignore[no-untyped-def]
    env, loop = run.env, run.loop
    while env.now < run.scenario.duration_s:
        msg = rate.update(env.now)
        if msg is not None:
            loop.encoder.request_bitrate(env.now, msg.recommended_bitrate)
            loop.record.messages.append(msg.as_dict())
        yield env.timeout(rate.interval)


register_scheduler(
    SchedulerInfo(
        ORACLE,
        "Oracle",
        "#000000",
        lambda n, q, c: OracleScheduler(n, q, c),
        ("sim",),
        description="sim only: true earliest arrival per packet, bitrate from the true future capacity",
    )
)
