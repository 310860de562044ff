"""Deficit weighted round robin from one queue onto N links.

Shreedhar & Varghese, "Efficient Fair Queuing using Deficit Round Robin" (SIGCOMM 1995), turned
around as the bonding design asks: one queue, N links. Each link holds a byte credit; a round
gives every link a quantum proportional to its weight, the lightest getting `quantum_bytes` (one
MTU by default: with every quantum >= the largest packet, each turn sends at least one packet and
a pick costs O(1), as the paper shows). The
current link sends while its credit covers the packet, then the turn passes on; a link whose
credit is short is skipped and keeps its credit for the next round, so byte shares follow the
weights exactly, whatever the packet sizes.

Credits are capped at `max_credit_quanta` quanta (at least that many MTUs) so a link that was
idle or just recovered cannot burst a backlog of credit into its queue. Links of weight 0 get no
quantum and lose their credit. When every weight is 0 no link may take the packet and `pick`
returns None: the sender drops it rather than feed a link known to be dead.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

MTU_BYTES = 1500
MAX_WEIGHT_RATIO = 32.0


class DeficitWeightedRoundRobin:
    def __init__(self, n_links: int, quantum_bytes: int = MTU_BYTES, max_credit_quanta: float = 2.0) -> None:
        if quantum_bytes <= 0:
            raise ValueError("quantum_bytes must be positive")
        self.n_links = n_links
        self.quantum_bytes = quantum_bytes
        self.max_credit_quanta = max_credit_quanta
        self._credit = [0.0] * n_links
        self._quantum = [float(quantum_bytes)] * n_links  # equal until weights arrive
        self._cap = [self._cap_for(q) for q in self._quantum]
        self._current = 0
        self._cur_credit = 0.0  # credit of the current link; its list entry is stale meanwhile
        self._live = True
        self._max_quantum = float(quantum_bytes)
        # For each current link, the order in which the others get their turn after it.
        self._scan_order = [tuple((c + k) % n_links for k in range(1, n_links + 1)) for c in range(n_links)]

    def _cap_for(self, quantum: float) -> float:
        return self.max_credit_quanta * max(quantum, MTU_BYTES)

    def set_weights(self, weights: Sequence[float]) -> None:
        if len(weights) != self.n_links:
            raise ValueError(f"expected {self.n_links} weights, got {len(weights)}")
        self._credit[self._current] = self._cur_credit
        live = [w for w in weights if w > 0]
        # The lightest live link gets `quantum_bytes` (>= one MTU, DRR's O(1) condition); links
        # lighter than 1/MAX_WEIGHT_RATIO of the heaviest need several rounds per packet instead,
        # so one near-dead link cannot inflate everyone's burst.
        reference = max(min(live), max(live) / MAX_WEIGHT_RATIO) if live else 0.0
        quantum, credit, cap = self._quantum, self._credit, self._cap
        floor = self.max_credit_quanta * MTU_BYTES  # _cap_for, inline (every stats tick)
        for i, w in enumerate(weights):
            if w <= 0:
                quantum[i] = 0.0
                credit[i] = 0.0
                cap[i] = floor
            else:
                q = quantum[i] = self.quantum_bytes * w / reference
                cap[i] = self.max_credit_quanta * q if q > MTU_BYTES else floor
                if credit[i] > cap[i]:
                    credit[i] = cap[i]
        self._live = any(q > 0 for q in quantum)
        self._max_quantum = max(quantum)
        self._cur_credit = self._credit[self._current]

    def pick(self, size: int) -> int | None:
        left = self._cur_credit - size
        if left >= 0:  # fast path: the link whose turn it is still has credit
            self._cur_credit = left
            return self._current
        return self._pick_next(size)

    def pick_many(self, sizes: Sequence[int]) -> list[int | None]:
        """`pick` for each size in turn, in one call: a frame's picks without a call per packet.

        `_pick_next` and the usual case of `_new_rounds` are inlined: the same steps on the same
        floats (min(c + q, cap) is `cap if cap < c + q else c + q`, as min picks the first of equals).
        """
        out: list[int | None] = []
        append = out.append
        credit, order, quantum, cap = self._credit, self._scan_order, self._quantum, self._cap
        live, max_quantum, links = self._live, self._max_quantum, range(self.n_links)
        current, cur = self._current, self._cur_credit
        for size in sizes:
            left = cur - size
            if left >= 0:  # the link whose turn it is still has credit
                cur = left
                append(current)
                continue
            credit[current] = cur
            if not live:
                append(None)
                continue
            while True:
                for i in order[current]:
                    if credit[i] >= size:
                        break
                else:  # no link covers it: new rounds
                    if max_quantum >= size:
                        for j in links:
                            c = credit[j] + quantum[j]
                            credit[j] = cap[j] if cap[j] < c else c
                    else:
                        self._new_rounds(size)
                    continue
                break
            cur = credit[i] - size
            current = i
            append(i)
        self._current, self._cur_credit = current, cur
        return out

    def _pick_next(self, size: int) -> int | None:
        # Only live links ever hold credit (weight 0 zeroes it), so credit >= size implies live.
        credit = self._credit
        credit[self._current] = self._cur_credit
        if not self._live:
            return None
        while True:
            for i in self._scan_order[self._current]:
                if credit[i] >= size:
                    self._cur_credit = credit[i] - size
                    self._current = i
                    return i
            self._new_rounds(size)

    def _new_rounds(self, size: int) -> None:
        """Run as many rounds as it takes for some link to cover `size`, in one step.

        Rounds in which no link could send change nothing but credits, so they are folded
        together; the cap is applied after, which equals capping round by round since credits
        only grow here.
        """
        credit, quantum, cap = self._credit, self._quantum, self._cap
        if self._max_quantum >= size:  # the usual case: one round lets the heaviest link send
            for i in range(self.n_links):  # min(c + q, cap), without the call
                c = credit[i] + quantum[i]
                credit[i] = cap[i] if cap[i] < c else c
            return
        rounds = min(math.ceil((size - c) / q) for c, q in zip(self._credit, self._quantum) if q > 0)
        rounds = max(rounds, 1)
        self._credit[:] = [
            min(c + rounds * q, cap) for c, q, cap in zip(self._credit, self._quantum, self._cap)
        ]

    def credits(self) -> list[float]:
        out = list(self._credit)
        out[self._current] = self._cur_credit
        return out
