"""EDPF: earliest delivery path first, with the playout deadline.

Source: Chebrolu and Rao, "Bandwidth aggregation for real-time applications in heterogeneous
wireless networks" (IEEE TMC 2006): each packet goes to the path on which it would arrive
first, arrival = when the path's queue has drained + transmission + one-way delay.

Assumptions: the queue is the sender's model (estimator backlog at the tick, plus its own
picks, drained at the capacity estimate: see queue_model.py); the one-way delay is half the
base RTT (the smoothed RTT already holds the queueing delay the model counts). A packet whose
earliest arrival misses its frame's playout deadline (`begin_frame`) goes nowhere when
`drop_late` (pick returns None: the sender holds it and drops it at its deadline, so it takes
no capacity from the frames after it); otherwise it goes to the earliest link all the same.
"""

from __future__ import annotations

from collections.abc import Sequence

from bondlab.core.schedulers.base import LinkFeedback
from bondlab.core.schedulers.queue_model import QueueModel


class Edpf:
    def __init__(self, n_links: int, drop_late: bool = True) -> None:
        self.n_links = n_links
        self.drop_late = drop_late
        self.model = QueueModel(n_links)
        self._links = range(n_links)

    def set_weights(self, weights: Sequence[float]) -> None:
        self.model.set_weights(weights)

    def observe(self, t: float, links: Sequence[LinkFeedback]) -> None:
        self.model.observe(t, links)

    def begin_frame(self, now: float, deadline: float, is_iframe: bool) -> int | None:
        self.model.age(now, deadline)
        return None

    def pick(self, size: int) -> int | None:
        m = self.model
        queued, rate, owd, live = m.queued, m.rate, m.owd, m.live
        best, first = None, float("inf")
        for i in self._links:
            if live[i]:
                arrival = (queued[i] + size) / rate[i] + owd[i]
                if arrival < first:
                    best, first = i, arrival
        if best is None or (self.drop_late and first > m.budget):
            return None
        queued[best] += size
        return best

    def credits(self) -> list[float]:
        return [0.0] * self.n_links
