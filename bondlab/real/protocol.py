"""The bonding header every payload carries, so the receiver can merge links back into one stream.

librist numbers packets per sender context; with one context per link the global order, the
frame a packet belongs to and its capture time must travel in the payload itself.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

MAGIC = b"BLB2"
# magic, seq, frame_id, capture_t, write_t, n_packets, index, flags, link, frame bytes
_HEADER = struct.Struct("!4sQIddHHBBI")
HEADER_BYTES = _HEADER.size
FLAG_IFRAME = 0x01
# Warm-up packets the sender writes before the run (librist drops the first packets of a flow):
# a frame id no real frame has and sequence numbers far above any real one; judging ignores them.
WARMUP_FRAME_ID = 0xFFFFFFFF
WARMUP_SEQ0 = 1 << 62


@dataclass(frozen=True, slots=True)
class BondHeader:
    seq: int
    frame_id: int
    capture_t: float  # CLOCK_MONOTONIC seconds: shared by every namespace on one kernel
    n_packets: int
    index: int
    is_iframe: bool
    link: int
    frame_bytes: int
    write_t: float = 0.0  # when the sender handed it to librist (librist's buffer counts from here)


def pack(h: BondHeader, packet_bytes: int, write_t: float) -> bytes:
    """Header stamped with `write_t`, zero-padded to `packet_bytes` (the encoder model's size)."""
    head = _HEADER.pack(
        MAGIC,
        h.seq,
        h.frame_id,
        h.capture_t,
        write_t,
        h.n_packets,
        h.index,
        FLAG_IFRAME if h.is_iframe else 0,
        h.link,
        h.frame_bytes,
    )
    return head + bytes(max(packet_bytes - HEADER_BYTES, 0))


def unpack(payload: bytes) -> BondHeader:
    """Parse a payload's header; ValueError if it is not one of ours."""
    if len(payload) < HEADER_BYTES:
        raise ValueError(f"payload of {len(payload)} bytes is shorter than the bonding header")
    magic, seq, fid, cap, write_t, n, idx, flags, link, fbytes = _HEADER.unpack_from(payload)
    if magic != MAGIC:
        raise ValueError("payload does not start with the bonding header magic")
    return BondHeader(seq, fid, cap, n, idx, bool(flags & FLAG_IFRAME), link, fbytes, write_t)


# ---------------------------------------------------------------------------------------------
# Receiver reports: the receiver namespace -> the sender, one UDP datagram per link per interval

RR_MAGIC = b"BLRR"
RR_BASE_PORT = 7000  # link i's reports go to its sender_ip, port RR_BASE_PORT + i, over link i
# magic, link, report number, send time, payload bytes, packets, latest wire arrival,
# packet-train sums Sxx (bytes^2) and Sxy (bytes x s), bytes after trains' first packets, spans (s)
_REPORT = struct.Struct("!4sHIdQQdddQd")
REPORT_BYTES = _REPORT.size


@dataclass(frozen=True, slots=True)
class ReceiverReport:
    """What the receiver saw on the wire of one link, cumulative since the capture started
    (core.feedback.ReceiverReport is the sender's view of the same fields).

    `payload_bytes` counts bonding payload bytes (the encoder packet bytes librist was handed: the
    bonding header and its padding, i.e. the UDP payload less librist's 20 bytes of GRE, port and
    RTP headers) of distinct packets on this link: each the first time it arrives here, even when
    a copy came first on another link (the sender counts what it gave this link, copies aside); a
    second arrival on this link (a spurious retransmission) adds nothing. `packets` counts every
    packet that reached librist's port on this link: data, retransmissions and librist's own
    control packets (RTCP, echoes), so a link that carries no data still shows it is alive.
    `last_arrival_t` is the wire time of the latest of those (0.0 before the first). Times are the
    receiver's CLOCK_MONOTONIC (the sender's clock too, on one kernel). `train_sxx`, `train_sxy`
    are the link's packet-train dispersion sums (core/trains.py: per train of one frame's packets
    on this link, counted as for `payload_bytes`, the least-squares sums of wire time on cumulative
    payload bytes in sequence order), `train_bytes` and `train_span_s` the same trains' bytes after
    their first packet and their first-to-last spans; the sender reads the link's train rate from
    their growth between two reports. Being cumulative, a lost report costs freshness only: the next one
    carries all of it.
    """

    link: int
    number: int
    send_t: float
    payload_bytes: int
    packets: int
    last_arrival_t: float
    train_sxx: float = 0.0
    train_sxy: float = 0.0
    train_bytes: int = 0
    train_span_s: float = 0.0


def pack_report(r: ReceiverReport) -> bytes:
    return _REPORT.pack(
        RR_MAGIC,
        r.link,
        r.number,
        r.send_t,
        r.payload_bytes,
        r.packets,
        r.last_arrival_t,
        r.train_sxx,
        r.train_sxy,
        r.train_bytes,
        r.train_span_s,
    )


def unpack_report(data: bytes) -> ReceiverReport:
    """Parse a receiver report datagram; ValueError if it is not one."""
    if len(data) != REPORT_BYTES:
        raise ValueError(f"receiver report must be {REPORT_BYTES} bytes, got {len(data)}")
    magic, link, number, send_t, nbytes, packets, last_t, sxx, sxy, tbytes, span = _REPORT.unpack(data)
    if magic != RR_MAGIC:
        raise ValueError("datagram does not start with the receiver report magic")
    return ReceiverReport(link, number, send_t, nbytes, packets, last_t, sxx, sxy, tbytes, span)


def find_header(udp_payload: bytes | bytearray | memoryview, start: int = 0, end: int | None = None) -> int:
    """Offset of the bonding header in a UDP payload (after librist's own headers), or -1.

    The magic is searched rather than assumed at a fixed offset, so a change of librist's
    encapsulation cannot silently misparse; the capture checks the measured offset first.
    """
    buf = udp_payload if not isinstance(udp_payload, memoryview) else udp_payload.tobytes()
    return buf.find(MAGIC, start, len(buf) if end is None else end)
