"""Redundant sending: I-frame packets (or every packet) on the two healthiest links at once.

Source: the "redundant" schedulers of the field (MPTCP's out-of-tree `redundant` scheduler;
bonding boxes' "duplicate I-frames" option): a lost or late packet on one link costs nothing
while its copy arrives over the other, paid for with the copy's bytes. An I-frame lost breaks
its whole GOP, which is why it is the part worth paying for.

Assumptions: "healthiest" ranks live links (weight > 0) by the estimator's health, then by its
capacity estimate; a duplicated packet goes to the first of the two (`pick`) and its copy to the
second (returned by `begin_frame`; the sender loop sends it and counts it in
`duplicated_packets` and `overhead_bytes`). Every other packet is split by DWRR over the weights.
With fewer than two live links nothing is duplicated.
"""

from __future__ import annotations

from collections.abc import Sequence

from bondlab.core.schedulers.base import LinkFeedback
from bondlab.core.schedulers.dwrr import DeficitWeightedRoundRobin


class Redundant:
    def __init__(
        self,
        n_links: int,
        quantum_bytes: int = 1500,
        max_credit_quanta: float = 2.0,
        every_packet: bool = False,
    ) -> None:
        self.n_links = n_links
        self.every_packet = every_packet
        self.inner = DeficitWeightedRoundRobin(n_links, quantum_bytes, max_credit_quanta)
        self._weights = [1.0] * n_links
        self._health = [1.0] * n_links
        self._capacity = [0.0] * n_links
        self._pair: tuple[int, int] | None = (0, 1) if n_links >= 2 else None
        self._dup = False

    def _rank(self) -> None:
        live = [i for i in range(self.n_links) if self._weights[i] > 0]
        live.sort(key=lambda i: (-self._health[i], -(self._capacity[i] or self._weights[i]), i))
        self._pair = (live[0], live[1]) if len(live) >= 2 else None

    def set_weights(self, weights: Sequence[float]) -> None:
        self.inner.set_weights(weights)
        self._weights = list(weights)
        self._rank()

    def observe(self, t: float, links: Sequence[LinkFeedback]) -> None:
        self._health = [f.health for f in links]
        self._capacity = [f.capacity_bps for f in links]
        self._rank()

    def begin_frame(self, now: float, deadline: float, is_iframe: bool) -> int | None:
        pair = self._pair
        self._dup = pair is not None and (self.every_packet or is_iframe)
        return pair[1] if self._dup and pair is not None else None

    def pick(self, size: int) -> int | None:
        if self._dup and self._pair is not None:
            return self._pair[0]
        return self.inner.pick(size)

    def credits(self) -> list[float]:
        return self.inner.credits()
