"""AIMD bitrate control: multiplicative cut on sustained pressure, additive climb with a slew limit.

The rule TCP made standard (Chiu and Jain 1989: additive increase, multiplicative decrease is
the one linear rule that converges to efficiency and fairness), applied to the encoder. It
needs no capacity estimate to climb: it probes until the bond pushes back.

Pressure is any of: the counted capacity below the bitrate itself (the bond delivers less than
the stream), a live link overloaded (delivers less than it is given) or congested (a standing,
growing queue), or a live link's backlog past `backlog_limit_s`. Only pressure that lasts
`sustain_s` (an I-frame's queue drains sooner) cuts, to `beta` x bitrate, then `hold_s` passes
before anything else changes (the encoder's reaction and the queues draining must show first).
Without pressure the bitrate climbs by `add_bps` every `climb_every_s`, but by no more than
`max_slew` of itself per second, so a small stream does not double in a few steps.
"""

from __future__ import annotations

from bondlab.core.rate_control import CongestionControl, RateSignals


class AimdController:
    reads_signals = True

    def __init__(
        self,
        start_bitrate: int,
        min_bitrate: int,
        max_bitrate: int,
        headroom: float = 1.1,
        beta: float = 0.75,  # between Cubic's 0.7 and a gentle cut: one quality step the viewer sees
        add_bps: float = 150_000.0,
        climb_every_s: float = 1.0,  # each climb is a quality change too: not more often
        max_slew: float = 0.05,  # per second
        sustain_s: float = 0.3,
        hold_s: float = 1.0,
        backlog_limit_s: float = 0.2,
    ) -> None:
        self.bitrate = start_bitrate
        self.min_bitrate = min_bitrate
        self.max_bitrate = max_bitrate
        self.headroom = headroom
        self.beta = beta
        self.add_bps = add_bps
        self.climb_every_s = climb_every_s
        self.max_slew = max_slew
        self.sustain_s = sustain_s
        self.hold_s = hold_s
        self.backlog_limit_s = backlog_limit_s
        self._pressed_since: float | None = None
        self._last_change = float("-inf")
        self._last_cut = float("-inf")

    def pressure(self, total_capacity_bps: float, signals: RateSignals | None) -> bool:
        if total_capacity_bps < self.bitrate:
            return True
        if signals is None:
            return False
        return signals.overloaded or signals.congested or signals.backlog_s > self.backlog_limit_s

    def update(
        self, t: float, total_capacity_bps: float, signals: RateSignals | None = None
    ) -> CongestionControl | None:
        if self.pressure(total_capacity_bps, signals):
            if self._pressed_since is None:
                self._pressed_since = t
            lasted = t - self._pressed_since >= self.sustain_s - 1e-9
            if not lasted or t - self._last_cut < self.hold_s or self.bitrate <= self.min_bitrate:
                return None
            target = max(self.min_bitrate, int(self.bitrate * self.beta))
            self._pressed_since = None
            self._last_cut = self._last_change = t
            self.bitrate = target
            return CongestionControl(t, target, total_capacity_bps, "congestion")
        self._pressed_since = None
        if t - self._last_change < self.climb_every_s - 1e-9 or t - self._last_cut < self.hold_s:
            return None
        if self.bitrate >= self.max_bitrate:
            return None
        step = min(self.add_bps, self.max_slew * self.bitrate * self.climb_every_s)
        target = min(self.max_bitrate, int(self.bitrate + step))
        self._last_change = t
        self.bitrate = target
        return CongestionControl(t, target, total_capacity_bps, "recovery")
