"""Round-robin: the old, blind behaviour kept as the baseline.

It rotates over every link whatever its weight, exactly like the scheduler that relied on
placeholder values: a dead or slow link still gets 1/N of the packets.
"""

from __future__ import annotations

from collections.abc import Sequence


class RoundRobin:
    def __init__(self, n_links: int) -> None:
        self.n_links = n_links
        self._next = 0

    def set_weights(self, weights: Sequence[float]) -> None:
        """Ignored: round-robin is blind to network conditions by design."""

    def pick(self, size: int) -> int | None:
        link = self._next
        self._next = (link + 1) % self.n_links
        return link

    def credits(self) -> list[float]:
        return [0.0] * self.n_links
