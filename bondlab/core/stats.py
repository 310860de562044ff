"""The per-link stats sample both backends emit, shaped like librist 0.2.7 sender peer stats."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PeerStats:
    """One stats interval of one link, as librist's sender reports it.

    `bandwidth_bps` is what the sender pushed into the peer (an EWMA of the sent rate), not the
    link's capacity; `rtt_ms` includes queueing delay; counts are per interval. `rtt_ms` is None
    when no RTT echo came back during the interval (the link is silent or down).
    """

    t: float  # seconds, end of the interval
    rtt_ms: float | None
    bandwidth_bps: float
    sent: int
    retransmitted: int
    lost: int = 0  # packets the receiver reported missing for good (NACKed and not repaired)
    quality: float = 100.0
    delivered_bps: float | None = None  # receiver-reported goodput, when the backend knows it
