"""The interface every scheduler implements: weights in, one link index per packet out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class Scheduler(Protocol):
    """Splits one packet queue over N links.

    `set_weights` is called once per stats interval with one weight per link (0 = do not use);
    `pick` is called per packet and returns a link index, or None when no link may take it.
    """

    n_links: int

    def set_weights(self, weights: Sequence[float]) -> None: ...

    def pick(self, size: int) -> int | None: ...

    def credits(self) -> list[float]:
        """Per-link byte credits (0 for schedulers without credits), for the timeseries."""
        ...
