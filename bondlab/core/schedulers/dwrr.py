"""Deficit weighted round robin from one queue onto N links.

Shreedhar & Varghese, "Efficient Fair Queuing using Deficit Round Robin" (SIGCOMM 1995), turned
around as the bonding design asks: one queue, N links. Each link holds a byte credit; a round
gives every link a quantum proportional to its weight (the heaviest gets `quantum_bytes`). The
current link sends while its credit covers the packet, then the turn passes on; a link whose
credit is short is skipped and keeps its credit for the next round, so byte shares follow the
weights exactly, whatever the packet sizes.

Credits are capped at `max_credit_quanta` quanta (at least that many MTUs) so a link that was
idle or just recovered cannot burst a backlog of credit into its queue. Links of weight 0 get no
quantum and lose their credit. When every weight is 0 no link may take the packet and `pick`
returns None: the sender drops it rather than feed a link known to be dead.
"""

from __future__ import annotations

from collections.abc import Sequence

MTU_BYTES = 1500


class DeficitWeightedRoundRobin:
    def __init__(self, n_links: int, quantum_bytes: int = 3000, max_credit_quanta: float = 2.0) -> None:
        if quantum_bytes <= 0:
            raise ValueError("quantum_bytes must be positive")
        self.n_links = n_links
        self.quantum_bytes = quantum_bytes
        self.max_credit_quanta = max_credit_quanta
        self._credit = [0.0] * n_links
        self._quantum = [float(quantum_bytes)] * n_links  # equal until weights arrive
        self._cap = [self._cap_for(q) for q in self._quantum]
        self._current = 0

    def _cap_for(self, quantum: float) -> float:
        return self.max_credit_quanta * max(quantum, MTU_BYTES)

    def set_weights(self, weights: Sequence[float]) -> None:
        if len(weights) != self.n_links:
            raise ValueError(f"expected {self.n_links} weights, got {len(weights)}")
        heaviest = max(weights)
        for i, w in enumerate(weights):
            if heaviest <= 0 or w <= 0:
                self._quantum[i] = 0.0
                self._credit[i] = 0.0
            else:
                self._quantum[i] = self.quantum_bytes * w / heaviest
            self._cap[i] = self._cap_for(self._quantum[i])
            self._credit[i] = min(self._credit[i], self._cap[i])

    def pick(self, size: int) -> int | None:
        if not any(self._quantum):
            return None
        while True:
            for step in range(self.n_links):
                i = (self._current + step) % self.n_links
                if self._quantum[i] > 0 and self._credit[i] >= size:
                    self._credit[i] -= size
                    self._current = i
                    return i
            self._new_round()

    def _new_round(self) -> None:
        for i, q in enumerate(self._quantum):
            if q > 0:
                self._credit[i] = min(self._credit[i] + q, self._cap[i])
        self._current = (self._current + 1) % self.n_links

    def credits(self) -> list[float]:
        return list(self._credit)
