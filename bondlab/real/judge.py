"""Judging a real run from the wire: core's receiver over measured arrivals (assemble.assemble).

Inputs are plain arrays so that any assembly can reuse them: frames (frames.json rows), the wire's
first arrivals (capture.WIRE_DTYPE, wire.npy), what librist delivered (receiver.ARRIVAL_DTYPE,
arrivals.npy) and the capture's summary (wire.json).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from bondlab.core.receiver import BondedReceiver, PlayoutReport
from bondlab.real.protocol import WARMUP_FRAME_ID


def judge_wire(
    latency_ms: float, frames: list[list[Any]], wire: np.ndarray, delivered: np.ndarray
) -> tuple[PlayoutReport, pd.DataFrame, int]:
    """Core's receiver over measured arrivals: (report, per-packet table, delivered but not on wire).

    frames: [frame_id, capture_t, is_iframe, n_packets, bytes] (frames.json; capture times on any
    origin: `frame_clock_offset` puts them on CLOCK_MONOTONIC); wire: first arrivals
    (capture.WIRE_DTYPE); delivered: what librist released (receiver.ARRIVAL_DTYPE). A packet
    arrives at its wire time if librist delivered it; one it never delivered arrives too (its
    delay counts, as a late packet's does in the sim) but never completes its frame. A packet
    librist delivered that the capture missed (kernel drops, should not happen) arrives at
    librist's release time, a bound from above.
    """
    rx = BondedReceiver(latency_ms, reorder=False)
    offset = frame_clock_offset(frames, wire)
    capture: dict[int, float] = {}
    for fid, capture_t, is_iframe, n_packets, size in frames:
        rx.register_frame(fid, capture_t + offset, bool(is_iframe), n_packets, size)
        capture[fid] = capture_t + offset
    released = dict(zip(delivered["seq"].tolist(), delivered["arrival"].tolist()))
    wire = wire[np.fromiter((f in capture for f in wire["frame_id"].tolist()), bool, len(wire))]
    wire = wire[np.argsort(wire["wire_t"], kind="stable")]
    seqs, fids, times = wire["seq"].tolist(), wire["frame_id"].tolist(), wire["wire_t"].tolist()
    got = np.fromiter((s in released for s in seqs), bool, len(seqs))
    for seq, fid, t, ok in zip(seqs, fids, times, got.tolist()):
        if ok:
            rx.on_packet(seq, fid, t)
    on_wire = set(seqs)
    not_on_wire = 0
    for seq, fid, t in zip(
        delivered["seq"].tolist(), delivered["frame_id"].tolist(), delivered["arrival"].tolist()
    ):
        if seq not in on_wire and fid in capture:
            not_on_wire += 1
            rx.on_packet(seq, fid, t)
    report = rx.report()
    cap_t = np.array([capture[f] for f in fids], dtype=float)
    delay_ms = (wire["wire_t"] - cap_t) * 1000.0
    report = replace(
        report,
        delays_ms=np.concatenate([report.delays_ms, delay_ms[~got]]),
        delay_capture_t=np.concatenate([report.delay_capture_t, cap_t[~got]]),
    )
    packets = pd.DataFrame(
        {
            "seq": wire["seq"],
            "frame_id": wire["frame_id"],
            "link": wire["link"].astype(int),
            "capture_t": cap_t,
            "write_t": wire["write_t"],
            "wire_t": wire["wire_t"],
            "delay_ms": delay_ms,
            "released_t": np.array([released.get(s, np.nan) for s in seqs], dtype=float),
            "delivered": got,
            "on_time": got & (delay_ms <= latency_ms),
            "ip_len": wire["ip_len"],
            "payload": wire["payload"],
        }
    )
    return report, packets, not_on_wire


def frame_clock_offset(frames: list[list[Any]], wire: np.ndarray) -> float:
    """What to add to frames.json's capture times to get CLOCK_MONOTONIC (0 if they are already,
    the sender's start if they count from it), from the capture times the headers carried."""
    capture = {f[0]: f[1] for f in frames}
    diffs = np.array(
        [
            c - capture[f]
            for f, c in zip(wire["frame_id"].tolist(), wire["capture_t"].tolist())
            if f in capture
        ]
    )
    if not len(diffs):
        return 0.0
    offset = float(np.median(diffs))
    if np.max(np.abs(diffs - offset)) > 1e-3:
        raise ValueError("frames.json capture times disagree with the bonding headers' by more than 1 ms")
    return offset


def wire_link_bytes(wire: np.ndarray, n_links: int) -> list[int]:
    """Distinct bonding payload bytes first seen on each link's wire (what metrics call bytes_sent)."""
    wire = wire[wire["frame_id"] != WARMUP_FRAME_ID]
    sums = np.bincount(wire["link"].astype(int), weights=wire["payload"], minlength=n_links)
    return [int(b) for b in sums[:n_links]]


def wire_summary(
    info: dict[str, Any], wire: np.ndarray, packets: pd.DataFrame, not_on_wire: int
) -> dict[str, Any]:
    overhead = wire["ip_len"] - wire["payload"]
    return {
        "capture_cpu_cores": info.get("cpu_cores"),
        "capture_cpu_s": info.get("cpu_s"),
        "kernel_drops": int(sum(info.get("kernel_drops", []))),
        "duplicates": int(sum(info.get("duplicates", []))),
        "ip_overhead_bytes": int(np.median(overhead)) if len(overhead) else None,
        "on_wire_not_delivered": int((~packets.delivered).sum()),
        "delivered_not_on_wire": int(not_on_wire),
        "release_after_wire_ms_p50": (
            round(float(np.nanmedian((packets.released_t - packets.wire_t) * 1000.0)), 3)
            if packets.delivered.any()
            else None
        ),
    }
