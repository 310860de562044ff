"""Pythonic wrapper over the cffi binding to librist 0.2.7 (compiled at install time): the sender
and receiver contexts the rest of bondlab uses.

The wrapper's other parts: librist_lib (loading the binding, RistError, Profile, versions, log
routing, `set_log_level`), librist_context (C-object lifetimes, peers, start, close: what both
contexts share), librist_stats (PeerStats, FlowStats), librist_url (PeerConfig, `parse_url`, the
URL parameters librist accepts) and librist_burst (`RistSender.write_burst`).

One sender context drives one flow; librist ignores the `peer` field of a data block, so a
per-packet link choice needs one `RistSender` per link (several instances per process work).
librist's own multi-peer mode (one sender, several peers, weights) is `add_peer` + `set_weight`.
`RistSender.write_burst` writes a frame's packets in one C call, bonding header built in C
(bondlab/real/librist_burst.py); it is several times cheaper per packet than pack() + write().

librist 0.2.7 behaviours worth knowing (seen on loopback, see tests/real/test_librist_binding.py):

- The receiver silently drops data that arrives before a peer's RTCP handshake, the first
  packet of a simple-profile flow, and the first packet(s) reaching each peer of a multi-peer
  flow. Wait for a PeerStats with a non-empty cname, and warm multi-peer flows up.
- Simple profile needs an even receiver port (RTCP uses port + 1).
- A sender whose peer never answers keeps sending and reporting (received=0, rtt_ms=0); writes
  never fail. In multi-peer mode a peer that goes silent is dropped from the balancing and its
  stats stop altogether.
- Several senders sharing one flow_id (with `write(seq=...)`) merge into one in-order flow at a
  receiver listening on several peers, but retransmission is only partial: a NACK can go to the
  context that never sent the packet.
- `rist_peer_create` accepts an unresolvable host (it only logs errors).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from bondlab.real import librist_arrivals, librist_burst
from bondlab.real.librist_context import RistContext, RistPeer, as_profile
from bondlab.real.librist_lib import MAX_PAYLOAD, Profile, RistError, ffi, lib
from bondlab.real.librist_stats import FlowStats, PeerStats

__all__ = ["ReceivedBlock", "RistReceiver", "RistSender"]


class RistSender(RistContext):
    """A librist sender context: one flow, one or more peers.

    `stats_callback` gets a PeerStats per peer per `stats_interval_ms`, on a librist thread (keep it
    quick; exceptions are logged). Several senders in one process are independent.
    """

    def __init__(
        self,
        profile: Profile | str | int = Profile.MAIN,
        *,
        flow_id: int = 0,
        stats_callback: Callable[[PeerStats], None] | None = None,
        stats_interval_ms: int = 1000,
        log_level: int | str | None = None,
        null_packet_deletion: bool = False,
    ) -> None:
        if flow_id % 2:
            raise ValueError("flow_id must be even (librist uses the low bit), or 0 for random")
        super().__init__(log_level)
        self.profile = as_profile(profile)
        ctx_pp = ffi.new("struct rist_ctx **")
        ret = lib.rist_sender_create(ctx_pp, int(self.profile), flow_id, self._native.log_settings[0])
        if ret != 0 or ctx_pp[0] == ffi.NULL:
            self.close()
            raise RistError(f"rist_sender_create failed (ret {ret})")
        self._native.ctx = ctx_pp[0]
        if null_packet_deletion and lib.rist_sender_npd_enable(ctx_pp[0]) != 0:
            self.close()
            raise RistError("rist_sender_npd_enable failed")
        self.set_stats_callback(stats_callback, stats_interval_ms)

    @property
    def flow_id(self) -> int:
        out = ffi.new("uint32_t *")
        with self._native.lock:
            if lib.rist_sender_flow_id_get(self._native.require(), out) != 0:
                raise RistError("rist_sender_flow_id_get failed")
        return int(out[0])

    def set_stats_callback(
        self, callback: Callable[[PeerStats], None] | None, interval_ms: int = 1000
    ) -> None:
        """Deliver PeerStats to `callback` every `interval_ms` (per authenticated peer)."""
        self._set_stats(callback, interval_ms)

    def set_weight(self, peer: RistPeer, weight: int) -> None:
        """Weight of a peer in librist's multi-peer load balancing (0 = duplicate to it)."""
        if weight < 0:
            raise ValueError("weight must be >= 0")
        self._check_peer(peer)
        with self._native.lock:
            ret = lib.rist_peer_weight_set(self._native.require(), peer._ptr, weight)
        if ret != 0:
            raise RistError(f"rist_peer_weight_set failed (ret {ret})")

    def write(
        self, payload: bytes | bytearray | memoryview, *, seq: int | None = None, ts_ntp: int = 0
    ) -> int:
        """Queue one payload (<= MAX_PAYLOAD bytes); librist copies it. Returns bytes accepted.

        `seq` forces the RTP sequence number (16 bits used), which lets several sender contexts
        carry one numbering; `ts_ntp` 0 lets librist stamp the packet.
        """
        size = len(payload)
        if not 0 < size <= MAX_PAYLOAD:
            raise ValueError(f"payload size {size} outside 1..{MAX_PAYLOAD}")
        buf = ffi.from_buffer(payload)
        native = self._native
        with native.lock:
            ctx = native.require()
            block = native.block
            block.payload = buf
            block.payload_len = size
            block.ts_ntp = ts_ntp
            if seq is None:
                block.flags = 0
                block.seq = 0
            else:
                block.flags = lib.RIST_DATA_FLAGS_USE_SEQ
                block.seq = seq
            ret = lib.rist_sender_data_write(ctx, block)
            block.payload = ffi.NULL
        if ret < 0:
            raise RistError(f"rist_sender_data_write failed (ret {ret})")
        return int(ret)

    def write_burst(
        self,
        seqs: Sequence[int],
        indices: Sequence[int],
        sizes: Sequence[int],
        frame_id: int,
        capture_t: float,
        n_packets: int,
        is_iframe: bool,
        link: int | Sequence[int],
        frame_bytes: int,
    ) -> int:
        """Write packets of one frame in one C call, each with the bonding header of protocol.pack.

        Packet i carries seq `seqs[i]`, index `indices[i]` and is `sizes[i]` bytes (zeros after
        the 42-byte header; up to MAX_PAYLOAD; below 42 the bare header, as protocol.pack); the
        frame's fields are shared. Lists or tuples are cheapest (other sequences are copied).
        `link` is the header's link byte: one for all, or one per packet. write_t is stamped in C
        with CLOCK_MONOTONIC (time.monotonic()) right before each packet goes to librist. Returns
        the packets written; RistError as write() (then the packets before it were written).
        """
        return librist_burst.write_burst(
            self._native, seqs, indices, sizes, frame_id, capture_t, n_packets, is_iframe, link, frame_bytes
        )


@dataclass(frozen=True, slots=True)
class ReceivedBlock:
    """One payload out of the receiver, with librist's metadata (flags: RIST_DATA_FLAGS_*).

    `seq` is the RTP sequence number (16 bits on the wire, wraps at 65536). `peer_token` is the
    address of librist's internal peer that delivered the packet: opaque, but stable for one
    connection, so it tells links apart when several peers feed one receiver.
    """

    payload: bytes
    seq: int
    flow_id: int
    ts_ntp: int
    flags: int
    virt_src_port: int
    virt_dst_port: int
    peer_token: int = 0

    @property
    def discontinuity(self) -> bool:
        """librist flagged a gap before this packet (something was lost for good)."""
        return bool(self.flags & lib.RIST_DATA_FLAGS_DISCONTINUITY)


class RistReceiver(RistContext):
    """A librist receiver context reading through librist's output FIFO (`read`, `payloads`).

    The recovery buffer is per peer, from the URL: `rist://@127.0.0.1:PORT?buffer=800`.
    `stats_callback` gets a FlowStats per flow per interval, on a librist thread.
    """

    def __init__(
        self,
        profile: Profile | str | int = Profile.MAIN,
        *,
        stats_callback: Callable[[FlowStats], None] | None = None,
        stats_interval_ms: int = 1000,
        log_level: int | str | None = None,
        fifo_size: int | None = None,
    ) -> None:
        super().__init__(log_level)
        self.profile = as_profile(profile)
        ctx_pp = ffi.new("struct rist_ctx **")
        ret = lib.rist_receiver_create(ctx_pp, int(self.profile), self._native.log_settings[0])
        if ret != 0 or ctx_pp[0] == ffi.NULL:
            self.close()
            raise RistError(f"rist_receiver_create failed (ret {ret})")
        self._native.ctx = ctx_pp[0]
        if fifo_size is not None:
            if fifo_size <= 0 or fifo_size & (fifo_size - 1):
                self.close()
                raise ValueError("fifo_size must be a power of two")
            if lib.rist_receiver_set_output_fifo_size(ctx_pp[0], fifo_size) != 0:
                self.close()
                raise RistError("rist_receiver_set_output_fifo_size failed")
        self.set_stats_callback(stats_callback, stats_interval_ms)

    def set_stats_callback(
        self, callback: Callable[[FlowStats], None] | None, interval_ms: int = 1000
    ) -> None:
        """Deliver FlowStats to `callback` every `interval_ms` (per flow)."""
        self._set_stats(callback, interval_ms)

    def read_block(self, timeout_ms: int = 100) -> ReceivedBlock | None:
        """Next block from librist's output FIFO, waiting up to `timeout_ms`; None on timeout.

        Blocks in C with the GIL released. Returns None as well once the receiver is closed.
        """
        native = self._native
        with native.lock:
            if native.closed:
                return None
            pp = native.block_pp
            pp[0] = ffi.NULL
            ret = lib.rist_receiver_data_read2(native.ctx, pp, timeout_ms)
            if ret < 0:
                raise RistError(f"rist_receiver_data_read2 failed (ret {ret})")
            b = pp[0]
            if ret == 0 or b == ffi.NULL:
                return None
            try:
                return ReceivedBlock(
                    payload=ffi.buffer(b.payload, b.payload_len)[:],
                    seq=b.seq,
                    flow_id=b.flow_id,
                    ts_ntp=b.ts_ntp,
                    flags=b.flags,
                    virt_src_port=b.virt_src_port,
                    virt_dst_port=b.virt_dst_port,
                    peer_token=int(ffi.cast("uintptr_t", b.peer)),
                )
            finally:
                lib.rist_receiver_data_block_free2(pp)

    def read_arrivals(self, batch: librist_arrivals.ArrivalBatch, timeout_ms: int = 50) -> int:
        """Drain the output FIFO into `batch` in one C call (GIL released), waiting up to
        `timeout_ms` for the first block; returns the rows filled (0 on timeout or once closed).
        Blocks without a bonding header are counted in `batch.bad`, not returned."""
        return librist_arrivals.read_arrivals(self._native, batch, timeout_ms)

    def read(self, timeout_ms: int = 100) -> bytes | None:
        """Next payload, or None if nothing arrived within `timeout_ms`."""
        block = self.read_block(timeout_ms)
        return None if block is None else block.payload

    def payloads(self, timeout_ms: int = 100, idle_s: float | None = None) -> Iterator[bytes]:
        """Yield payloads until closed, or until nothing arrived for `idle_s` seconds."""
        last = time.monotonic()
        while not self.closed:
            payload = self.read(timeout_ms)
            now = time.monotonic()
            if payload is not None:
                last = now
                yield payload
            elif idle_s is not None and now - last >= idle_s:
                return

    def __iter__(self) -> Iterator[bytes]:
        return self.payloads()
