"""The bonding sender's brain, identical in sim and real: stats -> estimates -> weights -> picks,
and total capacity -> congestion-control messages for the encoder."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, TypeVar

from bondlab.core.estimator import EstimatorParams, LinkEstimator
from bondlab.core.estimator_params import LEGACY
from bondlab.core.rate_control import CongestionControl
from bondlab.core.rate_controllers import BitrateController, RateSignals, make_rate_controller
from bondlab.core.schedulers import LinkFeedback, make_scheduler
from bondlab.core.stats import PeerStats

log = logging.getLogger("bondlab.bonding")
# No rate decision in the first 2.5 s: the equal start split overloads a small link, and only
# after the estimators moved the load (overload detected within a second) and the next I-frame
# (2 s GOP) ran over the big link at its rate does the delivery evidence show what the bond can
# carry; cutting on less is the cold-start collapse (6 -> 1.5 Mbps) real runs showed.
WARMUP_S = 2.5
# A link whose backlog holds a new packet for half the playout latency gets none (the weight
# falls from a quarter of it): the other half is for the way there, jitter and one repair.
BACKLOG_SHARE = 0.5
T = TypeVar("T")


class BondingController:
    def __init__(
        self,
        n_links: int,
        scheduler: str,
        params: EstimatorParams,
        quantum_bytes: int,
        max_credit_quanta: float,
        rate: BitrateController | None,
    ) -> None:
        self.n_links = n_links
        self.scheduler_name = scheduler
        self.scheduler = make_scheduler(scheduler, n_links, quantum_bytes, max_credit_quanta)
        # At the start the only fact is the rate the operator chose for this bond: each link starts
        # at its share of it with the headroom on top, so the first rate decision is not a cut
        # made for want of evidence (the receiver's reports then take over).
        start = rate.bitrate * rate.headroom if rate is not None else 1_000_000
        self.estimators = [LinkEstimator(params, start / n_links) for _ in range(n_links)]
        self.rate = rate
        # A rate controller that reads each link's samples (forecast) says what each link counts.
        self._observe_links: Callable[..., list[float]] | None = (
            rate.observe if getattr(rate, "reads_links", False) else None  # type: ignore[union-attr]
        )
        self.messages: list[CongestionControl] = []
        self._held: deque[tuple[float, int, Any]] = deque()
        self.pick = self.scheduler.pick  # bound once: this is the per-packet hot path
        # A frame's picks in one call, where the scheduler has it (DWRR): `pick` per packet else.
        self.pick_many: Callable[[Sequence[int]], list[int | None]] | None = getattr(
            self.scheduler, "pick_many", None
        )
        # Optional scheduler hooks (core/schedulers/base.py), looked up once; RR and DWRR have none.
        self._observe: Callable[[float, Sequence[LinkFeedback]], None] | None = getattr(
            self.scheduler, "observe", None
        )
        self.begin_frame: Callable[[float, float, bool], int | None] | None = getattr(
            self.scheduler, "begin_frame", None
        )
        self._last_t = 0.0
        # Each link's own weight and counted capacity as of the last stats tick: worked out once
        # there, then read by the sender loop's record and copies (nothing changes the estimators
        # until the next tick).
        self.link_weights = [0.0] * n_links
        self.link_counted = [0.0] * n_links
        self.scheduler.set_weights(self.weights())

    @property
    def pick(self) -> Callable[[int], int | None]:
        """One link per packet (None: no link may take it)."""
        return self._pick

    @pick.setter
    def pick(self, fn: Callable[[int], int | None]) -> None:
        # A picker set from outside (a test's, a wrapper) is asked packet by packet, so it sees
        # every packet: the scheduler's batch call would go round it.
        self._pick = fn
        self.pick_many = None

    @classmethod
    def from_scenario(cls, scenario: Any, scheduler: str) -> BondingController:
        """Build from a bondlab Scenario (duck-typed so core stays free of the YAML layer)."""
        b = scenario.bonding
        params = EstimatorParams(
            alpha=b.alpha,
            rtt_limit_ms=b.rtt_limit_ms,
            loss_limit=b.loss_limit,
            probe_gain=b.probe_gain,
            backlog_limit_s=BACKLOG_SHARE * scenario.receiver.latency_ms / 1000.0,
        )
        rate = make_rate_controller(scenario)
        if not getattr(rate, "reads_links", False):
            params = replace(params, **LEGACY)
        return cls(len(scenario.links), scheduler, params, b.quantum_bytes, b.max_credit_quanta, rate)

    def weights(self, link_weights: Sequence[float] | None = None) -> list[float]:
        """The scheduler's weights: each link's own (`link_weights`, if worked out already)."""
        weights = [est.weight for est in self.estimators] if link_weights is None else list(link_weights)
        if not any(weights):  # every live link backed up: still better than holding the stream
            weights = [est.capacity_bps * est.health if est.up else 0.0 for est in self.estimators]
        return weights

    @property
    def total_capacity_bps(self) -> float:
        """What the rate controller counts: per link, delivered-evidenced capacity x health (0 if down)."""
        return sum(est.counted_bps for est in self.estimators)

    def on_stats(
        self, t: float, samples: Sequence[PeerStats], decide: bool = True
    ) -> CongestionControl | None:
        """One stats interval for every link: update estimates and weights, maybe advise the encoder
        (not when `decide` is False: the sender knows this interval's feedback is its own stall)."""
        live = [est.capacity_bps for est in self.estimators if est.up]
        mean = sum(live) / len(live) if live else None
        for est, sample in zip(self.estimators, samples, strict=True):
            est.update(sample, mean)
        self.link_weights = [est.weight for est in self.estimators]
        if self._observe_links is not None:  # a controller that counts links its own way
            self.link_counted = self._observe_links(t, samples, self.estimators)
        else:
            self.link_counted = [est.counted_bps for est in self.estimators]
        weights = self.weights(self.link_weights)
        self.scheduler.set_weights(weights)
        dt, self._last_t = max(t - self._last_t, 1e-6), t
        if self._observe is not None:
            self._observe(t, self.feedback(samples, dt))
        if self.rate is None or t < getattr(self.rate, "warmup_s", WARMUP_S) or not decide:
            return None
        signals = self.signals(weights, dt) if self.rate.reads_signals else None
        msg = self.rate.update(t, sum(self.link_counted), signals)  # total_capacity_bps
        if msg is not None:
            self.messages.append(msg)
            log.info(
                "congestion-control at t=%.2fs: recommended-bitrate=%d (capacity %.0f bps, %s)",
                t,
                msg.recommended_bitrate,
                msg.total_capacity_bps,
                msg.reason,
            )
        return msg

    def feedback(self, samples: Sequence[PeerStats], dt: float) -> list[LinkFeedback]:
        """Per link, what a scheduler may read this tick: the estimators' view and the raw counts."""
        return [
            LinkFeedback(
                est.srtt_ms,
                est.rtt_min_ms,
                est.capacity_bps,
                est.delivered.value,
                est.backlog_bytes,
                (s.delivered_bps or 0.0) * dt / 8.0,
                s.retransmitted,
                est.up,
                est.health,
            )
            for est, s in zip(self.estimators, samples, strict=True)
        ]

    def signals(self, weights: Sequence[float], dt: float) -> RateSignals:
        """The bond's pressure for rate controllers: RTTs weighted by where packets go, backlogs summed."""
        live = [(est, w) for est, w in zip(self.estimators, weights) if est.up and w > 0]
        timed = [(est, w) for est, w in live if est.srtt_ms is not None]
        total = sum(w for _, w in timed)
        rtt = base = None
        if total > 0:
            rtt = sum(w * (est.srtt_ms or 0.0) for est, w in timed) / total
            base = sum(w * (est.rtt_min_ms or est.srtt_ms or 0.0) for est, w in timed) / total
        up = [est for est in self.estimators if est.up]
        return RateSignals(
            dt,
            rtt,
            base,
            sum(w * est.queue_delay_ms for est, w in timed) / total if total > 0 else 0.0,
            sum(est.backlog_bytes for est in up),
            max((est.backlog_s for est in up), default=0.0),
            any(est.overloaded for est in up),
            any(est.congested for est in up),
        )

    def hold(self, size: int, item: T, deadline: float) -> None:
        """`pick` gave None (every link dead, or for EDPF none in time): keep it for `release_held`."""
        self._held.append((deadline, size, item))

    def release_held(self, now: float) -> tuple[list[tuple[int, Any]], int]:
        """After new weights: held packets that may go now (oldest first), and how many expired.

        Packets wait while every link is dead rather than being dropped at once, so a blackout
        shorter than the playout latency costs nothing; those past their deadline are dropped.
        """
        out: list[tuple[int, Any]] = []
        expired = 0
        begin = self.begin_frame
        waiting: deque[tuple[float, int, Any]] = deque()
        while self._held:
            deadline, size, item = self._held.popleft()
            if deadline <= now:
                expired += 1
                continue
            if begin is not None:
                begin(now, deadline, False)
            link = self.scheduler.pick(size)
            if link is None:
                waiting.append((deadline, size, item))
                # A weight-only scheduler refuses everything once it refuses one (no live link);
                # a deadline-aware one refused this packet only: those behind it may still go.
                if begin is None:
                    break
                continue
            out.append((link, item))
        waiting.extend(self._held)
        self._held = waiting
        return out, expired
