"""One metrics schema for every run, sim or real, so CLI, notebooks and regressions agree."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from bondlab.core.receiver import PlayoutReport

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
    "links",
)


def build_metrics(
    report: PlayoutReport,
    duration_s: float,
    mean_bitrate_bps: float,
    retransmissions: int,
    congestion_messages: int,
    bitrate_changes: int,
    packets_sent: int,
    packets_dropped: int,
    link_names: Sequence[str],
    link_bytes: Sequence[int],
    link_capacity_share: Sequence[float] | None = None,
) -> dict[str, Any]:
    """Assemble the metrics object written to metrics.json (keys in METRIC_KEYS)."""
    delays = report.delays_ms
    p50 = p95 = p99 = None
    if len(delays):
        p50, p95, p99 = (round(float(x), 3) for x in np.percentile(delays, [50, 95, 99]))
    total = sum(link_bytes) or 1
    links: dict[str, dict[str, Any]] = {}
    for i, name in enumerate(link_names):
        entry: dict[str, Any] = {"bytes_sent": int(link_bytes[i]), "share": round(link_bytes[i] / total, 5)}
        if link_capacity_share is not None:
            entry["capacity_share"] = round(float(link_capacity_share[i]), 5)
        links[name] = entry
    delivered = len(delays)
    return {
        "on_time_ratio": round(report.on_time_ratio, 5),
        "decodable_ratio": round(report.decodable_ratio, 5),
        "frames_total": report.frames_total,
        "frames_on_time": report.frames_on_time,
        "frames_decodable": report.frames_decodable,
        "goodput_bps": round(report.bytes_on_time * 8 / duration_s, 1),
        "mean_bitrate_bps": round(mean_bitrate_bps, 1),
        "p50_delay_ms": p50,
        "p95_delay_ms": p95,
        "p99_delay_ms": p99,
        "retransmissions": int(retransmissions),
        "congestion_messages": int(congestion_messages),
        "bitrate_changes": int(bitrate_changes),
        "packets_sent": int(packets_sent),
        "packets_dropped_at_sender": int(packets_dropped),
        "packets_lost": int(packets_sent - delivered),
        "links": links,
    }
