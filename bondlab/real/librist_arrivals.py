"""Batched reads from a librist receiver: one C call drains its output FIFO into numpy columns
(bondlab_read_arrivals in bondlab/real/_batch_c.py), each block stamped with CLOCK_MONOTONIC as
it is read and reduced to the bonding header's seq, frame_id, link and write_t.

Why: the per-block Python path (ReceivedBlock, a payload copy, protocol.unpack) cost the TCG VM's
receiver more CPU than librist itself; a slow reader also lets librist's output FIFO fill. Use
`RistReceiver.read_arrivals`; this module holds the batch so librist.py stays about contexts.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bondlab.real.librist_lib import RistError, ffi, lib

BATCH = 256


class ArrivalBatch:
    """Reusable columns for one reader thread: after `read_arrivals` returned n, rows 0..n-1 hold
    what was read; `bad` counts blocks without a bonding header since the batch was made."""

    def __init__(self, size: int = BATCH) -> None:
        self.size = size
        self.seq = np.zeros(size, np.int64)
        self.frame_id = np.zeros(size, np.int64)
        self.arrival = np.zeros(size, np.float64)
        self.link = np.zeros(size, np.int16)
        self.write_t = np.zeros(size, np.float64)
        self._c = [
            ffi.from_buffer(t, a)
            for t, a in (
                ("int64_t[]", self.seq),
                ("int64_t[]", self.frame_id),
                ("double[]", self.arrival),
                ("int16_t[]", self.link),
                ("double[]", self.write_t),
            )
        ]
        self._bad = ffi.new("int *")
        self._err = ffi.new("int *")

    @property
    def bad(self) -> int:
        return int(self._bad[0])

    def rows(self, n: int) -> list[tuple[int, int, float, int, float]]:
        """(seq, frame_id, arrival, link, write_t) of the first n rows (receiver.ARRIVAL_DTYPE order)."""
        return list(
            zip(
                self.seq[:n].tolist(),
                self.frame_id[:n].tolist(),
                self.arrival[:n].tolist(),
                self.link[:n].tolist(),
                self.write_t[:n].tolist(),
            )
        )


def read_arrivals(native: Any, batch: ArrivalBatch, timeout_ms: int) -> int:
    """See RistReceiver.read_arrivals. `native` is the receiver's librist_context.NativeContext."""
    with native.lock:
        if native.closed:
            return 0
        n = lib.bondlab_read_arrivals(native.ctx, timeout_ms, batch.size, *batch._c, batch._bad, batch._err)
        err = batch._err[0]
    if err < 0 and n == 0:
        raise RistError(f"rist_receiver_data_read2 failed (ret {err})")
    return int(n)
