"""Bonded receiver: merge packets from every link by global sequence, judge each frame at playout.

A frame's deadline is its capture time + the receiver latency. It is *on time* when every packet
arrived by then. It is *decodable* when it is on time and so is every frame it depends on back to
the last I-frame: one late packet breaks the rest of its GOP, which is what a viewer sees.
"""

from __future__ import annotations

import heapq
from array import array
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

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
    # Per frame in frame-id order (what a viewer saw, frame by frame: calibration in motion):
    # capture time, payload bytes, I-frame, on time, decodable. Empty where a report was built
    # by hand.
    frames: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    delay_capture_t: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)  # per delay

    @property
    def on_time_ratio(self) -> float:
        return self.frames_on_time / self.frames_total if self.frames_total else 0.0

    @property
    def decodable_ratio(self) -> float:
        return self.frames_decodable / self.frames_total if self.frames_total else 0.0


def frame_table(report: PlayoutReport, origin: float) -> pd.DataFrame:
    """The report's frames as a DataFrame (t: capture time less `origin`, the run's start), what
    frames.parquet holds."""
    import pandas as pd  # here, not at the top: real run processes import this module (9p in the VM)

    f = report.frames
    return pd.DataFrame(
        {
            "t": f["capture_t"] - origin,
            "bytes": f["bytes"],
            "iframe": f["iframe"],
            "on_time": f["on_time"],
            "decodable": f["decodable"],
        }
    )


class BondedReceiver:
    """Frames are kept in typed columns, one row per frame (~40 bytes; a record object and its dict
    entry cost ~200): a sender numbers frames densely from 0, so frame id = row; any other id
    gets its row through a dict."""

    def __init__(self, latency_ms: float, reorder: bool = True) -> None:
        """`reorder=False` skips the in-order release buffer (the sim judges frames afterwards)."""
        self.reorder = reorder
        self.latency_s = latency_ms / 1000.0
        self._capture = array("d")
        self._iframe = bytearray()
        self._n_packets = array("q")
        self._size = array("q")
        self._arrived = array("q")
        self._complete = array("d")  # latest arrival among a frame's packets (-inf: none yet)
        self._on_time = array("d")  # latest arrival among those that came by the frame's deadline
        # Packets that came after their deadline: seq -> (arrival, its index in _arrivals, row,
        # frame id). The sim learns an arrival when the packet is sent, so a copy sent later on a
        # faster path (reinjection, duplicate, retransmission) may still arrive first; on a wire
        # the first arrival counts, and so it does here. A copy is sent before the deadline, so an
        # entry is forgotten once a frame captured after that deadline is announced.
        self._late_at: dict[int, tuple[float, int, int, int]] = {}
        self._late_order: deque[tuple[float, int]] = deque()  # (deadline, seq), oldest first
        self._late_in_row: dict[int, int] = {}  # row -> its packets still late
        self._dense = 0  # frames 0 .. _dense-1 live in rows 0 .. _dense-1
        self._rows: dict[int, int] = {}  # row of every other frame id
        self._seen = SeqSet()
        # Delays, kept as what they are made of: each distinct packet's arrival, in order, and
        # runs of packets of one frame (its capture time, how many); report() subtracts in one go.
        # 8 bytes per packet (a list of floats costs 32), and no arithmetic per packet here.
        self._arrivals = array("d")
        self._run_capture = array("d")
        self._run_length = array("q")
        self._late = 0
        self._dupes = 0
        self._reorder: list[tuple[int, float, int]] = []  # heap of (seq, deadline, frame_id)
        self._next_release = 0

    def register_frame(
        self, frame_id: int, capture_t: float, is_iframe: bool, n_packets: int, size_bytes: int
    ) -> None:
        """The sender announces a frame (in real runs the bonding header carries this)."""
        if 0 <= frame_id < self._dense or frame_id in self._rows:  # announced again: start afresh
            row = self._row(frame_id)
            self._capture[row] = capture_t
            self._iframe[row] = bool(is_iframe)
            self._n_packets[row] = n_packets
            self._size[row] = size_bytes
            self._arrived[row] = 0
            self._complete[row] = self._on_time[row] = float("-inf")
            if self._late_in_row.pop(row, None):  # its old late packets are no longer its own
                for seq in [q for q, entry in self._late_at.items() if entry[2] == row]:
                    del self._late_at[seq]
            return
        order = self._late_order
        while order and order[0][0] < capture_t:  # no copy sent from now on makes that deadline
            self._late_at.pop(order.popleft()[1], None)
        row = len(self._capture)
        if frame_id == row and not self._rows:
            self._dense += 1
        else:
            self._rows[frame_id] = row
        self._capture.append(capture_t)
        self._iframe.append(bool(is_iframe))
        self._n_packets.append(n_packets)
        self._size.append(size_bytes)
        self._arrived.append(0)
        self._complete.append(float("-inf"))
        self._on_time.append(float("-inf"))

    def _row(self, frame_id: int) -> int:
        if 0 <= frame_id < self._dense:
            return frame_id
        return self._rows[frame_id]  # KeyError for a frame never announced

    @property
    def frames_total(self) -> int:
        return len(self._capture)

    @property
    def frames(self) -> dict[int, FrameRecord]:
        """Every frame's record, by frame id: a snapshot built from the columns (for a look at
        them; changing it changes nothing here)."""
        ids = [*range(self._dense), *self._rows]
        return {
            fid: FrameRecord(
                self._capture[row],
                bool(self._iframe[row]),
                self._n_packets[row],
                self._size[row],
                self._arrived[row],
                self._complete[row],
            )
            for fid, row in ((fid, self._row(fid)) for fid in ids)
        }

    def on_packet(self, seq: int, frame_id: int, arrival_t: float) -> None:
        """A packet (original or retransmission) arrived on any link."""
        if not self._seen.add(seq):
            self._dupes += 1
            if seq in self._late_at:
                self._earlier(seq, arrival_t)
            return
        row = self._row(frame_id)
        self._arrived[row] += 1
        if arrival_t > self._complete[row]:
            self._complete[row] = arrival_t
        capture = self._capture[row]
        deadline = capture + self.latency_s
        if arrival_t > deadline:
            self._mark_late(seq, frame_id, row, arrival_t, len(self._arrivals), deadline)
        else:
            if arrival_t > self._on_time[row]:
                self._on_time[row] = arrival_t
            if self.reorder:
                heapq.heappush(self._reorder, (seq, deadline, frame_id))
        self._add_arrivals(capture, [arrival_t])

    def on_burst(self, frame_id: int, seqs: list[int], arrivals: list[float]) -> None:
        """Several packets of one frame arrived (same as on_packet for each, in one call)."""
        if self.reorder:
            for seq, arrival_t in zip(seqs, arrivals):
                self.on_packet(seq, frame_id, arrival_t)
            return
        seen, row = self._seen, self._row(frame_id)
        cap = self._capture[row]
        deadline = cap + self.latency_s
        flags = seen.flags
        done = 0
        if seqs and not seen.sparse and 0 <= seqs[0] and (last := seqs[-1]) < len(flags):
            # The usual burst: increasing numbers within the flags, so each is in range and new
            # unless its flag is set (SeqSet.add inlined); the bookkeeping for them in one go.
            prev = -1
            for seq in seqs:
                if seq <= prev or seq > last or flags[seq]:
                    break  # not increasing, or seen before: from here packet by packet
                flags[seq] = 1
                prev = seq
                done += 1
            got = arrivals if done == len(arrivals) else arrivals[:done]
            if got:
                seen.count += done
                self._arrived[row] += done
                latest = max(got)
                if latest > self._complete[row]:
                    self._complete[row] = latest
                if latest > deadline:
                    base = len(self._arrivals)
                    for k, a in enumerate(got):
                        if a > deadline:
                            self._mark_late(seqs[k], frame_id, row, a, base + k, deadline)
                    latest = max((a for a in got if a <= deadline), default=float("-inf"))
                if latest > self._on_time[row]:
                    self._on_time[row] = latest
                self._add_arrivals(cap, got)
            if done == len(seqs):
                return
        for seq, arrival_t in zip(seqs[done:], arrivals[done:]):  # the rest: duplicates, odd numbers
            self.on_packet(seq, frame_id, arrival_t)

    def _mark_late(
        self, seq: int, frame_id: int, row: int, arrival_t: float, index: int, deadline: float
    ) -> None:
        self._late += 1
        self._late_at[seq] = (arrival_t, index, row, frame_id)
        self._late_order.append((deadline, seq))
        self._late_in_row[row] = self._late_in_row.get(row, 0) + 1

    def _earlier(self, seq: int, arrival_t: float) -> None:
        """A copy of a packet that came late arrives before it: the earlier arrival is the one."""
        first, index, row, frame_id = self._late_at[seq]
        if arrival_t >= first:
            return
        self._arrivals[index] = arrival_t
        deadline = self._capture[row] + self.latency_s
        if arrival_t > deadline:
            self._late_at[seq] = (arrival_t, index, row, frame_id)
            return
        del self._late_at[seq]
        self._late -= 1
        if arrival_t > self._on_time[row]:
            self._on_time[row] = arrival_t
        left = self._late_in_row[row] - 1
        if left:
            self._late_in_row[row] = left
        else:  # none of its packets late any more: the frame completes with its latest on-time one
            del self._late_in_row[row]
            self._complete[row] = self._on_time[row]
        if self.reorder:
            heapq.heappush(self._reorder, (seq, deadline, frame_id))

    def _add_arrivals(self, capture: float, arrivals: list[float]) -> None:
        """Distinct packets of the frame captured at `capture` arrived (their delays, in order)."""
        self._arrivals.extend(arrivals)
        if self._run_capture and self._run_capture[-1] == capture:
            self._run_length[-1] += len(arrivals)
        else:
            self._run_capture.append(capture)
            self._run_length.append(len(arrivals))

    @property
    def delays_ms(self) -> np.ndarray:
        """One delay per distinct packet that arrived, in arrival-report order: (arrival - capture)
        x 1000, the same float operations as per packet."""
        arrivals = np.frombuffer(self._arrivals, dtype=np.float64) if self._arrivals else np.zeros(0)
        if not len(arrivals):
            return np.zeros(0)
        return (arrivals - self.packet_captures()) * 1000.0

    def packet_captures(self) -> np.ndarray:
        """The capture time of each delay's packet, in the order of `delays_ms`."""
        if not self._arrivals:
            return np.zeros(0)
        return np.repeat(
            np.frombuffer(self._run_capture, dtype=np.float64),
            np.frombuffer(self._run_length, dtype=np.int64),
        )

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
        latency = self.latency_s
        capture, iframe, n_packets = self._capture, self._iframe, self._n_packets
        size, arrived, complete = self._size, self._arrived, self._complete
        order: Iterable[int] = range(self._dense)
        if self._rows:
            ids = sorted([*range(self._dense), *self._rows])
            order = [self._row(fid) for fid in ids]
        rows = list(order)
        oks = bytearray(len(rows))
        chains = bytearray(len(rows))
        for k, row in enumerate(rows):
            ok = arrived[row] == n_packets[row] and complete[row] <= capture[row] + latency
            chain_ok = ok if iframe[row] else (chain_ok and ok)
            on_time += ok
            decodable += chain_ok
            bytes_on_time += size[row] if ok else 0
            oks[k], chains[k] = ok, chain_ok
        take = np.asarray(rows, dtype=np.int64)
        frames = {
            "capture_t": np.frombuffer(capture, dtype=np.float64)[take] if len(take) else np.zeros(0),
            "bytes": np.frombuffer(size, dtype=np.int64)[take] if len(take) else np.zeros(0, np.int64),
            "iframe": np.frombuffer(iframe, dtype=np.uint8)[take].astype(bool)
            if len(take)
            else np.zeros(0, bool),
            "on_time": np.frombuffer(oks, dtype=np.uint8).astype(bool),
            "decodable": np.frombuffer(chains, dtype=np.uint8).astype(bool),
        }
        return PlayoutReport(
            len(capture),
            on_time,
            decodable,
            bytes_on_time,
            self.delays_ms,
            self._late,
            self._dupes,
            frames,
            self.packet_captures(),
        )
