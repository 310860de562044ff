"""The bonding sender's brain, identical in sim and real: stats -> estimates -> weights -> picks,
and total capacity -> congestion-control messages for the encoder."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bondlab.core.estimator import EstimatorParams, LinkEstimator
from bondlab.core.rate_control import CongestionControl, RateController
from bondlab.core.schedulers import make_scheduler
from bondlab.core.stats import PeerStats

log = logging.getLogger("bondlab.bonding")


@dataclass(frozen=True, slots=True)
class LinkView:
    """What the controller believes about one link, for the timeseries."""

    est_capacity_bps: float
    health: float
    weight: float
    credits_bytes: float
    rtt_ms: float
    loss: float
    up: bool


class BondingController:
    def __init__(self, n_links: int, scheduler: str, params: EstimatorParams, quantum_bytes: int,
                 max_credit_quanta: float, rate: RateController | None) -> None:
        self.n_links = n_links
        self.scheduler_name = scheduler
        self.scheduler = make_scheduler(scheduler, n_links, quantum_bytes, max_credit_quanta)
        start = rate.bitrate if rate is not None else 1_000_000
        self.estimators = [LinkEstimator(params, start / n_links) for _ in range(n_links)]
        self.rate = rate
        self.messages: list[CongestionControl] = []
        self.scheduler.set_weights(self.weights())

    @classmethod
    def from_scenario(cls, scenario: Any, scheduler: str) -> BondingController:
        """Build from a bondlab Scenario (duck-typed so core stays free of the YAML layer)."""
        b, e = scenario.bonding, scenario.encoder
        params = EstimatorParams(alpha=b.alpha, rtt_limit_ms=b.rtt_limit_ms, loss_limit=b.loss_limit,
                                 probe_gain=b.probe_gain)
        rate = (RateController(e.start_bitrate_bps, e.min_bitrate_bps, e.max_bitrate_bps, b.headroom,
                               b.raise_hold_s, b.raise_step) if b.rate_control else None)
        return cls(len(scenario.links), scheduler, params, b.quantum_bytes, b.max_credit_quanta, rate)

    def weights(self) -> list[float]:
        return [est.weight for est in self.estimators]

    @property
    def total_capacity_bps(self) -> float:
        return sum(est.capacity_bps * est.health for est in self.estimators if est.up)

    def on_stats(self, t: float, samples: Sequence[PeerStats]) -> CongestionControl | None:
        """One stats interval for every link: update estimates and weights, maybe advise the encoder."""
        for est, sample in zip(self.estimators, samples, strict=True):
            est.update(sample)
        self.scheduler.set_weights(self.weights())
        if self.rate is None:
            return None
        msg = self.rate.update(t, self.total_capacity_bps)
        if msg is not None:
            self.messages.append(msg)
            log.info("congestion-control at t=%.2fs: recommended-bitrate=%d (capacity %.0f bps, %s)",
                     t, msg.recommended_bitrate, msg.total_capacity_bps, msg.reason)
        return msg

    def pick(self, size: int) -> int | None:
        return self.scheduler.pick(size)

    def view(self) -> list[LinkView]:
        credits = self.scheduler.credits()
        return [LinkView(est.capacity_bps, est.health, est.weight, credits[i], est.rtt.get(), est.loss.get(),
                         est.up) for i, est in enumerate(self.estimators)]
