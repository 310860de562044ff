"""What one stats interval tells the controller about one link: only facts a sender can know.

Three sources, each of which reaches the sender in packets that can be late or lost:
librist's sender peer stats (RTT from echo round trips, the rate we pushed, retransmissions),
our own count of the bytes we handed to the link, and the receiver's reports (srtla ACK / RTCP
receiver report style) carried back over the link's reverse path.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)  # not frozen: one per link per tick, and a frozen init costs 4x
class PeerStats:
    """One stats interval of one link, as the sender sees it at time `t`.

    `bandwidth_bps` is librist's EWMA of what the sender pushed into the peer (not capacity);
    `rtt_ms` is the smoothed echo RTT (queueing included), None before the first echo returned;
    `sent_bytes` is what this sender handed to the link during the interval (None when librist
    splits the packets itself); `delivered_bps` the delivery rate the receiver reported between
    its last two reports heard (None when no new report arrived), `delivered_bytes` the cumulative
    payload bytes in the latest report heard; `evidence_age_s` the time since the last report
    that showed new packets arriving on the link (None: none yet), the only proof that the uplink
    delivers, since replies on the reverse path can come while it drops all.
    """

    t: float  # seconds, end of the interval
    rtt_ms: float | None
    bandwidth_bps: float
    sent: int
    retransmitted: int
    lost: int = 0  # packets the receiver reported missing for good (NACKed and not repaired)
    quality: float = 100.0
    delivered_bps: float | None = None
    sent_bytes: int | None = None
    evidence_age_s: float | None = None
    delivered_bytes: int | None = None  # cumulative, as the latest receiver report heard says
    train_bps: float | None = None  # rate of the link's packet trains in the same reports (trains.py)
