"""Per-link estimator fed by librist-shaped stats: smoothed RTT, loss and a capacity estimate.

librist's sender `bandwidth` is the rate *we* pushed into the link, not what the link could carry.
An estimator that trusts it converges on its own send rate and never discovers spare capacity.
The way out used here (delay-based, in the spirit of LEDBAT/BBR):

* queueing delay = smoothed RTT - minimum RTT over a window. While it stays low the link is
  app-limited: the estimate may grow above the sent rate, by `probe_gain` per second of the
  larger of its own estimate and the bond's mean (so a small link catches up additively instead
  of keeping its share forever), up to `probe_cap` x the sent rate; the scheduler then offers the
  link more and finds out. After a cut the link may also probe straight back to `(1 - backoff)`
  x the rate it delivered when saturated (its ceiling, below): a link cut while the bond moved
  its load elsewhere is offered a trickle, and 1.5x a trickle would keep that share for good
  (two app-limited links keep any split; real runs stayed 5 s at half their share that way).
* when the queue *stands* (librist's smoothed RTT stayed above base + `standing_frac` x
  `congested_ms` for a whole `standing_s`; an I-frame's queue drains sooner) and is past
  `congested_ms` and still rising, the link is saturated, so what it delivers is its capacity:
  the estimate drops to `(1 - backoff)` x min(sent, delivered) (never up; relative to what the
  link carries, so a second cut while the queue drains does not compound), then holds for an RTT
  plus half the smoothing time.
* when the link delivered less than `overload_ratio` of what it was given over the last second
  (the receiver's reports against our own count, lagged by the reports' way), it is overloaded:
  the same cut, less the backlog rate, so what queued up drains within a second. This needs no
  echo (echoes queue behind the backlog) and catches the cold start's equal split at once.
* what the rate controller may count is narrower than what steers the weights: capacity that was
  delivered. The counted capacity is the estimate, capped by the delivery evidence of the last
  `evidence_window_s`: the best raw 100 ms sample (an I-frame burst runs at the link's rate), or
  the smoothed rate plus an allowance of `evidence_allowance` that shrinks to nothing as queueing
  delay builds, but never more than `ceiling_allowance` above that best sample. After a cut the
  rate the link delivered when it saturated is its ceiling: counted stays within
  `ceiling_allowance` of it until the link delivers more (its 0.3 s and its smoothed delivery
  rate both above it: the best of many noisy 0.3 s samples of a saturated link sits a few percent
  above its capacity, and ratcheting up on those counted 6 % over the truth), or carries most of
  it with no queue for a while (its capacity rose). Probing may steer the scheduler; it cannot
  raise the encoder.
* weights say where the next packet should go, so they also see the queue: a link's backlog
  (what we gave it and the receiver has not reported yet, lagged as reports are) over its
  delivery rate is how long a new packet would wait. Echoes wait behind that same backlog, so
  only this count sees the queue the moment capacity collapses; past `backlog_limit_s` the link
  gets nothing new until it drained. And the weight falls with the echo queueing delay (to
  `queue_weight_floor` at `congested_ms`), so load moves to the link that does not queue.
* a link is up only while the receiver's reports show packets arriving on it: replies on the
  reverse path prove nothing about the uplink (a link at 100 % loss still answers keepalives).
  No such proof for `down_after_s`: down. It restarts cold at `cold_start_bps` and has to earn
  its rate again (a cold link at full start rate loses packets).
"""

from __future__ import annotations

from collections import deque

from bondlab.core.estimator_params import EstimatorParams
from bondlab.core.ewma import Ewma
from bondlab.core.health import falloff, health
from bondlab.core.stats import PeerStats

__all__ = ["EstimatorParams", "LinkEstimator"]


class LinkEstimator:
    """Turns one link's stats samples into (capacity estimate, health); time comes from the samples."""

    def __init__(self, params: EstimatorParams, initial_bps: float) -> None:
        self.p = params
        self.rtt = Ewma(params.alpha)
        self.loss = Ewma(params.alpha)
        self.capacity_bps = max(initial_bps, params.floor_bps)
        self.health = 1.0
        self.path_health = 1.0  # health less what the sender's own queue did (rate control reads it)
        self.path_rtt = Ewma(params.alpha)
        self.path_loss = Ewma(params.alpha)
        self.up = True
        self.evidence_age_s = 0.0  # since the last report that showed this link delivering
        self.congested = False
        self.overloaded = False
        self.ceiling: tuple[float, float] | None = None  # (since, bps): delivered rate when congested
        self._last_t: float | None = None
        self._calm_since: float | None = None  # start of the current stretch without a queue
        self._hold_until = float("-inf")
        self._prev_rtt: float | None = None
        self._last_rtt: float | None = None
        self._rtt_window: deque[tuple[float, float]] = deque()
        self.sent_bps = Ewma(params.alpha)
        self._sent_hist: deque[float] = deque(maxlen=params.overload_samples + params.report_lag)
        self._delivered_hist: deque[float] = deque(maxlen=params.overload_samples)
        self._recent: deque[float] = deque(maxlen=params.cut_samples)  # latest raw delivery samples
        self._rtt_recent: deque[tuple[float, float]] = deque()  # sliding min of the last standing_s
        self.delivered = Ewma(params.delivered_alpha)
        self._delivered_window: deque[tuple[float, float]] = deque()
        self._burst_window: deque[tuple[float, float]] = deque()  # raw samples: sliding max
        self._backlog_bits = 0.0
        self._unreported_s = 0.0  # time since the last delivery sample (a lost report spans two)
        self._reported = False  # counting starts with the first delivery sample
        self._idle = 0  # delivery samples in a row with nothing given and nothing delivered
        self._train_inv = Ewma(params.train_alpha)  # seconds per bit of the link's packet trains
        self._copies_bits = 0.0  # copies handed to it since the last stats tick
        self.self_inflicted = False  # its queue is the sender's own: not counted against its health

    @property
    def backlog_s(self) -> float:
        """How long a packet given to the link now waits behind what it has not delivered yet."""
        rate = min(self.delivered.get(), sum(self._recent) / len(self._recent)) if self._recent else 0.0
        return self._backlog_bits / max(rate, self.p.floor_bps)

    @property
    def backlog_bytes(self) -> float:
        """Payload bytes the link was given and the reports do not show delivered (lagged as they are)."""
        return self._backlog_bits / 8.0

    @property
    def srtt_ms(self) -> float | None:
        """librist's smoothed RTT as last heard (None before the first echo reply)."""
        return self._last_rtt

    @property
    def backlog_factor(self) -> float:
        """1 while the backlog is short, falling to 0 at backlog_limit_s."""
        return falloff(self.backlog_s, self.p.backlog_limit_s)

    @property
    def silence_factor(self) -> float:
        """1 while reports show arrivals, falling to 0 at `silent_after_s` without any: a link
        going quiet gets less at once, before the down verdict (what it is given may be lost)."""
        limit = self.p.silent_after_s
        return 1.0 if limit is None else falloff(self.evidence_age_s, limit)

    @property
    def weight(self) -> float:
        if not self.up:
            return 0.0
        queued = max(self.p.queue_weight_floor, 1.0 - self.queue_delay_ms / self.p.congested_ms)
        return self.capacity_bps * self.health * self.backlog_factor * queued * self.silence_factor

    @property
    def train_bps(self) -> float | None:
        """The link's smoothed packet-train rate: what it delivers when given more than it can send."""
        inv = self._train_inv.value
        return None if inv is None else 1.0 / inv

    @property
    def busy(self) -> bool:
        """It delivers near its train rate: the link carries what its capacity allows."""
        train = self.train_bps
        return train is not None and self.delivered.get() >= self.p.busy_ratio * train

    @property
    def delivered_max_bps(self) -> float | None:
        """Best smoothed delivery rate of the evidence window (None before any report)."""
        return self._delivered_window[0][1] if self._delivered_window else None

    @property
    def burst_max_bps(self) -> float | None:
        """Best raw delivery sample of the evidence window: what the link carried in its best 100 ms."""
        return self._burst_window[0][1] if self._burst_window else None

    @property
    def counted_bps(self) -> float:
        """Capacity the rate controller may count: estimate x health, capped by delivery evidence."""
        if not self.up:
            return 0.0
        best = self.delivered_max_bps
        if best is None:
            return self.weight
        slack = max(0.0, 1.0 - self.queue_delay_ms / self.p.congested_ms)
        # The allowance may not reach past what the link carried in its best 100 ms by more than
        # the ceiling's margin: near its capacity a link's I-frame bursts already run at it.
        burst = max(self.burst_max_bps or 0.0, best)
        evidenced = max(
            burst,
            min(best * (1.0 + self.p.evidence_allowance * slack), burst * (1.0 + self.p.ceiling_allowance)),
        )
        if self.ceiling is not None:
            evidenced = min(evidenced, max(self.ceiling[1], best) * (1.0 + self.p.ceiling_allowance))
        return min(self.capacity_bps, max(evidenced, self.p.floor_bps)) * self.health

    @property
    def rtt_min_ms(self) -> float | None:
        return self._rtt_window[0][1] if self._rtt_window else None

    @property
    def queue_delay_ms(self) -> float:
        """librist's smoothed RTT (already an EWMA: no second smoothing) over its window minimum."""
        base, rtt = self.rtt_min_ms, self._last_rtt
        return 0.0 if base is None or rtt is None else max(rtt - base, 0.0)

    def update(self, s: PeerStats, bond_mean_bps: float | None = None) -> None:
        dt = 0.1 if self._last_t is None else max(s.t - self._last_t, 1e-6)
        self._last_t = s.t
        sent = s.bandwidth_bps if s.sent_bytes is None else s.sent_bytes * 8 / dt
        self.sent_bps.update(sent)
        self._sent_hist.append(sent)
        # No report yet counts from the start of the run: a link dead from the start goes down too.
        age = s.t if s.evidence_age_s is None else s.evidence_age_s
        self.evidence_age_s = age
        if age >= self.p.down_after_s:
            if self.up:
                self.up = False
                self.health = self.path_health = 0.0
            return
        if not self.up:  # proof of life again: start cold, earn the rate back
            self._restart()
            self.sent_bps.update(sent)
            self._sent_hist.append(sent)
        self._count_backlog(s.delivered_bps, dt)
        if self._reported:
            self._backlog_bits += self._copies_bits
        self._copies_bits = 0.0
        if s.delivered_bps is not None:
            self._recent.append(s.delivered_bps)
            self._delivered_hist.append(s.delivered_bps)
            self._track_max(self._burst_window, s.t, s.delivered_bps)
            self._track_max(self._delivered_window, s.t, self.delivered.update(s.delivered_bps))
        if s.train_bps is not None:
            self._train_inv.update(1.0 / max(s.train_bps, 1.0))
        if s.rtt_ms is not None:
            self._track_min(self._rtt_window, s.t, s.rtt_ms, self.p.rtt_min_window_s)
            self._track_min(self._rtt_recent, s.t, s.rtt_ms, self.p.standing_s)
            self._prev_rtt, self._last_rtt = self._last_rtt, s.rtt_ms
        # Overload is not failure. A link that is overloaded, or busy (delivering at its train
        # rate) behind a queue, carries all it can: the RTT and the retransmissions of tail drops
        # that queue brings are the sender's own doing, answered by the rate controller with a
        # bitrate that fits, not by counting the link as failed. `path_health` is what the rate
        # controller counts it by: the RTT without that queue (the path's) and no loss while it
        # lasts. A link whose RTT rose while it delivers less than its trains show (a path delay
        # spike, a stalling modem) is not busy: its RTT and loss count in full there too.
        # `health` still reads the whole RTT and all loss: it steers the weights, and a packet
        # behind a deep queue is late whoever built the queue (a 100 kbps modem is always busy).
        self.self_inflicted = self.overloaded or (
            self.busy and self.queue_delay_ms >= 0.5 * self.p.congested_ms
        )
        if s.rtt_ms is not None:
            self.rtt.update(s.rtt_ms)
            base = self.rtt_min_ms
            self.path_rtt.update(base if self.self_inflicted and base is not None else s.rtt_ms)
        loss = max(0.0, min(1.0, 1.0 - s.quality / 100.0)) if s.sent else 0.0
        self.loss.update(loss)
        if not self.self_inflicted:
            self.path_loss.update(loss)
        if self._last_rtt is not None:
            self._update_capacity(s.t, self.sent_bps.get(), dt, bond_mean_bps or self.capacity_bps)
        p = self.p
        self.health = health(self.loss.get(), self.rtt.get(), p.loss_limit, p.rtt_limit_ms)
        self.path_health = health(self.path_loss.get(), self.path_rtt.get(), p.loss_limit, p.rtt_limit_ms)

    def on_copies(self, nbytes: int) -> None:
        """Reinjected copies handed to the link: they queue behind what it holds from this moment,
        so a link full of a failed link's copies takes no new packets until they drained (with
        the forecast controller, weak-modem lost a GOP in ten without this)."""
        if self.p.count_copies:  # counted at the next stats tick: weights change only there
            self._copies_bits += 8.0 * nbytes

    def _count_backlog(self, delivered_bps: float | None, dt: float) -> None:
        """Given (lagged by report_lag intervals, as the reports are) minus delivered, leaking."""
        p = self.p
        self._unreported_s += dt
        if delivered_bps is not None:
            if self._reported:
                self._backlog_bits -= delivered_bps * self._unreported_s
            self._reported = True
            self._unreported_s = 0.0
        given = 0.0
        if self._reported and len(self._sent_hist) > p.report_lag:
            given = self._sent_hist[-1 - p.report_lag]
            self._backlog_bits += given * dt
        if delivered_bps is not None:
            self._idle = self._idle + 1 if delivered_bps == 0 and given == 0 else 0
            if self._idle >= p.idle_clear_samples:
                self._backlog_bits = 0.0
        self._backlog_bits = max(0.0, self._backlog_bits * (1.0 - dt / p.backlog_leak_s))

    def _restart(self) -> None:
        self.up = True
        self._backlog_bits = self._unreported_s = 0.0
        self._reported = False
        self._idle = 0
        self._recent.clear()
        self._delivered_hist.clear()
        self._sent_hist.clear()
        for ewma in (
            self.rtt,
            self.loss,
            self.path_rtt,
            self.path_loss,
            self.delivered,
            self.sent_bps,
            self._train_inv,
        ):
            ewma.reset()
        self._rtt_window.clear()
        self._rtt_recent.clear()
        self._delivered_window.clear()
        self._burst_window.clear()
        self._prev_rtt = self._last_rtt = None
        self.ceiling = None
        self.capacity_bps = self.p.cold_start_bps

    def _track_max(self, window: deque[tuple[float, float]], t: float, rate: float) -> None:
        """Sliding-window maximum of a delivery rate (a deque of decreasing rates)."""
        while window and window[0][0] < t - self.p.evidence_window_s:
            window.popleft()
        while window and window[-1][1] <= rate:
            window.pop()
        window.append((t, rate))

    def _track_min(self, window: deque[tuple[float, float]], t: float, rtt_ms: float, span: float) -> None:
        """Sliding-window minimum over `span`: a deque of increasing RTTs whose head is the minimum."""
        while window and window[0][0] < t - span:
            window.popleft()
        while window and window[-1][1] >= rtt_ms:
            window.pop()
        window.append((t, rtt_ms))

    def _backlog_bps(self) -> float | None:
        """Given minus delivered over the last second, lagged as reports are (None: too few samples).

        Positive when the link queued (or lost) what it was given: sending that much less for the
        next second drains it.
        """
        p, got = self.p, self._delivered_hist
        if len(got) < p.overload_samples or len(self._sent_hist) < p.overload_samples + p.report_lag:
            return None
        given = sum(list(self._sent_hist)[: p.overload_samples])
        return (given - sum(got)) / p.overload_samples

    def _update_capacity(self, t: float, sent: float, dt: float, bond_mean_bps: float) -> None:
        p = self.p
        qdelay = self.queue_delay_ms
        delivered = sum(self._recent) / len(self._recent) if self._recent else None
        base = self.rtt_min_ms
        standing = (
            base is not None
            and self._rtt_recent[0][0] <= t - p.standing_s + 1e-9
            and self._rtt_recent[0][1] - base > p.standing_frac * p.congested_ms
        )
        self.congested = qdelay > p.congested_ms and standing
        backlog = self._backlog_bps()
        self.overloaded = backlog is not None and backlog > (1.0 - p.overload_ratio) * (
            backlog + sum(self._delivered_hist) / len(self._delivered_hist)
        )
        rising = self._prev_rtt is not None and self._last_rtt is not None and self._last_rtt > self._prev_rtt
        if (self.congested and rising or self.overloaded) and t >= self._hold_until:
            through = max(sent, p.floor_bps)
            if delivered is not None:  # a saturated link delivers its capacity: the best bound
                through = min(through, max(delivered, p.floor_bps))
                self.ceiling = (t, delivered)
            # Relative to what the link carries, not to the estimate: a second cut while the queue
            # still drains (the link still delivering its capacity) does not compound the first.
            target = (1.0 - p.backoff) * through
            if self.overloaded and backlog is not None:  # and drain what queued up within a second
                target -= backlog
            self.capacity_bps = min(self.capacity_bps, max(target, p.floor_bps))
            # Wait until the cut can show in the smoothed RTT (about 1/alpha samples) before the next.
            self._hold_until = t + self._last_rtt / 1000.0 + 0.5 * dt / p.alpha  # type: ignore[operator]
        if qdelay >= p.stale_queue * p.congested_ms:
            self._calm_since = None
        elif self._calm_since is None:
            self._calm_since = t
        if self.ceiling is not None and delivered is not None:
            since, ceiling = self.ceiling
            load = self.delivered.get()
            if delivered > ceiling and load > ceiling:  # a noisy 0.3 s peak is no new ceiling
                self.ceiling = (since, min(delivered, load))
            elif (
                load >= p.stale_load * ceiling
                and self._calm_since is not None
                and t - max(self._calm_since, since) >= p.stale_calm_s
            ):
                self.ceiling = None
        if not self.congested and not self.overloaded and qdelay < p.congested_ms / 2:
            grown = self.capacity_bps + p.probe_gain * dt * max(self.capacity_bps, bond_mean_bps)
            cap = max(sent, p.cold_start_bps) * (1.0 + p.probe_cap)
            if self.ceiling is not None:
                cap = max(cap, (1.0 - p.backoff) * self.ceiling[1])
            self.capacity_bps = max(min(grown, cap), min(sent, cap))
            train = self.train_bps if self.p.probe_to_trains else None
            if train is not None:
                # Its trains show the capacity it has, given load or not: no need to probe up to
                # it (a bitrate raised on the trains' evidence went to weights still probing, and
                # overloaded the smaller link for a second).
                self.capacity_bps = max(self.capacity_bps, (1.0 - p.backoff) * train)
        self.capacity_bps = max(self.capacity_bps, p.floor_bps)
