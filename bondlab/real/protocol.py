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
