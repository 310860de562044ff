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
from dataclasses import dataclass

from bondlab.core.ewma import Ewma
from bondlab.core.health import falloff, health
from bondlab.core.stats import PeerStats


@dataclass
class EstimatorParams:
    alpha: float = 0.125  # smoothing of RTT and loss for health: about 8 samples, under a second
    rtt_limit_ms: float = 1000.0  # health 0 at this RTT (scenario's rtt_limit_ms)
    loss_limit: float = 0.2  # health 0 at this loss (scenario's loss_limit)
    probe_gain: float = 0.25  # fractional growth per second while app-limited
    probe_cap: float = 0.5  # estimate may exceed the sent rate by this fraction
    congested_ms: float = 40.0  # queueing delay that means "saturated": ~1/3 of an I-frame's spread
    backoff: float = 0.15  # a cut leaves 15 % of the link's rate spare, enough to drain its queue
    # Receiver reports come every stats interval (100 ms) and echoes every 100 ms: 5 reports in a
    # row without new arrivals is no accident at any loss below ~50 %, and it takes a dead link out
    # within 0.5 s + the last report's way back (+45 ms), inside the playout slack of a frame.
    down_after_s: float = 0.5
    cold_start_bps: float = 500_000.0  # a link back from the dead earns its rate from here
    floor_bps: float = 100_000.0  # never estimate below this: a live link keeps a trickle to probe
    rtt_min_window_s: float = 10.0  # base RTT: long enough to span queue cycles, short for handovers
    # A delivery sample spans one report interval, three frames: an I-frame (4 P-frames) in it
    # nearly doubles the rate. An EWMA of 1/10 (about 1 s) averages that away; the max over 3 s
    # keeps the best recent rate after the load moves away.
    delivered_alpha: float = 0.1
    evidence_window_s: float = 3.0
    # Counted capacity may exceed the delivered rate by this much while no queue builds: more than
    # the rate controller's headroom x margin (1.1 x 1.05), so it can still climb, by steps of up
    # to 1.3 / 1.1 = 18 % (from 6 to 11 Mbps in four raises).
    evidence_allowance: float = 0.3
    # Delivered below `overload_ratio` x sent over the last `overload_samples` intervals (1 s,
    # so an I-frame burst falls in both sums), the sent side `report_lag` intervals earlier (the
    # one-way delay plus the report's phase): the link takes less than it is given. A congestion
    # signal that needs no RTT echo and shows from the first second (cold start with equal
    # weights); 1 % loss and the edges of an I-frame stay far above 0.8.
    overload_ratio: float = 0.8
    overload_samples: int = 10
    report_lag: int = 1
    # A saturated link delivers its capacity: the mean of the last `cut_samples` raw delivery
    # samples (0.3 s: the queue that set off the cut kept the link busy for them) bounds the cut.
    cut_samples: int = 3
    # An I-frame queues for ~100 ms even on a half-loaded link; that drains before the next one
    # and is no reason to cut. Only a standing queue is: the smoothed RTT stayed above base +
    # congested_ms x `standing_frac` for the whole last `standing_s` (a queue that does not drain
    # within a second is building, CoDel's rule with librist's sample rate).
    standing_s: float = 1.0
    standing_frac: float = 0.6
    # What a link delivered while congested is its capacity. Until it shows more, the counted
    # capacity stays within this of that ceiling: the allowance above is for climbing, and a link
    # known to saturate at X has nothing to climb to above X.
    ceiling_allowance: float = 0.05
    # The ceiling is stale once the link's smoothed delivery reaches `stale_load` of it while its
    # queue stayed under congested_ms x `stale_queue` for `stale_calm_s` (it queued at that rate
    # before: its capacity rose). A second spans an I-frame's queue and its draining.
    stale_load: float = 0.9
    stale_queue: float = 0.25
    stale_calm_s: float = 1.0
    # What the link was given and has not delivered yet (our count against the receiver's, lagged
    # as reports are) is its backlog; a new packet waits backlog / delivery rate behind it. Echoes
    # wait there too, so only this count shows a queue the moment capacity collapses. The weight
    # falls (raised-cosine) from half `backlog_limit_s` to 0 at it: a packet the link cannot
    # deliver in time goes to another link (the bond sets it from the playout latency).
    backlog_limit_s: float = 0.5
    # Unrepaired loss is never delivered: the count forgets with this time constant, so 1 % of
    # unrepaired loss reads as a few tens of ms of backlog, not a growing one.
    backlog_leak_s: float = 4.0
    # A link given nothing that delivered nothing for this many reports in a row holds nothing: a
    # FIFO with a backlog delivers it. What the count still shows is loss, and over a rate that
    # fell with the idle link it kept the link's weight at 0, so it was given nothing: a real run
    # starved a live 2 Mbps link for 3.3 s that way (the leak alone takes seconds).
    idle_clear_samples: int = 3
    # Weights follow calm: a link's weight falls linearly with its queueing delay, to this share
    # at congested_ms. Two links whose estimates both ride 1.5x their sent rate would otherwise
    # keep any split; this moves load from the link that queues to the one that does not (a
    # capacity that rose), until their queues match. Not lower: an I-frame's queue is no reason
    # to starve a link.
    queue_weight_floor: float = 0.5


class LinkEstimator:
    """Turns one link's stats samples into (capacity estimate, health); time comes from the samples."""

    def __init__(self, params: EstimatorParams, initial_bps: float) -> None:
        self.p = params
        self.rtt = Ewma(params.alpha)
        self.loss = Ewma(params.alpha)
        self.capacity_bps = max(initial_bps, params.floor_bps)
        self.health = 1.0
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
    def weight(self) -> float:
        if not self.up:
            return 0.0
        queued = max(self.p.queue_weight_floor, 1.0 - self.queue_delay_ms / self.p.congested_ms)
        return self.capacity_bps * self.health * self.backlog_factor * queued

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
                self.health = 0.0
            return
        if not self.up:  # proof of life again: start cold, earn the rate back
            self._restart()
            self.sent_bps.update(sent)
            self._sent_hist.append(sent)
        self._count_backlog(s.delivered_bps, dt)
        if s.delivered_bps is not None:
            self._recent.append(s.delivered_bps)
            self._delivered_hist.append(s.delivered_bps)
            self._track_max(self._burst_window, s.t, s.delivered_bps)
            self._track_max(self._delivered_window, s.t, self.delivered.update(s.delivered_bps))
        if s.rtt_ms is not None:
            self._track_min(self._rtt_window, s.t, s.rtt_ms, self.p.rtt_min_window_s)
            self._track_min(self._rtt_recent, s.t, s.rtt_ms, self.p.standing_s)
            self.rtt.update(s.rtt_ms)
            self._prev_rtt, self._last_rtt = self._last_rtt, s.rtt_ms
        self.loss.update(max(0.0, min(1.0, 1.0 - s.quality / 100.0)) if s.sent else 0.0)
        if self._last_rtt is not None:
            self._update_capacity(s.t, self.sent_bps.get(), dt, bond_mean_bps or self.capacity_bps)
        self.health = health(self.loss.get(), self.rtt.get(), self.p.loss_limit, self.p.rtt_limit_ms)

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
        for ewma in (self.rtt, self.loss, self.delivered, self.sent_bps):
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
        self.capacity_bps = max(self.capacity_bps, p.floor_bps)
