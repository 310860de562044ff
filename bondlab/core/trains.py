"""Capacity evidence that does not need the encoder to overshoot: packet-train dispersion.

A frame's packets for one link are handed to it together, far faster than any modem sends, so
they queue behind each other at the bottleneck and leave it one service time apart: the train
arrives at the link's rate *of the moment*, however little the link is given on average. A link
carrying 2 Mbps of a 5 Mbps stream whose capacity just rose to 10 Mbps still delivers each of its
trains at 10 Mbps, while its delivered bytes (bounded by what it was given) stay at 2 Mbps.

The receiver measures it the same way in both worlds: per train (the packets of one frame that
arrived on one link, each the first time there), the least-squares slope of arrival time on
cumulative payload bytes in send order (sequence order). Jitter moves each arrival independently
and may reorder them, so the first-to-last span over-reads the train's length (by the jitter's
range); the slope does not, as the noise is in the times and not in the byte counts. Per link the
receiver keeps two cumulative sums over its trains, Sxx (bytes^2) and Sxy (bytes x seconds), and
reports them with its other counters: between two reports, rate = 8 x dSxx / dSxy (payload bits
per second), pooled over the trains of the interval so long trains (I-frames) weigh most. Being
cumulative, a lost report costs freshness only, as for the byte counts.

The slope alone is not enough where the bottleneck releases packets in clumps: htb dequeued on
the TCG VM's coarse timers (a 10 ms bucket, timers that fire late) puts several packets of a
train on the wire within microseconds, and the pooled slope of the real black-hole run read 18,
7.7 and 28 Mbps on links of 7.7, 4.8 and 5.8 (payload). The first-to-last span cannot be
shortened by a clump: pooled over the same trains it read 6.6, 4.1 and 4.5 (0.78-0.86 of the
truth: pauses of the sender within a frame lengthen it). Where jitter follows the bottleneck (the
sim's links) the span over-reads a train by the jitter's range, so it reads low there too (about
0.8 of the rate at +-5 ms). So the receiver reports both, pooled alike (bytes after each train's
first packet and its span), and the sender takes the lower rate: cautious in both worlds, and in
both by about the same share.

What the evidence does not see: a loss inside a train reads as one service time too many
(cautious), and a sender slower than the link paces its own train (cautious too: the rate read is
the sender's).
"""

from __future__ import annotations

from collections.abc import Sequence

# Fewer packets than this carry too little span against a few ms of jitter to say anything.
MIN_TRAIN_PACKETS = 2
# A train spread over more than this is not one burst through the bottleneck (a retransmission
# or a copy that joined it late, a link that stalled): its slope would measure the stall.
MAX_TRAIN_SPAN_S = 0.5


def _span_of_train(sizes: Sequence[int], arrivals: Sequence[float]) -> float | None:
    """The first-to-last arrival span if the packets can be one burst through the bottleneck."""
    if len(sizes) < MIN_TRAIN_PACKETS or len(sizes) != len(arrivals):
        return None
    span = max(arrivals) - min(arrivals)
    return None if span > MAX_TRAIN_SPAN_S else span


def train_sums(sizes: Sequence[int], arrivals: Sequence[float]) -> tuple[float, float]:
    """(Sxx, Sxy) of one train: `sizes` payload bytes and `arrivals` seconds, both in send order.

    x is the cumulative payload bytes up to and including each packet, y its arrival time. Trains
    too short or too long to be one burst through the bottleneck count (0, 0).
    """
    if _span_of_train(sizes, arrivals) is None:
        return 0.0, 0.0
    n = len(sizes)
    xs = []
    acc = 0
    for s in sizes:
        acc += s
        xs.append(acc)
    mx = sum(xs) / n
    my = sum(arrivals) / n
    sxx = sxy = 0.0
    for x, y in zip(xs, arrivals):
        dx = x - mx
        sxx += dx * dx
        sxy += dx * (y - my)
    return sxx, sxy


def train_span(sizes: Sequence[int], arrivals: Sequence[float]) -> tuple[int, float]:
    """(payload bytes after the first packet, first-to-last arrival span) of one train, or (0, 0.0)
    for trains `train_sums` leaves out, and for one that arrived all at once (no span to divide by):
    the span rate that a clumping shaper cannot inflate."""
    span = _span_of_train(sizes, arrivals)
    if not span:  # None, or 0.0
        return 0, 0.0
    return sum(sizes) - sizes[0], span


def train_rate_bps(d_sxx: float, d_sxy: float) -> float | None:
    """Payload bits per second from the sums' growth between two reports (None: no usable train).

    A slope at or below zero (jitter outweighed the trains' span) says nothing about the rate."""
    if d_sxx <= 0.0 or d_sxy <= 0.0:
        return None
    return 8.0 * d_sxx / d_sxy


class TrainMeter:
    """One link's trains as the receiver sees them arrive, for receivers that get packets one by one
    (the real capture): a train ends when a packet of another frame arrives on the link, or when
    `flush` finds it idle for `idle_s` (the last frame before a pause)."""

    def __init__(self, idle_s: float = 0.02) -> None:
        self.idle_s = idle_s
        self.sxx = 0.0
        self.sxy = 0.0
        self.span_bytes = 0
        self.span_s = 0.0
        self.trains = 0
        self._frame: int | None = None
        self._packets: list[tuple[int, int, float]] = []  # (seq, payload bytes, arrival)
        self._last_t = 0.0

    def on_packet(self, frame_id: int, seq: int, payload: int, t: float) -> None:
        """A data packet's first arrival on this link."""
        if frame_id != self._frame:
            self._close()
            self._frame = frame_id
        self._packets.append((seq, payload, t))
        self._last_t = max(self._last_t, t)

    def flush(self, now: float) -> None:
        """Close the open train if nothing arrived on the link for `idle_s` (before a report)."""
        if self._packets and now - self._last_t >= self.idle_s:
            self._close()

    def _close(self) -> None:
        if self._packets:
            self._packets.sort()
            sizes, times = [p[1] for p in self._packets], [p[2] for p in self._packets]
            sxx, sxy = train_sums(sizes, times)
            if sxx > 0.0:
                self.sxx += sxx
                self.sxy += sxy
                self.trains += 1
                nbytes, span = train_span(sizes, times)
                self.span_bytes += nbytes
                self.span_s += span
        self._packets = []
        self._frame = None
