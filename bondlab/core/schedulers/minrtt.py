"""minRTT: the lowest smoothed-RTT link that has room in its congestion window.

Source: Linux MPTCP's default scheduler (net/mptcp/protocol.c, `mptcp_subflow_get_send`; the
out-of-tree `mptcp_sched.c` default before it): among the subflows whose cwnd is not full, the
one with the lowest srtt. A bonding sender has no TCP state, so this assumes:

* the window is the link's BDP (capacity estimate x base RTT) x `cwnd_bdp`, at least
  `MIN_CWND_PACKETS` packets; in flight is the pipe (one BDP) plus the sender's queue model
  (estimator backlog at the tick + its own picks since, drained at the estimate). So a link has
  room while its modelled queue stays under (`cwnd_bdp` - 1) x BDP: 2 BDP is BBR's cwnd cap, and
  what a Reno/Cubic flow builds in a BDP-sized buffer.
* MPTCP waits when every window is full; a live stream cannot (the frame would go late anyway),
  so the packet goes to the link least over its window.
* links without an RTT sample yet rank after those with one, in index order.
"""

from __future__ import annotations

from collections.abc import Sequence

from bondlab.core.schedulers.base import LinkFeedback
from bondlab.core.schedulers.queue_model import QueueModel

MIN_CWND_PACKETS = 10  # Linux's initial window: a link without evidence still gets a burst
MSS_BYTES = 1500


class MinRtt:
    def __init__(self, n_links: int, cwnd_bdp: float = 2.0) -> None:
        self.n_links = n_links
        self.cwnd_bdp = cwnd_bdp
        self.model = QueueModel(n_links)
        self._order = list(range(n_links))
        self._room = [0.0] * n_links
        self._refresh()

    def _refresh(self) -> None:
        m = self.model
        floor = MIN_CWND_PACKETS * MSS_BYTES
        self._room = [max(floor, (self.cwnd_bdp - 1.0) * r * b) for r, b in zip(m.rate, m.base_rtt)]
        self._order = sorted(range(self.n_links), key=lambda i: (not m.has_rtt[i], m.srtt[i], i))

    def set_weights(self, weights: Sequence[float]) -> None:
        self.model.set_weights(weights)
        self._refresh()

    def observe(self, t: float, links: Sequence[LinkFeedback]) -> None:
        self.model.observe(t, links)
        self._refresh()

    def begin_frame(self, now: float, deadline: float, is_iframe: bool) -> int | None:
        self.model.age(now, deadline)
        return None

    def pick(self, size: int) -> int | None:
        m = self.model
        queued, live, room = m.queued, m.live, self._room
        for i in self._order:
            if live[i] and queued[i] + size <= room[i]:
                queued[i] += size
                return i
        return self._overflow(size)

    def _overflow(self, size: int) -> int | None:
        """Every window is full: the link whose window the packet overfills least."""
        m = self.model
        best, fill = None, float("inf")
        for i in self._order:
            if m.live[i]:
                f = (m.queued[i] + size) / self._room[i]
                if f < fill:
                    best, fill = i, f
        if best is not None:
            m.queued[best] += size
        return best

    def credits(self) -> list[float]:
        return [0.0] * self.n_links
