"""Batched writes: one C call sends a frame's packets (or one link's share of them), each carrying
bondlab's bonding header, built in C (bondlab_write_burst in bondlab/real/_librist_build.py).

Why: in the TCG VM the per-packet Python path (BondHeader, protocol.pack with its struct pack and
padding allocation, RistSender.write) is most of the sender process's CPU. Here Python does one
call per burst; C builds each header in one preallocated zeroed buffer, stamps write_t with
CLOCK_MONOTONIC (the clock of time.monotonic()) just before each rist_sender_data_write, and
librist copies the payload. The bytes are exactly protocol.pack's (tests/real/test_librist_binding.py
checks them through a loopback receiver with protocol.unpack).

Use `RistSender.write_burst`; this module holds its implementation so librist.py stays about
contexts. On a multi-peer context (rist-weighted) librist picks each packet's peer as for write().
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bondlab.real.librist_lib import RistError, ffi, lib

HEADER_BYTES: int = lib.BONDLAB_HEADER_BYTES  # == protocol.HEADER_BYTES (42)
FLAG_IFRAME = 0x01  # == protocol.FLAG_IFRAME
_ARRAYS = (list, tuple)


class BurstState:
    """Per-context scratch memory: the zeroed payload buffer (only its first HEADER_BYTES are ever
    written, so the padding stays zero) and the C error out-parameter. Used under the context lock."""

    __slots__ = ("buf", "err")

    def __init__(self) -> None:
        self.buf = ffi.new("uint8_t[]", lib.BONDLAB_MAX_PAYLOAD)
        self.err = ffi.new("int *")


def write_burst(
    native: Any,
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
    """See RistSender.write_burst. `native` is the sender's librist_context.NativeContext."""
    # cffi turns lists and tuples into C arrays for the call; anything else is copied to a list.
    if type(seqs) not in _ARRAYS:
        seqs = list(seqs)
    if type(indices) not in _ARRAYS:
        indices = list(indices)
    if type(sizes) not in _ARRAYS:
        sizes = list(sizes)
    count = len(sizes)
    if len(seqs) != count or len(indices) != count:
        raise ValueError(f"seqs, indices and sizes differ in length ({len(seqs)}, {len(indices)}, {count})")
    if isinstance(link, Sequence) or hasattr(link, "__len__"):
        links, link0 = (link if type(link) in _ARRAYS else list(link)), 0
        if len(links) != count:
            raise ValueError(f"{len(links)} links for {count} packets")
    else:
        links, link0 = ffi.NULL, int(link)
    if count == 0:
        return 0
    flags = FLAG_IFRAME if is_iframe else 0
    with native.lock:
        ctx = native.require()
        state = native.burst
        if state is None:
            state = native.burst = BurstState()
        written = lib.bondlab_write_burst(
            ctx,
            state.buf,
            count,
            seqs,
            indices,
            sizes,
            links,
            link0,
            frame_id,
            capture_t,
            n_packets,
            flags,
            frame_bytes,
            state.err,
        )
        err = state.err[0]
    if err == lib.BONDLAB_ERR_SIZE:
        raise ValueError(f"a packet size is outside 0..{lib.BONDLAB_MAX_PAYLOAD}: {list(sizes)}")
    if err < 0:
        raise RistError(f"rist_sender_data_write failed (ret {err}) after {written} of {count}")
    return int(written)
