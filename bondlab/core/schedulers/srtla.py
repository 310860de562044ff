"""srtla: the SRT link-aggregation sender's window per link.

Source: BELABOX srtla, `srtla_send.c` (select_conn, register_srtla_ack, register_nak,
connection_housekeeping). Each connection has a window of 1..60 packets (kept x1000) starting
at 20; every packet it is NAKed for costs 0.1 packet; each SRTLA ACK for one of its packets
takes that packet out of flight and, while more than a window is in flight, adds 0.029; and
every ACK on any connection adds 0.001 to each live one. A packet goes to the connection with
the highest window / (in flight + 1). A connection that timed out restarts at the minimum.

Assumptions, since this sender hears receiver reports rather than per-packet ACKs: a report's
delivered bytes over the mean packet size are that interval's ACKs; the link's retransmissions
(librist resends what the receiver NAKed) are its NAKs, plus, with `reorder_naks`, the packets
SRT's receiver would NAK as reordering gaps (see `_reordered`: without them srtla keeps feeding a
slow link, as its ACK growth outruns the loss NAKs); a link the reports show down has timed
out. srtla recounts in flight from SRT's cumulative ACK; here in flight is capped the same way by
the estimator's backlog plus this interval's own picks, and by srtla's 256-packet log.
Scores are compared as floats (srtla truncates to integers, which only changes ties).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from bondlab.core.schedulers.base import LinkFeedback

WINDOW_MIN = 1
WINDOW_DEF = 20
WINDOW_MAX = 60
WINDOW_MULT = 1000
WINDOW_DECR = 100
WINDOW_INCR = 30
PKT_LOG_SZ = 256


class Srtla:
    def __init__(self, n_links: int, reorder_naks: bool = True) -> None:
        self.n_links = n_links
        self.reorder_naks = reorder_naks
        self.window = [WINDOW_DEF * WINDOW_MULT] * n_links
        self.in_flight = [0] * n_links
        self._live = [True] * n_links
        self._picked = [0] * n_links  # packets handed to each link since the last tick
        self._picked_bytes = 0
        self._packet_bytes = 1316.0  # mean packet size, to turn reported bytes into ACKs
        self._last_t = 0.0

    def set_weights(self, weights: Sequence[float]) -> None:
        if len(weights) != self.n_links:
            raise ValueError(f"expected {self.n_links} weights, got {len(weights)}")
        self._live = [w > 0 for w in weights]

    def observe(self, t: float, links: Sequence[LinkFeedback]) -> None:
        picked = sum(self._picked)
        if picked:
            self._packet_bytes = self._picked_bytes / picked
        size = self._packet_bytes
        acks = [int(f.acked_bytes / size + 0.5) if f.up else 0 for f in links]
        total = sum(acks)
        naks = self._reordered(t, links, picked)
        for i, f in enumerate(links):
            if not f.up:  # connection_housekeeping: a timed-out link starts over at the minimum
                self.window[i] = WINDOW_MIN * WINDOW_MULT
                self.in_flight[i] = 0
                continue
            window = max(self.window[i] - WINDOW_DECR * (f.retransmitted + naks[i]), WINDOW_MIN * WINDOW_MULT)
            flight = self.in_flight[i]
            # ACK by ACK while any is in flight (at most srtla's 256-packet log): past that an
            # ACK changes nothing, however many a report implies (an extreme one: 10^7).
            for _ in range(min(acks[i], flight)):
                flight -= 1
                if flight * WINDOW_MULT > window:
                    window += WINDOW_INCR - 1
            self.window[i] = min(window + total, WINDOW_MAX * WINDOW_MULT)
            recount = math.ceil(f.backlog_bytes / size) + self._picked[i]
            self.in_flight[i] = min(flight, recount, PKT_LOG_SZ)
        self._picked = [0] * self.n_links
        self._picked_bytes = 0
        self._last_t = t

    def _reordered(self, t: float, links: Sequence[LinkFeedback], picked: int) -> list[int]:
        """Packets the receiver NAKed for arriving behind later ones from a faster link (estimated).

        SRT's receiver NAKs a sequence gap as soon as it sees one, so over a bond every packet on
        a link slower than another by more than the packet spacing is NAKed; the sender only
        hears librist's per-link NAKs, so it infers these from the links' smoothed RTTs.
        """
        if not self.reorder_naks or not picked:
            return [0] * self.n_links
        owd = [f.rtt_ms / 2000.0 if f.up and f.rtt_ms is not None else None for f in links]
        known = [d for d in owd if d is not None]
        if len(known) < 2:
            return [0] * self.n_links
        fastest = min(known)
        spacing = max(t - self._last_t, 1e-3) / picked
        return [self._picked[i] if d is not None and d - fastest > spacing else 0 for i, d in enumerate(owd)]

    def begin_frame(self, now: float, deadline: float, is_iframe: bool) -> int | None:
        return None

    def pick(self, size: int) -> int | None:
        window, flight, live = self.window, self.in_flight, self._live
        best, score = None, -1.0
        for i in range(self.n_links):
            if live[i]:
                s = window[i] / (flight[i] + 1)
                if s > score:
                    best, score = i, s
        if best is not None:
            flight[best] += 1
            self._picked[best] += 1
            self._picked_bytes += size
        return best

    def credits(self) -> list[float]:
        return [0.0] * self.n_links
