"""Emulates librist 0.2.7 sender peer stats, so core sees in the sim what it sees in real runs.

librist reports per peer, every stats interval: `bandwidth` (an EWMA, 1/8, of the rate the sender
pushed into the peer: the send rate, not capacity), `rtt` (an EWMA, 1/8, of echo round trips,
queueing included, updated when an echo reply *arrives*), `sent` and `retransmitted` packet counts
of the interval, and `quality` = 100 x sent / (sent + skipped + retransmitted). The sim has no
skipped packets. `rtt_ms` is None until the first echo reply came back.
"""

from __future__ import annotations

from bondlab.core.ewma import Ewma
from bondlab.core.feedback import ReportTracker
from bondlab.core.stats import PeerStats

LIBRIST_EWMA = 0.125


class RistStatsCounter:
    """Counts what the sender did and heard on one peer and turns each interval into a PeerStats."""

    def __init__(self) -> None:
        self.bandwidth = Ewma(LIBRIST_EWMA)
        self.rtt = Ewma(LIBRIST_EWMA)
        self.reports = ReportTracker()
        self.sent = 0
        self.retransmitted = 0
        self.bytes = 0
        self.total_bytes = 0

    def on_send(self, size: int, retransmission: bool = False) -> None:
        if retransmission:
            self.retransmitted += 1
        else:
            self.sent += 1
        self.bytes += size
        self.total_bytes += size

    def on_send_burst(self, packets: int, nbytes: int) -> None:
        """Several original packets at once (a frame's share for this link)."""
        self.sent += packets
        self.bytes += nbytes
        self.total_bytes += nbytes

    def on_echo_reply(self, rtt_ms: float) -> None:
        """An echo reply arrived: librist folds its round trip into the smoothed RTT."""
        self.rtt.update(rtt_ms)

    def sample(self, t: float, interval_s: float) -> PeerStats:
        rate = self.bytes * 8 / interval_s
        bw = self.bandwidth.update(rate)
        denom = self.sent + self.retransmitted
        quality = 100.0 * self.sent / denom if denom else 100.0
        delivered, age = self.reports.take(t)
        stats = PeerStats(
            t=t,
            rtt_ms=self.rtt.value,
            bandwidth_bps=bw,
            sent=self.sent,
            retransmitted=self.retransmitted,
            quality=quality,
            delivered_bps=delivered,
            evidence_age_s=age,
            delivered_bytes=self.reports.delivered_bytes,
            train_bps=self.reports.train_bps,
        )
        self.sent = self.retransmitted = self.bytes = 0
        return stats
