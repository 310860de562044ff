"""Live encoder model: frames at a fixed rate, an I-frame every GOP, a bitrate set-point that lags."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("bondlab.encoder")


@dataclass(slots=True)  # not frozen: one per frame, and a frozen init costs 4x
class Frame:
    frame_id: int
    capture_t: float  # seconds
    is_iframe: bool
    packet_sizes: tuple[int, ...]

    @property
    def size_bytes(self) -> int:
        return sum(self.packet_sizes)


class EncoderModel:
    """Frame sizes follow the set-point: one GOP carries bitrate x GOP duration bytes, the I-frame
    `iframe_ratio` times a P-frame. A new set-point takes effect `reaction_delay_s` after it is
    requested, as a real encoder finishes its current rate-control window first.
    """

    def __init__(
        self,
        fps: float,
        gop_frames: int,
        iframe_ratio: float,
        start_bitrate_bps: int,
        min_bitrate_bps: int,
        max_bitrate_bps: int,
        packet_bytes: int,
        reaction_delay_s: float = 0.3,
    ) -> None:
        self.fps = fps
        self.gop_frames = gop_frames
        self.iframe_ratio = iframe_ratio
        self.min_bitrate_bps = min_bitrate_bps
        self.max_bitrate_bps = max_bitrate_bps
        self.packet_bytes = packet_bytes
        self.reaction_delay_s = reaction_delay_s
        self.bitrate_bps = start_bitrate_bps
        self._pending: list[tuple[float, int]] = []
        self._next_id = 0

    @classmethod
    def from_scenario(cls, scenario: Any) -> EncoderModel:
        """From a bondlab Scenario's `encoder` section (duck-typed: core does not import the YAML layer)."""
        e = scenario.encoder
        return cls(
            e.fps,
            e.gop_frames,
            e.iframe_ratio,
            e.start_bitrate_bps,
            e.min_bitrate_bps,
            e.max_bitrate_bps,
            e.packet_bytes,
            e.reaction_delay_ms / 1000.0,
        )

    def request_bitrate(self, t: float, bitrate_bps: int) -> None:
        """A congestion-control message arrived: schedule the new set-point."""
        target = int(max(self.min_bitrate_bps, min(self.max_bitrate_bps, bitrate_bps)))
        self._pending.append((t + self.reaction_delay_s, target))

    def _apply_pending(self, t: float) -> None:
        while self._pending and self._pending[0][0] <= t:
            _, target = self._pending.pop(0)
            if target != self.bitrate_bps:
                log.info("Adjusting bitrate: %d -> %d bps at t=%.2fs", self.bitrate_bps, target, t)
                self.bitrate_bps = target

    def frame_bytes(self, is_iframe: bool) -> int:
        gop_bytes = self.bitrate_bps / 8.0 * self.gop_frames / self.fps
        p_bytes = gop_bytes / (self.iframe_ratio + self.gop_frames - 1)
        return max(1, round(p_bytes * self.iframe_ratio if is_iframe else p_bytes))

    def packetize(self, size: int) -> tuple[int, ...]:
        n = math.ceil(size / self.packet_bytes)
        return (self.packet_bytes,) * (n - 1) + (size - self.packet_bytes * (n - 1),)

    def next_frame(self, t: float) -> Frame:
        """The frame captured at time t (call once per 1/fps)."""
        self._apply_pending(t)
        fid = self._next_id
        self._next_id += 1
        is_iframe = fid % self.gop_frames == 0
        return Frame(fid, t, is_iframe, self.packetize(self.frame_bytes(is_iframe)))
