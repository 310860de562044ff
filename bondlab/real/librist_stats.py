"""librist's periodic stats, turned into dataclasses and handed to a Python callable.

Why a module of its own: librist calls the stats callback on its protocol thread and hands over a
container the callee must free. `_bondlab_rist_stats_cb` copies what we use into a frozen
`PeerStats` (sender, per peer) or `FlowStats` (receiver, per flow), frees the container exactly
once whatever the user callback does, and logs (never propagates into C) what the callback raises.
The callable travels as a cffi handle to a `StatsSink`; contexts register it
(librist_context.RistContext).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bondlab.real.librist_lib import ffi, lib, logger


@dataclass(frozen=True, slots=True)
class PeerStats:
    """One sender peer's stats for one interval (librist `rist_stats_sender_peer`).

    Measured against librist 0.2.7 on loopback and through a delaying relay:

    - `bandwidth_bps`: payload bits/s the sender pushed to this peer, smoothed over ~1 s whatever
      the stats interval (rises to ~70 % of a step in 1 s, ~94 % in 2 s; halves every ~0.5 s once
      sending stops). It is the send rate, not link capacity.
    - `retry_buffer_bandwidth_bps`: librist's `retry_bandwidth`; 0.2.7 never fills it (always 0).
    - `sent`: packets sent to the peer during this interval, RTCP keepalives/echoes included
      (~20/s); `received`: RTCP packets received from the peer; `retransmitted`: retransmissions.
      Counts are reset after each report.
    - `rtt_ms`: librist's 1/8 EWMA of echo round trips, whole ms (a few ms on bare loopback);
      0 until a first echo came back.
    - `cname`: the *receiver's* cname (from its RTCP SDES; set `?cname=` on the receiver's listen
      URL to name a link); empty until the handshake completes.
    - `peer_id`: librist's internal peer id (main profile: 1, 2... in add order; simple profile
      reports a data peer and an RTCP peer per added peer).

    `t` is `time.monotonic()` at delivery; `json` is librist's own JSON rendering, with extra
    fields (avg_rtt, bloat_skipped, retry_buffer_size...).
    """

    peer_id: int
    cname: str
    bandwidth_bps: int
    retry_buffer_bandwidth_bps: int
    sent: int
    received: int
    retransmitted: int
    quality: float
    rtt_ms: int
    t: float = 0.0
    json: str = ""


@dataclass(frozen=True, slots=True)
class FlowStats:
    """One receiver flow's stats for one interval (librist `rist_stats_receiver_flow`).

    Counts are per interval. In 0.2.7 `bandwidth_bps` is always 0 (the per-peer bitrates are
    only in `json`, under "peers"), and `rtt_ms` is the avg RTT of the flow's *last* peer, not a
    mean. Inter-packet spacings are microseconds (min is 0 when no packet arrived, where librist
    itself reports UINT64_MAX).
    """

    flow_id: int
    peer_count: int
    cname: str
    status: int
    bandwidth_bps: int
    retry_bandwidth_bps: int
    sent: int
    received: int
    missing: int
    reordered: int
    recovered: int
    recovered_one_retry: int
    lost: int
    quality: float
    min_inter_packet_spacing_us: int
    cur_inter_packet_spacing_us: int
    max_inter_packet_spacing_us: int
    rtt_ms: int
    t: float = 0.0
    json: str = ""


_U64_MAX = 2**64 - 1


def _json_of(stats: Any) -> str:
    if stats.stats_json == ffi.NULL:
        return ""
    text: str = ffi.string(stats.stats_json).decode("utf-8", "replace")
    return text


def _sender_stats(stats: Any, now: float) -> PeerStats:
    s = stats.stats.sender_peer
    return PeerStats(
        peer_id=s.peer_id,
        cname=ffi.string(s.cname).decode("utf-8", "replace"),
        bandwidth_bps=s.bandwidth,
        retry_buffer_bandwidth_bps=s.retry_bandwidth,
        sent=s.sent,
        received=s.received,
        retransmitted=s.retransmitted,
        quality=s.quality,
        rtt_ms=s.rtt,
        t=now,
        json=_json_of(stats),
    )


def _receiver_stats(stats: Any, now: float) -> FlowStats:
    s = stats.stats.receiver_flow
    min_ips = s.min_inter_packet_spacing
    return FlowStats(
        flow_id=s.flow_id,
        peer_count=s.peer_count,
        cname=ffi.string(s.cname).decode("utf-8", "replace"),
        status=s.status,
        bandwidth_bps=s.bandwidth,
        retry_bandwidth_bps=s.retry_bandwidth,
        sent=s.sent,
        received=s.received,
        missing=s.missing,
        reordered=s.reordered,
        recovered=s.recovered,
        recovered_one_retry=s.recovered_one_retry,
        lost=s.lost,
        quality=s.quality,
        min_inter_packet_spacing_us=0 if min_ips == _U64_MAX else min_ips,
        cur_inter_packet_spacing_us=s.cur_inter_packet_spacing,
        max_inter_packet_spacing_us=s.max_inter_packet_spacing,
        rtt_ms=s.rtt,
        t=now,
        json=_json_of(stats),
    )


class StatsSink:
    """What a stats handle points at: the user callable, kept apart from the wrapper object so the
    handle never keeps a RistSender/RistReceiver alive (and its finalizer can still run)."""

    def __init__(self, callback: Callable[[Any], None]) -> None:
        self.callback = callback


# `active` is True on the librist thread while it runs a user stats callback (see
# NativeContext.destroy, which must not join the thread it runs on).
callback_thread = threading.local()


@ffi.def_extern()  # type: ignore[untyped-decorator]
def _bondlab_rist_stats_cb(arg: Any, stats: Any) -> int:
    """Called by librist's protocol thread once per peer (sender) or flow (receiver) per interval."""
    item: PeerStats | FlowStats | None = None
    try:
        try:
            now = time.monotonic()
            if stats.stats_type == lib.RIST_STATS_SENDER_PEER:
                item = _sender_stats(stats, now)
            elif stats.stats_type == lib.RIST_STATS_RECEIVER_FLOW:
                item = _receiver_stats(stats, now)
        finally:
            # librist hands ownership of the container to the callback: free it exactly once,
            # before user code runs (everything needed was copied above).
            lib.rist_stats_free(stats)
        if item is not None and arg != ffi.NULL:
            sink: StatsSink = ffi.from_handle(arg)
            callback_thread.active = True
            try:
                sink.callback(item)
            finally:
                callback_thread.active = False
    except Exception:  # exceptions must not unwind into C
        try:
            logger.exception("librist stats callback raised")
        except Exception:  # interpreter shutting down
            pass
    return 0
