"""Active rate control: tell the encoder to slow down before the link queues fill.

Total capacity = the sum over links of what the estimators count (delivered-evidenced capacity
x health). Below bitrate x headroom x (1 - cut_deadband) the controller recommends
total / headroom at once (a `congestion-control` message); the deadband keeps a capacity that
drifts by a few percent from turning into a message every interval (each a quality change the
viewer sees). Raising is slower, with hysteresis: capacity must exceed bitrate x headroom x
(1 + raise_margin) for `raise_hold_s` without a cut in between (three times as long right after
a cut), and then the bitrate grows by at most `raise_step`, so a noisy estimate cannot make the
bitrate oscillate.

A cut within `settle_s` of the last one happens only if even the new bitrate does not fit: the
first cut needs a moment to show (encoder reaction, queues draining, the estimators' own cuts).

A cut right after a raise found the wall: the controller remembers the bitrate that failed, cuts
to at most `retry_margin` below it at once, and for `retry_after_s` raises stop there; a bond
whose sustainable rate lies between two raise steps would otherwise climb into the same wall
every few seconds (cut, climb, cut: a quality change a second for the viewer). Cuts not preceded
by a raise (cold start, a link lost) found no wall and are not remembered. The memory is
forgotten early when the counted capacity clears the failed bitrate x headroom by
`clear_margin`, so a capacity that really rose is still used.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CongestionControl:
    """The message the bonding sink posts; the encoder sets its bitrate to `recommended_bitrate`."""

    t: float
    recommended_bitrate: int
    total_capacity_bps: float
    reason: str  # "congestion" or "recovery"

    type: str = "congestion-control"

    def as_dict(self) -> dict[str, object]:
        """The message as stored in messages.json."""
        return {
            "t": self.t,
            "type": self.type,
            "recommended_bitrate": self.recommended_bitrate,
            "total_capacity_bps": self.total_capacity_bps,
            "reason": self.reason,
        }


class RateController:
    # It reads the counted capacity only: the bond's RateSignals are not worked out for it.
    reads_signals = False

    def __init__(
        self,
        start_bitrate: int,
        min_bitrate: int,
        max_bitrate: int,
        headroom: float = 1.1,
        raise_hold_s: float = 1.0,
        raise_step: float = 0.15,
        raise_margin: float = 0.05,  # hysteresis: raise only with 5 % to spare over headroom
        cut_deadband: float = 0.05,  # a few percent of estimate drift is no quality change
        retry_after_s: float = 60.0,  # a wall found stays for a minute: a retry costs two changes
        retry_margin: float = 0.12,  # below the wall by more than the I-frame share of a GOP
        settle_s: float = 2.0,  # encoder reaction 0.3 s + an estimator cut, its hold and the drain
        clear_margin: float = 0.25,  # more than evidence noise (5 %) and a raise step: a real rise
    ) -> None:
        self.bitrate = start_bitrate
        self.min_bitrate = min_bitrate
        self.max_bitrate = max_bitrate
        self.headroom = headroom
        self.raise_hold_s = raise_hold_s
        self.raise_step = raise_step
        self.raise_margin = raise_margin
        self.cut_deadband = cut_deadband
        self.retry_after_s = retry_after_s
        self.retry_margin = retry_margin
        self.clear_margin = clear_margin
        self.settle_s = settle_s
        self._high_since: float | None = None
        self._last_cut = float("-inf")
        self._failed: tuple[float, int] | None = None  # (when, bitrate) of the last congestion cut
        self._raised = False  # the bitrate now in force came from a raise (climbed into the wall)

    def _clamp(self, bps: float) -> int:
        return int(max(self.min_bitrate, min(self.max_bitrate, bps)))

    def update(self, t: float, total_capacity_bps: float, signals: object = None) -> CongestionControl | None:
        """Feed the current total capacity; returns a message when the bitrate should change.

        `signals` (core/rate_controllers.RateSignals) is what other controllers read; this one
        needs only the counted capacity."""
        if total_capacity_bps < self.bitrate * self.headroom * (1 - self.cut_deadband):
            self._high_since = None
            target = self._clamp(total_capacity_bps / self.headroom)
            # A cut needs a moment to show (encoder reaction, the queue draining, the estimators'
            # own cuts): within `settle_s` of the last one, cut again only if even the new bitrate
            # does not fit.
            settling = t - self._last_cut < self.settle_s and total_capacity_bps >= self.bitrate
            if target < self.bitrate and not settling:
                # A raise that ran into congestion found the wall: remember it, and go below it by
                # the retry margin at once (one cut instead of a cut now and another when the
                # estimators' cuts show a moment later).
                if self._raised:
                    self._failed = (t, self.bitrate)
                    target = min(target, self._clamp(self.bitrate * (1 - self.retry_margin)))
                self._raised = False
                self.bitrate = target
                self._last_cut = t
                return CongestionControl(t, target, total_capacity_bps, "congestion")
            return None
        if (
            total_capacity_bps < self.bitrate * self.headroom * (1 + self.raise_margin)
            or self.bitrate >= self.max_bitrate
        ):
            self._high_since = None
            return None
        if self._high_since is None:
            self._high_since = t
            return None
        if t - self._high_since < self.raise_hold_s or t - self._last_cut < 3 * self.raise_hold_s:
            return None
        self._high_since = t
        target = self._clamp(min(total_capacity_bps / self.headroom, self.bitrate * (1 + self.raise_step)))
        if self._failed is not None:
            when, failed = self._failed
            clears = total_capacity_bps >= failed * self.headroom * (1 + self.clear_margin)
            if t - when >= self.retry_after_s or clears:
                self._failed = None
            else:
                target = min(target, int(failed * (1 - self.retry_margin)))
        if target <= self.bitrate * 1.02:
            return None
        self.bitrate = target
        self._raised = True
        return CongestionControl(t, target, total_capacity_bps, "recovery")


@dataclass(frozen=True, slots=True)
class RateSignals:
    """Pressure on the bond at one stats tick, as the sender sees it.

    RTTs and the queueing delay are weighted by the links' scheduler weights (where the packets
    go); the backlog is the estimators' backlog rule summed over live links.
    """

    interval_s: float
    rtt_ms: float | None  # librist's smoothed RTT; None while no live link has one
    rtt_min_ms: float | None  # each link's base RTT, same weighting
    queue_delay_ms: float
    backlog_bytes: float
    backlog_s: float  # the worst live link's: how long a new packet waits there
    overloaded: bool  # some live link delivers less than it is given
    congested: bool  # some live link's queue stands and grows
