"""What the feedback schedulers share: which links may take packets, and a sender-side queue model.

Not a scheduler itself. At each stats tick a link's queue is reset to the estimator's backlog
(given minus reported delivered, lagged as reports are: see core/estimator.py); between ticks
the scheduler adds what it hands the link and drains it at the capacity estimate as time passes
(`begin_frame`). That is all a real sender can know: its own sends and the reports.

Eligibility follows the weights, as DWRR's does: weight 0 (down, health 0, backlog past the
limit, or held back while librist warms a revived flow) means no packet, unless every link is
at 0, when `pick` returns None.
"""

from __future__ import annotations

from collections.abc import Sequence

from bondlab.core.schedulers.base import LinkFeedback

DEFAULT_RATE_BPS = 1_000_000.0  # before any feedback: every link alike
DEFAULT_RTT_S = 0.1  # before the first echo reply: librist's echo interval, a plain guess
FLOOR_BPS = 100_000.0  # the estimator's own floor: a live link is never thought slower


class QueueModel:
    """Per-link eligibility, queue (bytes), drain rate (bytes/s), base one-way delay and RTT (s)."""

    def __init__(self, n_links: int) -> None:
        self.n_links = n_links
        self.live = [True] * n_links
        self.any_live = n_links > 0
        self.queued = [0.0] * n_links
        self.rate = [DEFAULT_RATE_BPS / 8] * n_links
        self.srtt = [DEFAULT_RTT_S] * n_links
        self.base_rtt = [DEFAULT_RTT_S] * n_links
        self.owd = [DEFAULT_RTT_S / 2] * n_links
        self.has_rtt = [False] * n_links
        self.observed = False
        self.now = 0.0  # the time the queues were last aged to
        self.budget = float("inf")  # seconds left to the current frame's deadline

    def set_weights(self, weights: Sequence[float]) -> None:
        if len(weights) != self.n_links:
            raise ValueError(f"expected {self.n_links} weights, got {len(weights)}")
        self.live = [w > 0 for w in weights]
        self.any_live = any(self.live)
        if not self.observed:  # no feedback yet: the weights are the only rate hint
            self.rate = [max(w, FLOOR_BPS) / 8 for w in weights]

    def observe(self, t: float, links: Sequence[LinkFeedback]) -> None:
        self.observed = True
        self.now = t
        for i, f in enumerate(links):
            self.queued[i] = f.backlog_bytes
            self.rate[i] = max(f.capacity_bps, FLOOR_BPS) / 8
            if f.rtt_ms is not None:
                self.has_rtt[i] = True
                self.srtt[i] = f.rtt_ms / 1000.0
                base = f.rtt_min_ms if f.rtt_min_ms is not None else f.rtt_ms
                self.base_rtt[i] = base / 1000.0
                # The queue model holds the queueing delay, so the way there is half the base RTT.
                self.owd[i] = self.base_rtt[i] / 2

    def age(self, now: float, deadline: float) -> None:
        """Drain each queue for the time since the last call; note the frame's deadline."""
        dt = now - self.now
        if dt > 0:
            self.queued = [max(0.0, q - r * dt) for q, r in zip(self.queued, self.rate)]
            self.now = now
        self.budget = deadline - now

    def arrival_s(self, i: int, size: int) -> float:
        """Seconds from now until a packet given to link i now would arrive, by this model."""
        return (self.queued[i] + size) / self.rate[i] + self.owd[i]
