"""Active rate control: tell the encoder to slow down before the link queues fill.

Total capacity = sum(capacity x health). Below bitrate x headroom the controller recommends
total / headroom at once (a `congestion-control` message). Raising is slower, with hysteresis:
capacity must exceed bitrate x headroom x (1 + raise_margin) for `raise_hold_s` without a cut in
between (three times as long right after a cut), and then the bitrate grows by at most
`raise_step`, so a noisy estimate cannot make the bitrate oscillate.
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
    def __init__(
        self,
        start_bitrate: int,
        min_bitrate: int,
        max_bitrate: int,
        headroom: float = 1.1,
        raise_hold_s: float = 1.0,
        raise_step: float = 0.15,
        raise_margin: float = 0.05,
    ) -> None:
        self.bitrate = start_bitrate
        self.min_bitrate = min_bitrate
        self.max_bitrate = max_bitrate
        self.headroom = headroom
        self.raise_hold_s = raise_hold_s
        self.raise_step = raise_step
        self.raise_margin = raise_margin
        self._high_since: float | None = None
        self._last_cut = float("-inf")

    def _clamp(self, bps: float) -> int:
        return int(max(self.min_bitrate, min(self.max_bitrate, bps)))

    def update(self, t: float, total_capacity_bps: float) -> CongestionControl | None:
        """Feed the current total capacity; returns a message when the bitrate should change."""
        if total_capacity_bps < self.bitrate * self.headroom:
            self._high_since = None
            target = self._clamp(total_capacity_bps / self.headroom)
            if target < self.bitrate:
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
        if target <= self.bitrate:
            return None
        self.bitrate = target
        return CongestionControl(t, target, total_capacity_bps, "recovery")
