"""Bonded receiver: merge packets from every link by global sequence, judge each frame at playout.

A frame's deadline is its capture time + the receiver latency. It is *on time* when every packet
arrived by then. It is *decodable* when it is on time and so is every frame it depends on back to
the last I-frame: one late packet breaks the rest of its GOP, which is what a viewer sees.
"""

from __future__ import annotations

import heapq
from array import array
from dataclasses import dataclass, field

import numpy as np

# A sequence number this far past the flags already held goes to the sparse set instead of
# growing them: dense numbering is what senders do, and a stray huge number must not cost memory.
SPARSE_JUMP = 1 << 24


class SeqSet:
    """The sequence numbers seen so far, one byte per number.

    Why not a set: senders number packets densely from 0, and a set costs ~70 bytes per packet
    (its slot and the int object), which is most of what an hour-long run keeps per packet; a flag
    costs one. Negative numbers, or one jumping past SPARSE_JUMP beyond the flags, go to a plain
    set, so membership stays exact for any input.
    """

    __slots__ = ("flags", "sparse", "count")

    def __init__(self) -> None:
        self.flags = bytearray(4096)
        self.sparse: set[int] = set()
        self.count = 0

    def add(self, seq: int) -> bool:
        """Mark `seq` seen; False if it was seen before."""
        flags = self.flags
        if 0 <= seq < len(flags) + SPARSE_JUMP:
            if seq >= len(flags):
                flags.extend(bytes(max(len(flags), seq + 1 - len(flags))))  # doubling: amortised O(1)
            elif flags[seq]:
                return False
            if self.sparse and seq in self.sparse:  # went there before the flags reached it
                return False
            flags[seq] = 1
        elif seq in self.sparse:
            return False
        else:
            self.sparse.add(seq)
        self.count += 1
        return True

    def __contains__(self, seq: int) -> bool:
        return (0 <= seq < len(self.flags) and self.flags[seq] == 1) or seq in self.sparse

    def __len__(self) -> int:
        return self.count


@dataclass(slots=True)
class FrameRecord:
    capture_t: float
    is_iframe: bool
    n_packets: int
    size_bytes: int
    arrived: int = 0
    complete_t: float = float("-inf")  # latest arrival among its packets


@dataclass
class PlayoutReport:
    frames_total: int
    frames_on_time: int
    frames_decodable: int
    bytes_on_time: int
    delays_ms: np.ndarray = field(repr=False)  # one per distinct packet that arrived
    late_packets: int = 0
    duplicate_packets: int = 0

    @property
    def on_time_ratio(self) -> float:
        return self.frames_on_time / self.frames_total if self.frames_total else 0.0

    @property
    def decodable_ratio(self) -> float:
        return self.frames_decodable / self.frames_total if self.frames_total else 0.0


class BondedReceiver:
    def __init__(self, latency_ms: float, reorder: bool = True) -> None:
        """`reorder=False` skips the in-order release buffer (the sim judges frames afterwards)."""
        self.reorder = reorder
        self.latency_s = latency_ms / 1000.0
        self.frames: dict[int, FrameRecord] = {}
        self._seen = SeqSet()
        self._delays = array("d")  # 8 bytes per packet: a list of floats costs 32
        self._late = 0
        self._dupes = 0
        self._reorder: list[tuple[int, float, int]] = []  # heap of (seq, deadline, frame_id)
        self._next_release = 0

    def register_frame(
        self, frame_id: int, capture_t: float, is_iframe: bool, n_packets: int, size_bytes: int
    ) -> None:
        """The sender announces a frame (in real runs the bonding header carries this)."""
        self.frames[frame_id] = FrameRecord(capture_t, is_iframe, n_packets, size_bytes)

    def on_packet(self, seq: int, frame_id: int, arrival_t: float) -> None:
        """A packet (original or retransmission) arrived on any link."""
        if not self._seen.add(seq):
            self._dupes += 1
            return
        rec = self.frames[frame_id]
        rec.arrived += 1
        if arrival_t > rec.complete_t:
            rec.complete_t = arrival_t
        self._delays.append((arrival_t - rec.capture_t) * 1000.0)
        deadline = rec.capture_t + self.latency_s
        if arrival_t > deadline:
            self._late += 1
        elif self.reorder:
            heapq.heappush(self._reorder, (seq, deadline, frame_id))

    def on_burst(self, frame_id: int, seqs: list[int], arrivals: list[float]) -> None:
        """Several packets of one frame arrived (same as on_packet for each, in one call)."""
        if self.reorder:
            for seq, arrival_t in zip(seqs, arrivals):
                self.on_packet(seq, frame_id, arrival_t)
            return
        add, rec, delays = self._seen.add, self.frames[frame_id], self._delays
        deadline = rec.capture_t + self.latency_s
        for seq, arrival_t in zip(seqs, arrivals):
            if not add(seq):
                self._dupes += 1
                continue
            rec.arrived += 1
            if arrival_t > rec.complete_t:
                rec.complete_t = arrival_t
            delays.append((arrival_t - rec.capture_t) * 1000.0)
            if arrival_t > deadline:
                self._late += 1

    def release(self, now: float) -> list[int]:
        """Sequence numbers handed to the decoder by `now`, in order: a packet leaves once all
        earlier ones have, or once its deadline passes (a gap is given up at the deadline)."""
        out: list[int] = []
        heap = self._reorder
        while heap and (heap[0][0] <= self._next_release or heap[0][1] <= now):
            seq, _, _ = heapq.heappop(heap)
            out.append(seq)
            self._next_release = max(self._next_release, seq + 1)
        return out

    def report(self) -> PlayoutReport:
        on_time = decodable = bytes_on_time = 0
        chain_ok = False
        for fid in sorted(self.frames):
            rec = self.frames[fid]
            ok = rec.arrived == rec.n_packets and rec.complete_t <= rec.capture_t + self.latency_s
            chain_ok = ok if rec.is_iframe else (chain_ok and ok)
            on_time += ok
            decodable += chain_ok
            bytes_on_time += rec.size_bytes if ok else 0
        return PlayoutReport(
            len(self.frames),
            on_time,
            decodable,
            bytes_on_time,
            np.asarray(self._delays, dtype=float),
            self._late,
            self._dupes,
        )
