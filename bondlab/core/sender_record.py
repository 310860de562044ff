"""What the sender did in a run, kept for the one metric assembly (core/metrics.build_metrics),
in the same shape whether the sim or a real run filled it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class SenderRecord:
    """What the sender did, for the one metric assembly (core.metrics.build_metrics)."""

    frames: list[tuple[int, float, bool, int, int]] = field(default_factory=list)  # id, capture, I, n, bytes
    frame_bitrates: list[int] = field(default_factory=list)  # encoder set-point per frame
    link_bytes: list[int] = field(default_factory=list)
    packets_sent: int = 0
    dropped_at_sender: int = 0
    reinjected: int = 0  # copies sent again on another link after their link went silent
    messages: list[dict[str, Any]] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)  # timeseries column names, one per row field
    rows: list[tuple[Any, ...]] = field(default_factory=list)  # one per link per stats interval
    duplicated: int = 0  # copies a redundant scheduler asked for (a second link per packet)
    overhead_bytes: int = 0  # payload bytes of reinjected and duplicated copies

    @property
    def timeseries(self) -> dict[str, list[Any]]:
        """The rows as columns (built once at the end: appending tuples is what the hot loop can afford)."""
        if not self.rows:
            return {name: [] for name in self.columns}
        return {name: list(values) for name, values in zip(self.columns, zip(*self.rows), strict=True)}

    def as_dict(self) -> dict[str, Any]:
        return {
            "frames": self.frames,
            "frame_bitrates": self.frame_bitrates,
            "link_bytes": self.link_bytes,
            "packets_sent": self.packets_sent,
            "dropped_at_sender": self.dropped_at_sender,
            "reinjected": self.reinjected,
            "duplicated": self.duplicated,
            "overhead_bytes": self.overhead_bytes,
            "messages": self.messages,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], timeseries: dict[str, list[Any]] | None = None) -> SenderRecord:
        frames = [(int(f), float(c), bool(i), int(n), int(b)) for f, c, i, n, b in d["frames"]]
        columns = list(timeseries or {})
        rows = list(zip(*(timeseries or {}).values()))
        return cls(
            frames,
            [int(b) for b in d["frame_bitrates"]],
            [int(b) for b in d["link_bytes"]],
            int(d["packets_sent"]),
            int(d["dropped_at_sender"]),
            int(d.get("reinjected", 0)),
            list(d["messages"]),
            columns,
            rows,
            int(d.get("duplicated", 0)),
            int(d.get("overhead_bytes", 0)),
        )
