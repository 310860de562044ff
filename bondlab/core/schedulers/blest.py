"""BLEST: minRTT with a head-of-line-blocking guard.

Source: Ferlin, Alay, Mehani, Boreli, "BLEST: Blocking Estimation-based MPTCP Scheduler for
Heterogeneous Networks" (IFIP Networking 2016). When the fastest subflow's window is full,
minRTT spills to a slower one; BLEST first estimates how much the fast subflow could send
during the slow one's RTT and, if that is more than the slow path's packet is worth, skips the
slow path and waits for the fast one.

Here, where the receiver's reorder constraint is the playout deadline rather than a TCP receive
window: a packet the fast link cannot take within its window goes to a slower link only if it
would arrive there before it would over the fast link's queue (both by the sender's queue model:
queue / capacity estimate + base one-way delay), scaled by `lam` (BLEST's lambda, 1 = neutral);
otherwise it goes to the fast link anyway. What the fast link carries meanwhile is thus never
stuck behind a straggler on the slow one.
"""

from __future__ import annotations

from bondlab.core.schedulers.minrtt import MinRtt


class Blest(MinRtt):
    def __init__(self, n_links: int, cwnd_bdp: float = 2.0, lam: float = 1.0) -> None:
        super().__init__(n_links, cwnd_bdp)
        self.lam = lam

    def pick(self, size: int) -> int | None:
        m = self.model
        queued, live, room = m.queued, m.live, self._room
        fast, fast_arrival = None, 0.0
        for i in self._order:
            if not live[i]:
                continue
            if fast is None:
                fast = i
                if queued[i] + size <= room[i]:
                    queued[i] += size
                    return i
                fast_arrival = m.arrival_s(i, size)
                continue
            # A slower link with room: use it only if the packet lands there first.
            if queued[i] + size <= room[i] and m.arrival_s(i, size) * self.lam < fast_arrival:
                queued[i] += size
                return i
        if fast is None:
            return None
        queued[fast] += size
        return fast
