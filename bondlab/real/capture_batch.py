"""A batch of captured packets: one C call (bondlab_capture_drain in bondlab/real/_batch_c.py)
reads what a capture socket holds with recvmmsg and parses each packet's bonding header into
numpy columns; real/capture.py then counts the batch per link.

Why C: one recvmsg, one ancillary-data parse and one header parse per packet in Python cost
the TCG VM's capture most of a core at 8 Mbps, and a capture that falls behind loses packets
to its socket buffer (kernel drops) and delays the reports the sender's controller reads.
"""

from __future__ import annotations

import socket

import numpy as np

from bondlab.real.librist_lib import ffi, lib

SNAP_BYTES: int = lib.BONDLAB_SNAP_BYTES  # what the BPF filter keeps of each packet (capture.SNAP_BYTES)


class PacketBatch:
    """Reusable columns: after `drain` returned n, rows 0..n-1 hold the packets read.

    realtime_ns: the kernel's receive stamp (CLOCK_REALTIME ns; -1 without one); ip_len: IP total
    length; at: the bonding magic's offset in the UDP payload (-1: no bonding header in the snap);
    payload: bonding payload bytes (IP length from the magic on); seq, frame_id, capture_t,
    write_t: the header's fields (rows with at >= 0 only)."""

    COLUMNS = (
        ("realtime_ns", np.int64, "int64_t[]"),
        ("ip_len", np.int32, "int32_t[]"),
        ("at", np.int32, "int32_t[]"),
        ("payload", np.int32, "int32_t[]"),
        ("seq", np.int64, "int64_t[]"),
        ("frame_id", np.int64, "int64_t[]"),
        ("capture_t", np.float64, "double[]"),
        ("write_t", np.float64, "double[]"),
    )

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._c = []
        for name, dtype, ctype in self.COLUMNS:
            column = np.zeros(size, dtype)
            setattr(self, name, column)
            self._c.append(ffi.from_buffer(ctype, column))
        self._err = ffi.new("int *")
        self.hint = -1  # the header offset of the last bonding packet: tried first next time

    def drain(self, sock: socket.socket | int) -> int:
        """Read up to `size` packets queued on a non-blocking socket; 0 when none is queued.
        OSError for a socket error other than 'nothing queued'."""
        fd = sock if isinstance(sock, int) else sock.fileno()
        n = int(lib.bondlab_capture_drain(fd, self.size, self.hint, *self._c, self._err))
        if self._err[0] and not n:  # after rows, the next call meets the error again
            raise OSError(self._err[0], f"recvmmsg on the capture socket: {self._err[0]}")
        if n:
            found = self.at[:n][self.at[:n] >= 0]
            if len(found):
                self.hint = int(found[-1])
        return n
