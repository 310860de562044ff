"""Per-link estimator fed by librist-shaped stats: smoothed RTT, loss and a capacity estimate.

librist's sender `bandwidth` is the rate *we* pushed into the link, not what the link could carry.
An estimator that trusts it converges on its own send rate and never discovers spare capacity.
The way out used here (delay-based, in the spirit of LEDBAT/BBR):

* queueing delay = smoothed RTT - minimum RTT over a window. While it stays low the link is
  app-limited: the estimate may grow above the sent rate, by `probe_gain` per second of the
  larger of its own estimate and the bond's mean (so a small link catches up additively instead
  of keeping its share forever), up to `probe_cap` x the sent rate; the scheduler then offers the
  link more and finds out.
* when queueing delay passes `congested_ms` and is still rising, the link is saturated, so the
  sent rate is an upper bound on capacity: the estimate drops to `(1 - backoff)` x min(estimate,
  sent rate), then holds for an RTT plus half the smoothing time, so one episode is not
  punished again while the smoothed RTT catches up with a queue that is already draining.
* what the rate controller may count is narrower than what steers the weights: capacity that was
  delivered. The receiver's reports give a delivery rate; the counted capacity is the estimate,
  capped by the best delivery rate of the last `evidence_window_s`, plus an allowance of
  `evidence_allowance` that shrinks to nothing as queueing delay builds (a link that queues is
  delivering all it can). Probing may steer the scheduler; it cannot raise the encoder alone.
* a link is up only while the receiver's reports show packets arriving on it: replies on the
  reverse path prove nothing about the uplink (a link at 100 % loss still answers keepalives).
  No such proof for `down_after_s`: down. It restarts cold at `cold_start_bps` and has to earn
  its rate again (a cold link at full start rate loses packets).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from bondlab.core.ewma import Ewma
from bondlab.core.health import health
from bondlab.core.stats import PeerStats


@dataclass
class EstimatorParams:
    alpha: float = 0.125
    rtt_limit_ms: float = 1000.0
    loss_limit: float = 0.2
    probe_gain: float = 0.25  # fractional growth per second while app-limited
    probe_cap: float = 0.5  # estimate may exceed the sent rate by this fraction
    congested_ms: float = 40.0  # queueing delay that means "saturated"
    backoff: float = 0.15
    # Receiver reports come every stats interval (100 ms) and echoes every 100 ms: 6 reports in a
    # row without new arrivals is no accident at any loss below ~50 %, and it keeps a dead link
    # out within a second (0.6 s + the report's way back).
    down_after_s: float = 0.6
    cold_start_bps: float = 500_000.0
    floor_bps: float = 100_000.0
    rtt_min_window_s: float = 10.0
    # A delivery sample spans one report interval, three frames: an I-frame (4 P-frames) in it
    # nearly doubles the rate. An EWMA of 1/10 (about 1 s) averages that away; the max over 3 s
    # keeps the best recent rate after the load moves away.
    delivered_alpha: float = 0.1
    evidence_window_s: float = 3.0
    # Counted capacity may exceed the delivered rate by this much while no queue builds: more than
    # the rate controller's headroom x margin (1.1 x 1.05), so it can still climb, by steps of up
    # to 1.3 / 1.1 = 18 % (from 6 to 11 Mbps in four raises).
    evidence_allowance: float = 0.3


class LinkEstimator:
    """Turns one link's stats samples into (capacity estimate, health); time comes from the samples."""

    def __init__(self, params: EstimatorParams, initial_bps: float) -> None:
        self.p = params
        self.rtt = Ewma(params.alpha)
        self.loss = Ewma(params.alpha)
        self.capacity_bps = max(initial_bps, params.floor_bps)
        self.health = 1.0
        self.up = True
        self.congested = False
        self._last_t: float | None = None
        self._hold_until = float("-inf")
        self._prev_rtt: float | None = None
        self._rtt_window: deque[tuple[float, float]] = deque()
        self.sent_bps = Ewma(params.alpha)
        self.delivered = Ewma(params.delivered_alpha)
        self._delivered_window: deque[tuple[float, float]] = deque()

    @property
    def weight(self) -> float:
        return self.capacity_bps * self.health if self.up else 0.0

    @property
    def delivered_max_bps(self) -> float | None:
        """Best smoothed delivery rate of the evidence window (None before any report)."""
        return self._delivered_window[0][1] if self._delivered_window else None

    @property
    def counted_bps(self) -> float:
        """Capacity the rate controller may count: estimate x health, capped by delivery evidence."""
        if not self.up:
            return 0.0
        best = self.delivered_max_bps
        if best is None:
            return self.weight
        slack = max(0.0, 1.0 - self.queue_delay_ms / self.p.congested_ms)
        evidenced = best * (1.0 + self.p.evidence_allowance * slack)
        return min(self.capacity_bps, max(evidenced, self.p.floor_bps)) * self.health

    @property
    def rtt_min_ms(self) -> float | None:
        return self._rtt_window[0][1] if self._rtt_window else None

    @property
    def queue_delay_ms(self) -> float:
        base = self.rtt_min_ms
        return 0.0 if base is None or self.rtt.value is None else max(self.rtt.value - base, 0.0)

    def update(self, s: PeerStats, bond_mean_bps: float | None = None) -> None:
        dt = 0.1 if self._last_t is None else max(s.t - self._last_t, 1e-6)
        self._last_t = s.t
        sent = s.bandwidth_bps if s.sent_bytes is None else s.sent_bytes * 8 / dt
        self.sent_bps.update(sent)
        # No report yet counts from the start of the run: a link dead from the start goes down too.
        age = s.t if s.evidence_age_s is None else s.evidence_age_s
        if age >= self.p.down_after_s:
            if self.up:
                self.up = False
                self.health = 0.0
            return
        if not self.up:  # proof of life again: start cold, earn the rate back
            self.up = True
            self.rtt.reset()
            self.loss.reset()
            self._rtt_window.clear()
            self._delivered_window.clear()
            self.delivered.reset()
            self._prev_rtt = None
            self.capacity_bps = self.p.cold_start_bps
        if s.delivered_bps is not None:
            self._track_delivered(s.t, self.delivered.update(s.delivered_bps))
        if s.rtt_ms is not None:
            self._track_rtt(s.t, s.rtt_ms)
            self.rtt.update(s.rtt_ms)
        self.loss.update(max(0.0, min(1.0, 1.0 - s.quality / 100.0)) if s.sent else 0.0)
        if self.rtt.value is not None:
            self._update_capacity(s.t, self.sent_bps.get(), dt, bond_mean_bps or self.capacity_bps)
        self.health = health(self.loss.get(), self.rtt.get(), self.p.loss_limit, self.p.rtt_limit_ms)

    def _track_delivered(self, t: float, rate: float) -> None:
        """Sliding-window maximum of the smoothed delivery rate (a deque of decreasing rates)."""
        window = self._delivered_window
        while window and window[0][0] < t - self.p.evidence_window_s:
            window.popleft()
        while window and window[-1][1] <= rate:
            window.pop()
        window.append((t, rate))

    def _track_rtt(self, t: float, rtt_ms: float) -> None:
        """Sliding-window minimum: a deque of increasing RTTs whose head is the window's minimum."""
        window = self._rtt_window
        while window and window[0][0] < t - self.p.rtt_min_window_s:
            window.popleft()
        while window and window[-1][1] >= rtt_ms:
            window.pop()
        window.append((t, rtt_ms))

    def _update_capacity(self, t: float, sent: float, dt: float, bond_mean_bps: float) -> None:
        qdelay = self.queue_delay_ms
        self.congested = qdelay > self.p.congested_ms
        rising = self._prev_rtt is not None and self.rtt.get() > self._prev_rtt
        self._prev_rtt = self.rtt.get()
        if self.congested and rising and t >= self._hold_until:
            self.capacity_bps = (1.0 - self.p.backoff) * min(self.capacity_bps, max(sent, self.p.floor_bps))
            # Wait until the cut can show in the smoothed RTT (about 1/alpha samples) before the next.
            self._hold_until = t + self.rtt.get() / 1000.0 + 0.5 * dt / self.p.alpha
        if not self.congested and qdelay < self.p.congested_ms / 2:
            grown = self.capacity_bps + self.p.probe_gain * dt * max(self.capacity_bps, bond_mean_bps)
            cap = max(sent, self.p.cold_start_bps) * (1.0 + self.p.probe_cap)
            self.capacity_bps = max(min(grown, cap), min(sent, cap))
        self.capacity_bps = max(self.capacity_bps, self.p.floor_bps)
