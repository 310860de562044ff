"""Runs one scenario in SimPy: encoder, bonding controller, links, ARQ and the bonded receiver.

SimPy drives frames, stats intervals and retransmissions; a packet's path through its link is
computed when it is sent (see service.py), so there is no SimPy process per packet.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import simpy

from bondlab.core.bonding import BondingController
from bondlab.core.encoder import EncoderModel, Frame
from bondlab.core.metrics import build_metrics
from bondlab.core.receiver import BondedReceiver
from bondlab.scenario import Scenario
from bondlab.sim.link import SimLink
from bondlab.sim.rist_stats import RistStatsCounter

ProgressFn = Callable[[float], None]


@dataclass
class RunResult:
    metrics: dict[str, Any]
    timeseries: pd.DataFrame
    messages: list[dict[str, Any]] = field(default_factory=list)
    delays_ms: np.ndarray = field(default_factory=lambda: np.zeros(0))


@dataclass(slots=True)
class _Lost:
    seq: int
    frame_id: int
    size: int
    deadline: float


class SimRun:
    def __init__(
        self, scenario: Scenario, scheduler: str, seed: int | None = None, progress: ProgressFn | None = None
    ) -> None:
        self.scenario = scenario
        self.seed = scenario.seed if seed is None else seed
        self.env = simpy.Environment()
        self.links = [SimLink(scenario, i, self.seed) for i in range(len(scenario.links))]
        self.counters = [RistStatsCounter() for _ in self.links]
        self.controller = BondingController.from_scenario(scenario, scheduler)
        self.encoder = EncoderModel.from_scenario(scenario)
        self.receiver = BondedReceiver(scenario.receiver.latency_ms, reorder=False)
        self.progress = progress
        self._pending_loss: list[list[_Lost]] = [[] for _ in self.links]
        self._seq = 0
        self.packets_sent = 0
        self.dropped_at_sender = 0
        self.retransmissions = 0
        self.bitrate_changes = 0
        self._bitrate_samples: list[float] = []
        self._cols: dict[str, list[Any]] = {}  # timeseries, column by column

    # -- packet path -------------------------------------------------------------------------
    def _transmit(self, li: int, seq: int, frame_id: int, size: int, deadline: float, retx: bool) -> None:
        now = self.env.now
        self.counters[li].on_send(size, retx)
        arrival = self.links[li].send(now, size)
        if arrival is None:
            self._pending_loss[li].append(_Lost(seq, frame_id, size, deadline))
            return
        self.receiver.on_packet(seq, frame_id, arrival)
        if self._pending_loss[li]:
            self._nack(li, arrival)

    def _send_burst(self, li: int, seqs: list[int], sizes: list[int], frame_id: int, deadline: float) -> None:
        """A frame's packets for one link, handed over together (same outcome as one by one)."""
        self.counters[li].on_send_burst(len(seqs), sum(sizes))
        self.packets_sent += len(seqs)
        pending = self._pending_loss[li]
        arrivals = self.links[li].send_burst(self.env.now, sizes)
        if not pending and None not in arrivals:  # the common case: nothing lost, nothing to NACK
            self.receiver.on_burst(frame_id, seqs, arrivals)  # type: ignore[arg-type]
            return
        for seq, size, arrival in zip(seqs, sizes, arrivals):
            if arrival is None:
                pending.append(_Lost(seq, frame_id, size, deadline))
            else:
                self.receiver.on_packet(seq, frame_id, arrival)
                if pending:
                    self._nack(li, arrival)
                    pending = self._pending_loss[li]

    def _nack(self, li: int, detect_t: float) -> None:
        """The receiver sees the gap when a later packet arrives and NACKs back over the same link."""
        gaps, self._pending_loss[li] = self._pending_loss[li], []
        link = self.links[li]
        if not link.reverse_ok(detect_t):
            return
        nack_at = detect_t + link.state(detect_t)["delay_ms"] / 1000.0
        one_way = link.state(detect_t)["delay_ms"] / 1000.0
        retry = [g for g in gaps if nack_at + one_way < g.deadline]
        if retry:
            ev = self.env.timeout(nack_at - self.env.now)
            ev.callbacks.append(lambda _e, li=li, retry=retry: self._retransmit(li, retry))

    def _retransmit(self, li: int, gaps: list[_Lost]) -> None:
        for g in gaps:
            self.retransmissions += 1
            self._transmit(li, g.seq, g.frame_id, g.size, g.deadline, retx=True)

    # -- processes ---------------------------------------------------------------------------
    def _encoder_proc(self):  # type: ignore[no-untyped-def]
        env, duration = self.env, self.scenario.duration_s
        period = 1.0 / self.encoder.fps
        latency = self.scenario.receiver.latency_ms / 1000.0
        n = 0
        while n * period < duration:
            frame: Frame = self.encoder.next_frame(env.now)
            self._bitrate_samples.append(self.encoder.bitrate_bps)
            self.receiver.register_frame(
                frame.frame_id, frame.capture_t, frame.is_iframe, len(frame.packet_sizes), frame.size_bytes
            )
            deadline = frame.capture_t + latency
            fid = frame.frame_id
            pick = self.controller.pick
            seq = self._seq
            seqs: list[list[int]] = [[] for _ in self.links]  # this frame's packets, per link
            sizes: list[list[int]] = [[] for _ in self.links]
            for size in frame.packet_sizes:
                li = pick(size)
                if li is None:
                    self.controller.hold(size, (seq, fid, size, deadline), deadline)
                else:
                    seqs[li].append(seq)
                    sizes[li].append(size)
                seq += 1
            self._seq = seq
            for li, link_seqs in enumerate(seqs):
                if link_seqs:
                    self._send_burst(li, link_seqs, sizes[li], fid, deadline)
            n += 1
            yield env.timeout((n * period) - env.now)

    def _stats_proc(self):  # type: ignore[no-untyped-def]
        env = self.env
        interval = self.scenario.bonding.stats_interval_ms / 1000.0
        while env.now + interval <= self.scenario.duration_s + 1e-9:
            yield env.timeout(interval)
            now = env.now
            samples = [
                c.sample(now, interval, link.echo_rtt_ms(now)) for c, link in zip(self.counters, self.links)
            ]
            msg = self.controller.on_stats(now, samples)
            if msg is not None:
                self.encoder.request_bitrate(now, msg.recommended_bitrate)
            released, expired = self.controller.release_held(now)
            self.dropped_at_sender += expired
            for li, (seq, fid, size, deadline) in released:
                self.packets_sent += 1
                self._transmit(li, seq, fid, size, deadline, retx=False)
            self._record(now, samples)
            if self.progress is not None:
                self.progress(now)

    def _record(self, now: float, samples: list[Any]) -> None:
        cols = self._cols
        for link, view, s in zip(self.links, self.controller.view(), samples, strict=True):
            for key, value in (
                ("t", round(now, 6)),
                ("link", link.index),  # a category code: building string columns costs more than the sim
                ("capacity_bps", link.capacity_bps(now)),
                ("est_capacity_bps", view.est_capacity_bps),
                ("health", view.health),
                ("weight", view.weight),
                ("credits_bytes", view.credits_bytes),
                ("queue_bytes", link.queued_bytes(now)),
                ("rtt_ms", s.rtt_ms),
                ("sent_bps", s.bandwidth_bps),
                ("up", bool(link.state(now)["up"])),
                ("bitrate_bps", self.encoder.bitrate_bps),
            ):
                cols.setdefault(key, []).append(value)

    def run(self) -> RunResult:
        sc = self.scenario
        self.env.process(self._encoder_proc())
        self.env.process(self._stats_proc())
        self.env.run(until=sc.duration_s + sc.receiver.latency_ms / 1000.0 + 1.0)
        return self._result()

    def _result(self) -> RunResult:
        sc = self.scenario
        report = self.receiver.report()
        ts = pd.DataFrame(self._cols)
        if len(ts):
            names = [link.name for link in self.links]
            ts["link"] = pd.Categorical.from_codes(ts["link"].to_numpy(), categories=names)
        changes = sum(1 for a, b in zip(self._bitrate_samples, self._bitrate_samples[1:]) if a != b)
        # Mean true capacity per link (every link has one row per interval, so sums compare).
        cap = np.bincount(self._cols["link"], weights=self._cols["capacity_bps"]) if len(ts) else None
        cap_share = [float(c / cap.sum()) for c in cap] if cap is not None and cap.sum() else None
        metrics = build_metrics(
            report,
            sc.duration_s,
            mean_bitrate_bps=sum(self._bitrate_samples) / max(len(self._bitrate_samples), 1),
            retransmissions=self.retransmissions,
            congestion_messages=len(self.controller.messages),
            bitrate_changes=changes,
            packets_sent=self.packets_sent,
            packets_dropped=self.dropped_at_sender,
            link_names=[link.name for link in self.links],
            link_bytes=[c.total_bytes for c in self.counters],
            link_capacity_share=cap_share,
        )
        messages = [m.as_dict() for m in self.controller.messages]
        return RunResult(metrics, ts, messages, report.delays_ms)


def run_sim(
    scenario: Scenario, scheduler: str, seed: int | None = None, progress: ProgressFn | None = None
) -> RunResult:
    """Simulate `scenario` with `scheduler`; same scenario and seed give the same metrics."""
    return SimRun(scenario, scheduler, seed, progress).run()
