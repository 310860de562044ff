"""librist-style ARQ in the sim: the receiver NACKs gaps back over the link, the sender resends.

Rules, each as librist 0.2.7 applies them (rist-common.c; defaults from librist/peer.h):
* a gap is seen when a later packet of the same link arrives; the first NACK goes out after
  max(reorder buffer 25 ms, srtt / 2) with srtt clamped to [rtt_min 50, rtt_max 500] ms, so
  jitter shorter than that causes no NACK and longer jitter causes spurious ones;
* a NACK travels the reverse path (delay, jitter, loss, outages) and may be lost; the receiver
  asks again every 1.1 x clamped srtt until the packet arrives, max_retries (20) asks were made,
  or the packet can no longer make its playout deadline (librist gives up at 1.1 x its buffer
  age; a repair later than the deadline is useless to playout either way);
* the sender resends on the link the NACK came from, but ignores a request for a packet it
  resent less than one clamped RTT ago (librist's "bloat skip"); it does not check deadlines.
  A resent packet is queued and lost like any other.
No later packet, no NACK: a link that dies takes its losses with it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

INF = float("inf")
REORDER_S = 0.025
RTT_MIN_S = 0.05
RTT_MAX_S = 0.5
MAX_NACKS = 20
DEFAULT_RTT_S = 0.1  # before the first echo reply


@dataclass(slots=True)
class Gap:
    """A packet the receiver is missing on one link."""

    seq: int
    frame_id: int
    size: int
    deadline: float
    repaired_at: float = INF  # earliest arrival of the packet (original or resent)
    resent_at: float = -INF  # when the sender last resent it


class Arq:
    """NACK and resend timing for every link; `schedule(delay, fn)` is the backend's clock."""

    def __init__(
        self,
        links: list[Any],
        rtt_s: Callable[[int], float | None],
        schedule: Callable[[float, Callable[[], None]], None],
        resend: Callable[[int, Gap], float | None],
        now: Callable[[], float],
    ) -> None:
        self.links = links
        self._rtt_s = rtt_s
        self._schedule = schedule
        self._resend = resend
        self._now = now
        self.pending: list[list[Gap]] = [[] for _ in links]  # lost, not yet noticed
        self.nacks_sent = 0
        self.nacks_lost = 0
        self.spurious = 0

    def rtt(self, li: int) -> float:
        """Smoothed RTT, clamped to librist's [rtt_min, rtt_max]."""
        rtt = self._rtt_s(li)
        return min(max(DEFAULT_RTT_S if rtt is None else rtt, RTT_MIN_S), RTT_MAX_S)

    def lost(self, li: int, gap: Gap) -> None:
        """A data packet of link li was lost: the receiver notices at the next arrival."""
        self.pending[li].append(gap)

    def arrived(self, li: int, t: float) -> None:
        """A data packet of link li arrived at t: every gap pending on it becomes visible."""
        gaps, self.pending[li] = self.pending[li], []
        wait = max(REORDER_S, self.rtt(li) / 2)
        for gap in gaps:
            self._at(t + wait, lambda gap=gap: self._ask(li, gap, 0))

    def overtaken(self, li: int, gap: Gap, t: float) -> None:
        """A later packet arrived at t, more than the reorder buffer before `gap`'s packet."""
        wait = max(REORDER_S, self.rtt(li) / 2)
        if gap.repaired_at > t + wait:
            self.spurious += 1
            self._at(t + wait, lambda: self._ask(li, gap, 0))

    def _at(self, t: float, fn: Callable[[], None]) -> None:
        self._schedule(max(t - self._now(), 0.0), fn)

    def _ask(self, li: int, gap: Gap, attempt: int) -> None:
        """The receiver's NACK number `attempt` for `gap`, at the current time."""
        now = self._now()
        rtt = self.rtt(li)
        if gap.repaired_at <= now or attempt >= MAX_NACKS or now + rtt / 2 > gap.deadline:
            return
        self.nacks_sent += 1
        back = self.links[li].reverse(now)
        if back is None:
            self.nacks_lost += 1
        else:
            self._at(back, lambda: self._on_nack(li, gap))
        self._at(now + 1.1 * rtt, lambda: self._ask(li, gap, attempt + 1))

    def _on_nack(self, li: int, gap: Gap) -> None:
        """The sender got a NACK: resend unless it resent this packet less than an RTT ago."""
        now = self._now()
        if now - gap.resent_at < self.rtt(li):
            return
        gap.resent_at = now
        arrival = self._resend(li, gap)
        if arrival is not None and arrival < gap.repaired_at:
            gap.repaired_at = arrival
