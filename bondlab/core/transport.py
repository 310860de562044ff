"""What core's sender loop hands a backend and asks of it: bursts of a frame, and the Transport.

The sim (sim/transport.py) and the real backend (real/transport.py) each implement `Transport`;
the loop (core/sender_loop.py) is the same for both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from bondlab.core.stats import PeerStats


@dataclass(slots=True)
class Burst:
    """Packets of one frame handed to one link together (or to librist, in weights-only mode)."""

    frame_id: int
    capture_t: float
    is_iframe: bool
    n_packets: int
    frame_bytes: int
    deadline: float
    first_seq: int  # sequence number of the frame's first packet: seq - first_seq = index in frame
    seqs: list[int] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    link_end: int = 0  # payload bytes given to its link up to and including this burst

    @property
    def indices(self) -> list[int]:
        """Position of each packet in its frame (the bonding header carries it)."""
        return [s - self.first_seq for s in self.seqs]


class Transport(Protocol):
    """What a backend supplies besides a clock."""

    def frame(self, frame_id: int, capture_t: float, is_iframe: bool, n_packets: int, nbytes: int) -> None:
        """A frame was made (the sim's receiver learns it here; real headers carry it)."""
        ...

    def send(self, link: int | None, burst: Burst) -> None:
        """Hand packets to `link` (None in weights-only mode: the transport splits them itself)."""
        ...

    def stats(self, t: float) -> list[PeerStats]:
        """One sample per link for the interval ending at `t`, from feedback that arrived by `t`
        (new objects each call: the loop fills in `sent_bytes`)."""
        ...

    def set_weights(self, weights: Sequence[float]) -> None:
        """Weights-only mode: the transport's own splitter gets the controller's weights."""
        ...

    def truth(self, t: float) -> dict[str, list[Any]]:
        """Per-link facts the controller must not see, for the timeseries only ({} if unknown)."""
        ...
