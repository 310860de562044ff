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
* a link whose RTT echoes stop for `down_after_s` is down; it restarts cold at `cold_start_bps`
  and has to earn its rate again (a cold link at full start rate loses packets).
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
    down_after_s: float = 0.35
    cold_start_bps: float = 500_000.0
    floor_bps: float = 100_000.0
    rtt_min_window_s: float = 10.0


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
        self._last_echo_t: float | None = None
        self._hold_until = float("-inf")
        self._prev_rtt: float | None = None
        self._rtt_window: deque[tuple[float, float]] = deque()

    @property
    def weight(self) -> float:
        return self.capacity_bps * self.health if self.up else 0.0

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
        if s.rtt_ms is None:
            self._on_silence(s.t)
            return
        was_down = not self.up
        self._last_echo_t = s.t
        self.up = True
        if was_down:
            self.rtt.reset()
            self.loss.reset()
            self._rtt_window.clear()
            self.capacity_bps = self.p.cold_start_bps
        self._track_rtt(s.t, s.rtt_ms)
        self.rtt.update(s.rtt_ms)
        self.loss.update(max(0.0, min(1.0, 1.0 - s.quality / 100.0)) if s.sent else 0.0)
        self._update_capacity(s, dt, bond_mean_bps or self.capacity_bps)
        self.health = health(self.loss.get(), self.rtt.get(), self.p.loss_limit, self.p.rtt_limit_ms)

    def _on_silence(self, t: float) -> None:
        last = self._last_echo_t
        if self.up and (last is None or t - last >= self.p.down_after_s):
            self.up = False
            self.health = 0.0

    def _track_rtt(self, t: float, rtt_ms: float) -> None:
        """Sliding-window minimum: a deque of increasing RTTs whose head is the window's minimum."""
        window = self._rtt_window
        while window and window[0][0] < t - self.p.rtt_min_window_s:
            window.popleft()
        while window and window[-1][1] >= rtt_ms:
            window.pop()
        window.append((t, rtt_ms))

    def _update_capacity(self, s: PeerStats, dt: float, bond_mean_bps: float) -> None:
        qdelay = self.queue_delay_ms
        sent = s.bandwidth_bps
        self.congested = qdelay > self.p.congested_ms
        rising = self._prev_rtt is not None and self.rtt.get() > self._prev_rtt
        self._prev_rtt = self.rtt.get()
        if self.congested and rising and s.t >= self._hold_until:
            self.capacity_bps = (1.0 - self.p.backoff) * min(self.capacity_bps, max(sent, self.p.floor_bps))
            # Wait until the cut can show in the smoothed RTT (about 1/alpha samples) before the next.
            self._hold_until = s.t + self.rtt.get() / 1000.0 + 0.5 * dt / self.p.alpha
        if not self.congested and qdelay < self.p.congested_ms / 2:
            grown = self.capacity_bps + self.p.probe_gain * dt * max(self.capacity_bps, bond_mean_bps)
            cap = max(sent, self.p.cold_start_bps) * (1.0 + self.p.probe_cap)
            self.capacity_bps = max(min(grown, cap), min(sent, cap))
        self.capacity_bps = max(self.capacity_bps, self.p.floor_bps)
