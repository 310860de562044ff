"""`forecast` rate control: the bitrate the bond will deliver within the playout latency.

Per link, a cautious forecast of its rate over the next latency window, from what the receiver saw
it deliver: the link's packet-train rate (core/trains.py: how fast it delivers what it is given at
once, so an app-limited link shows its capacity without the encoder overshooting into it) and its
delivered rate (a lower bound whenever it carried anything). The forecast is a low quantile of the
mean rate over latency-long windows of the recent history, as Sprout forecasts a cellular link by
a low percentile of its deliveries over the next window: noise within a window averages out, the
swings between windows are what the caution is for. Then, per link, what it can deliver of new
frames within the latency is that forecast x the latency, less what it still holds of ours (the
sender's backlog: it drains first); the bitrate is their sum / (latency x headroom).

What the controller tells apart, and how:

* **Overload is not failure.** A link that delivers at its train rate is alive, whatever RTT the
  sender's own queue gave it: its forecast stands on delivery, not on RTT, and its queue shows up
  only as backlog to drain. The answer to overload is a lower bitrate for a moment (the backlog
  term), never a link counted as zero.
* **Silence is failure.** A link whose reports show no arrivals is down (the estimator's verdict,
  `down_after_s`): its forecast is 0 and its history goes, so it earns its rate again from trains
  when it returns. Loss and a path RTT past the limits (the estimator's path_health, which leaves out
  the sender's own queue) scale its forecast down.
* **A rise is found when app-limited.** Trains run at the link's rate whatever it is given, so the
  forecast follows the capacity, not the load.
* **A fall shows at once.** The forecast is also capped by the mean over the latest half window: a
  link whose delivery process fell is counted at its new rate within a few reports.

Timing, each a multiple of a time constant of the feedback: a raise waits `raise_hold_intervals`
report intervals of a target clearly above the bitrate (single reports are noisy); after a cut,
the next cut waits for the first to show, the settle time: the encoder's reaction + the slowest
live RTT (at most the latency) + two report intervals (the queue draining and the reports saying
so), unless even the capacity without the backlog no longer fits, or the links hold clearly more
than at the cut (copies came on top). A raise goes at most +50 %; a cut within two settle times
of a raise marks that bitrate as a wall for ten settle times (seconds, not a minute). Samples
are kept for latency + two seconds.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

from bondlab.core.rate_control import CongestionControl
from bondlab.core.stats import PeerStats

# Windows of the history below this quantile of mean rate are what the forecast leaves out.
FORECAST_QUANTILE = 0.1
# History kept beyond one latency window: 20 report intervals give ~20 window positions for the
# quantile, enough to see the swings of a cellular link, short enough to follow a rise in seconds.
HISTORY_EXTRA_INTERVALS = 20
# What a link holds of ours drains within this share of the latency: the rest of it is for the
# frames behind it, their way there and one repair.
DRAIN_SHARE = 0.5
# Only a standing queue is drained: the least a link held over this many reports. An I-frame's
# queue drains within a few hundred ms at any load the bond carries and is no reason to cut
# (reading it as backlog cut the seed case's bitrate every two seconds); one that stays is.
STANDING_INTERVALS = 3
# But a queue jump larger than this much of the link's share of the stream is no I-frame (one
# is ~0.13 s of the bitrate at the default GOP): copies of a failed link's data, a collapse. Its
# excess counts at once, not a standing time later.
SPIKE_S = 0.1
# A cut soon after a raise found the wall: for this many settle times raises stop `WALL_MARGIN`
# below the bitrate that failed (cut, climb, cut is a quality change a second for the viewer).
# Seconds, not a minute: a settle time is at most reaction + latency + two reports (an uncapped
# RTT once held a trace run at its minimum bitrate for 25 s on 2-12 Mbps of links). Five settles
# let steady bonds cut, climb and cut again: 7 changes a minute where ten keep them at 4-6.
WALL_SETTLES = 10
WALL_MARGIN = 0.05


class LinkForecast:
    """One link's delivery history (rates per report) and its cautious forecast.

    Two kinds of evidence, each forecast on its own: the train rates (what the link carries of
    what it is given at once: its capacity, app-limited or not) and the delivered rates (what it
    carried: a lower bound). The forecast is the higher of the two. Mixed in one history, the
    delivered rates of a link given little (a low-rate stream, few and short trains) outnumbered
    its trains and held the forecast at the load: the app-limited trap again.
    """

    def __init__(self, window_s: float, interval_s: float) -> None:
        self.window_s = window_s
        self.interval_s = interval_s
        self.history_s = window_s + HISTORY_EXTRA_INTERVALS * interval_s
        self._trains: deque[tuple[float, float]] = deque()  # (t, rate bps)
        self._delivered: deque[tuple[float, float]] = deque()
        self.forecast_bps = 0.0

    def clear(self) -> None:
        self._trains.clear()
        self._delivered.clear()
        self.forecast_bps = 0.0

    def add(self, t: float, train_bps: float | None, delivered_bps: float | None) -> None:
        """One report's evidence (None: the report had none of that kind)."""
        if train_bps is not None:
            self._trains.append((t, train_bps))
        if delivered_bps:  # a link given nothing delivered nothing: no evidence of its rate
            self._delivered.append((t, delivered_bps))
        for q in (self._trains, self._delivered):
            while q and q[0][0] < t - self.history_s:
                q.popleft()
        self.forecast_bps = max(self._low(self._trains, t), self._low(self._delivered, t))

    def _low(self, s: deque[tuple[float, float]], t: float) -> float:
        """The low quantile of the window means of one kind of sample, capped by its latest."""
        if not s or t - s[-1][0] > self.window_s:
            return 0.0
        times = [x for x, _ in s]
        # Harmonic means: the train slope (seconds per byte) is what is measured without bias.
        inv = [1.0 / max(r, 1.0) for _, r in s]
        prefix = [0.0]
        for v in inv:
            prefix.append(prefix[-1] + v)
        means = []
        lo = 0
        for hi in range(len(s)):
            while times[lo] < times[hi] - self.window_s + 1e-9:
                lo += 1
            if times[hi] - times[0] >= self.window_s - self.interval_s - 1e-9 or hi == len(s) - 1:
                n = hi - lo + 1
                means.append(n / (prefix[hi + 1] - prefix[lo]))
        means.sort()
        low = means[int(FORECAST_QUANTILE * (len(means) - 1))]
        # The latest half window: a fall shows within a few reports, not a window later.
        k = max(1, round(0.5 * self.window_s / self.interval_s))
        recent = inv[-k:]
        return min(low, len(recent) / sum(recent))


class ForecastController:
    """Bitrate = what the links will deliver of new frames within the latency / headroom."""

    reads_signals = False
    reads_links = True
    # Trains show each link's rate from the first frames: the first decision needs ten reports
    # (a window of evidence), not the I-frame the headroom rule waits for (core/bonding.WARMUP_S).
    warmup_s = 1.0

    def __init__(
        self,
        n_links: int,
        start_bitrate: int,
        min_bitrate: int,
        max_bitrate: int,
        latency_s: float,
        interval_s: float,
        reaction_s: float,
        headroom: float = 1.1,
        cut_deadband: float = 0.05,
        raise_margin: float = 0.08,
        raise_hold_intervals: int = 5,
        raise_step: float = 0.5,
    ) -> None:
        self.bitrate = start_bitrate
        self.min_bitrate = min_bitrate
        self.max_bitrate = max_bitrate
        self.latency_s = latency_s
        self.interval_s = interval_s
        self.reaction_s = reaction_s
        self.headroom = headroom
        self.cut_deadband = cut_deadband
        self.raise_margin = raise_margin
        self.raise_hold_intervals = raise_hold_intervals
        self.raise_step = raise_step
        self.links = [LinkForecast(latency_s, interval_s) for _ in range(n_links)]
        self._held: list[deque[float]] = [deque(maxlen=STANDING_INTERVALS) for _ in range(n_links)]
        self.deliverable_bps = [0.0] * n_links  # forecast less the backlog to drain, per link
        self._capacity_bps = 0.0  # the forecasts' sum, backlog left out
        self._settle_s = reaction_s + 2 * interval_s
        self._last_cut = float("-inf")
        self._queued_bits = 0.0  # what the links hold of ours beyond what is in flight
        self._queued_at_cut = 0.0
        self._last_raise = float("-inf")
        self._wall: tuple[float, int] | None = None  # (until, bitrate) a raise ran into
        self._high = 0  # reports in a row with a target clearly above the bitrate

    def observe(self, t: float, samples: Sequence[PeerStats], estimators: Sequence[Any]) -> list[float]:
        """One report interval's evidence; returns what each link counts (bps) for the record."""
        rtts = []
        counted = [0.0] * len(self.links)
        self._queued_bits = 0.0
        for i, (link, s, est) in enumerate(zip(self.links, samples, estimators, strict=True)):
            if not est.up:
                link.clear()
                self._held[i].clear()
                self.deliverable_bps[i] = 0.0
                continue
            link.add(t, s.train_bps, s.delivered_bps)
            # A link going quiet counts less at once (its weight falls the same way): a failed link
            # removes its own forecast within a few reports, before the down verdict.
            f = counted[i] = link.forecast_bps * est.path_health * est.silence_factor
            # What it holds of ours beyond what is merely in flight (one RTT of its rate) drains
            # before a new frame's packets: those bytes are not there for new frames.
            rtt_s = (est.srtt_ms or 0.0) / 1000.0
            base_s = (est.rtt_min_ms or est.srtt_ms or 0.0) / 1000.0
            rtts.append(min(rtt_s, self.latency_s))
            queued_bits = max(0.0, 8.0 * est.backlog_bytes - f * base_s)
            self._queued_bits += queued_bits
            held = self._held[i]
            held.append(queued_bits)
            share = f / max(self._capacity_bps, 1.0)  # last interval's sum: shares move slowly
            standing = max(min(held), queued_bits - SPIKE_S * share * self.bitrate)
            self.deliverable_bps[i] = max(0.0, f - standing / (DRAIN_SHARE * self.latency_s))
        self._capacity_bps = sum(counted)
        self._settle_s = self.reaction_s + max(rtts, default=0.0) + 2 * self.interval_s
        return counted

    def _clamp(self, bps: float) -> int:
        return int(max(self.min_bitrate, min(self.max_bitrate, bps)))

    def update(self, t: float, total_capacity_bps: float, signals: object = None) -> CongestionControl | None:
        """The decision on this interval's forecasts (`observe` first); a message if the bitrate moves."""
        target = self._clamp(sum(self.deliverable_bps) / self.headroom)
        if target < self.bitrate * (1.0 - self.cut_deadband):
            self._high = 0
            # A cut needs a moment to show; within it, cut again only if even the capacity without
            # the backlog does not carry the bitrate (the first cut was not enough), or the links
            # hold clearly more than at the cut (copies of a failed link's data came on top).
            grew = self._queued_bits > 1.2 * self._queued_at_cut + self.bitrate * self.interval_s
            fits = self._capacity_bps / self.headroom >= self.bitrate
            if t - self._last_cut < self._settle_s and fits and not grew:
                return None
            if t - self._last_raise < 2 * self._settle_s:
                self._wall = (t + WALL_SETTLES * self._settle_s, self.bitrate)
            self.bitrate = target
            self._last_cut = t
            self._queued_at_cut = self._queued_bits
            return CongestionControl(t, target, total_capacity_bps, "congestion")
        if target <= self.bitrate * (1.0 + self.raise_margin) or self.bitrate >= self.max_bitrate:
            self._high = 0
            return None
        self._high += 1
        if self._high < self.raise_hold_intervals or t - self._last_cut < self._settle_s:
            return None
        self._high = 0
        # At most `raise_step` up at a time: the weights and the queues follow a raise within a
        # hold time (a cold start's jump from 3 to 6.7 Mbps sent the small links more than they
        # carry before the weights caught up).
        target = min(target, int(self.bitrate * (1.0 + self.raise_step)))
        if self._wall is not None:
            until, failed = self._wall
            if t >= until:
                self._wall = None
            else:
                target = min(target, int(failed * (1.0 - WALL_MARGIN)))
                if target <= self.bitrate * (1.0 + self.raise_margin):
                    return None
        self.bitrate = target
        self._last_raise = t
        return CongestionControl(t, target, total_capacity_bps, "recovery")
