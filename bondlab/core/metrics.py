"""One metrics schema for every run, sim or real, so CLI, notebooks and regressions agree."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from bondlab.core.receiver import PlayoutReport
from bondlab.core.sender_record import SenderRecord

METRIC_KEYS = (
    "on_time_ratio",
    "decodable_ratio",
    "frames_total",
    "frames_on_time",
    "frames_decodable",
    "goodput_bps",
    "mean_bitrate_bps",
    "p50_delay_ms",
    "p95_delay_ms",
    "p99_delay_ms",
    "retransmissions",
    "congestion_messages",
    "bitrate_changes",
    "packets_sent",
    "packets_dropped_at_sender",
    "packets_lost",
    "reinjected_packets",
    "duplicated_packets",
    "overhead_bytes",
    "links",
)


def build_metrics(
    report: PlayoutReport,
    record: SenderRecord,
    duration_s: float,
    retransmissions: int,
    link_names: Sequence[str],
    link_bytes: Sequence[int] | None = None,
    link_capacity_share: Sequence[float] | None = None,
) -> dict[str, Any]:
    """The one metric assembly for sim and real: the receiver's judgement + what the sender did.

    Bitrate statistics are per frame (the set-point each frame was encoded at). `link_bytes`
    defaults to what the sender handed to each link; real runs pass what the wire saw instead.
    """
    delays = report.delays_ms
    p50 = p95 = p99 = None
    if len(delays):
        p50, p95, p99 = (round(float(x), 3) for x in np.percentile(delays, [50, 95, 99]))
    per_link = list(record.link_bytes if link_bytes is None else link_bytes)
    total = sum(per_link) or 1
    links: dict[str, dict[str, Any]] = {}
    for i, name in enumerate(link_names):
        entry: dict[str, Any] = {"bytes_sent": int(per_link[i]), "share": round(per_link[i] / total, 5)}
        if link_capacity_share is not None:
            entry["capacity_share"] = round(float(link_capacity_share[i]), 5)
        links[name] = entry
    rates = record.frame_bitrates
    mean_bitrate = sum(rates) / len(rates) if rates else 0.0
    changes = sum(1 for a, b in zip(rates, rates[1:]) if a != b)
    delivered = len(delays)
    return {
        "on_time_ratio": round(report.on_time_ratio, 5),
        "decodable_ratio": round(report.decodable_ratio, 5),
        "frames_total": report.frames_total,
        "frames_on_time": report.frames_on_time,
        "frames_decodable": report.frames_decodable,
        "goodput_bps": round(report.bytes_on_time * 8 / duration_s, 1),
        "mean_bitrate_bps": round(mean_bitrate, 1),
        "p50_delay_ms": p50,
        "p95_delay_ms": p95,
        "p99_delay_ms": p99,
        "retransmissions": int(retransmissions),
        "congestion_messages": len(record.messages),
        "bitrate_changes": int(changes),
        "packets_sent": int(record.packets_sent),
        "packets_dropped_at_sender": int(record.dropped_at_sender),
        "packets_lost": int(record.packets_sent - delivered),
        "reinjected_packets": int(record.reinjected),
        "duplicated_packets": int(record.duplicated),  # redundant scheduling's second copies
        "overhead_bytes": int(record.overhead_bytes),  # payload bytes of every copy (not ARQ)
        "links": links,
    }
