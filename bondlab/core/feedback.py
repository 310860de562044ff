"""Receiver reports: what the far end tells the sender, and what the sender makes of them.

A report carries cumulative counters, so a lost report costs freshness, never a count. The
sender compares each new report with the one it last used: the delivery rate over the receiver's
own clock (no clock sync needed), and whether packets kept arriving on the uplink at all.
"""

from __future__ import annotations

from dataclasses import dataclass

from bondlab.core.trains import train_rate_bps


@dataclass(slots=True)  # not frozen: one per link per tick, and a frozen init costs 4x
class ReceiverReport:
    """One report from the receiver about one link (cumulative since the start of the run)."""

    link: int
    number: int  # increases by one per report on this link
    rx_time: float  # receiver's clock when it sent the report
    payload_bytes: int  # bonding payload bytes that arrived on this link (each packet's first time here)
    packets: int  # packets that arrived on this link's uplink, data and control alike
    last_arrival: float = 0.0  # receiver's clock at the latest arrival on this link (0: none)
    # Packet-train dispersion sums over the link's trains (core/trains.py): how fast it delivers
    # what it is given at once, whatever it is given on average.
    train_sxx: float = 0.0
    train_sxy: float = 0.0
    train_bytes: int = 0  # payload bytes after each train's first packet
    train_span_s: float = 0.0  # the trains' first-to-last arrival spans


class ReportTracker:
    """One link's reports as heard by the sender: delivery rate and proof of a live uplink."""

    def __init__(self) -> None:
        self.last: ReceiverReport | None = None
        self._used: ReceiverReport | None = None
        self.evidence_t: float | None = None  # sender time of the last report showing new arrivals
        self.train_bps: float | None = None  # train rate over the reports the last `take` used

    def on_report(self, now: float, report: ReceiverReport) -> None:
        """A report arrived at sender time `now`; reordered or duplicate reports are ignored."""
        prev = self.last
        if prev is not None and report.number <= prev.number:
            return
        if report.packets > (prev.packets if prev is not None else 0):
            self.evidence_t = now
        self.last = report

    @property
    def delivered_bytes(self) -> int | None:
        """Cumulative payload bytes the latest report heard says arrived on the link (None: none yet)."""
        return None if self.last is None else self.last.payload_bytes

    def take(self, now: float) -> tuple[float | None, float | None]:
        """(delivery rate since the previous take, seconds since the uplink last proved alive); the
        train rate over the same reports is left in `train_bps`."""
        rate = self.train_bps = None
        last, used = self.last, self._used
        if last is not None and used is not None and last.number > used.number:
            dt = last.rx_time - used.rx_time
            if dt > 0:
                rate = (last.payload_bytes - used.payload_bytes) * 8 / dt
            slope = train_rate_bps(last.train_sxx - used.train_sxx, last.train_sxy - used.train_sxy)
            d_span = last.train_span_s - used.train_span_s
            span = 8.0 * (last.train_bytes - used.train_bytes) / d_span if d_span > 0.0 else None
            self.train_bps = slope if span is None or slope is None else min(slope, span)
        if last is not None:
            self._used = last
        age = None if self.evidence_t is None else max(now - self.evidence_t, 0.0)
        return rate, age
