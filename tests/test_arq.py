"""The sim's ARQ rules, one at a time, on a scripted clock and scripted reverse path."""

import heapq

import pytest

from bondlab.sim.arq import MAX_NACKS, REORDER_S, RTT_MIN_S, Arq, Gap


class Clock:
    def __init__(self):
        self.t, self.queue, self.n = 0.0, [], 0

    def schedule(self, delay, fn):
        self.n += 1
        heapq.heappush(self.queue, (self.t + delay, self.n, fn))

    def run(self, until=10.0):
        while self.queue and self.queue[0][0] <= until:
            self.t, _, fn = heapq.heappop(self.queue)
            fn()


class Reverse:
    """A reverse path that loses the first `lose` NACKs and delays the rest by `delay`."""

    def __init__(self, clock, delay=0.02, lose=0):
        self.clock, self.delay, self.lose, self.sent = clock, delay, lose, []

    def reverse(self, t):
        self.sent.append(t)
        if len(self.sent) <= self.lose:
            return None
        return t + self.delay


def make(rtt=0.04, lose=0, resend_arrives=True):
    clock = Clock()
    link = Reverse(clock, lose=lose)
    resent = []

    def resend(li, gap):
        resent.append(clock.t)
        return clock.t + 0.02 if resend_arrives else None

    arq = Arq([link], lambda li: rtt, clock.schedule, resend, lambda: clock.t)
    return clock, link, arq, resent


def test_gap_is_nacked_only_after_a_later_packet_arrives():
    clock, link, arq, resent = make()
    arq.lost(0, Gap(1, 0, 1000, deadline=5.0))
    clock.run()
    assert link.sent == []  # nothing arrived after it: no NACK
    arq.arrived(0, 1.0)
    clock.run()
    assert link.sent[0] == pytest.approx(1.0 + max(REORDER_S, RTT_MIN_S / 2))
    assert resent == [pytest.approx(link.sent[0] + 0.02)]


def test_lost_nack_is_retried_after_a_clamped_rtt():
    clock, link, arq, resent = make(lose=2)
    arq.lost(0, Gap(1, 0, 1000, deadline=5.0))
    arq.arrived(0, 1.0)
    clock.run()
    assert len(link.sent) == 3 and len(resent) == 1
    gaps = [b - a for a, b in zip(link.sent, link.sent[1:])]
    assert gaps == [pytest.approx(1.1 * RTT_MIN_S)] * 2  # rtt 40 ms is clamped up to 50 ms


def test_no_nack_once_the_deadline_cannot_be_met():
    clock, link, arq, resent = make(resend_arrives=False)
    arq.lost(0, Gap(1, 0, 1000, deadline=1.2))
    arq.arrived(0, 1.0)
    clock.run()
    assert link.sent and all(t + RTT_MIN_S / 2 <= 1.2 for t in link.sent)
    assert len(link.sent) < MAX_NACKS


def test_nacks_stop_at_max_retries():
    clock, link, arq, resent = make(resend_arrives=False)
    arq.lost(0, Gap(1, 0, 1000, deadline=100.0))
    arq.arrived(0, 1.0)
    clock.run(until=100.0)
    assert len(link.sent) == MAX_NACKS


def test_sender_skips_a_repeat_request_within_an_rtt():
    clock, link, arq, resent = make(rtt=0.3, resend_arrives=False)
    gap = Gap(1, 0, 1000, deadline=100.0)
    arq._on_nack(0, gap)
    clock.t = 0.1
    arq._on_nack(0, gap)  # "bloat skip": resent 0.1 s ago, RTT 0.3 s
    clock.t = 0.35
    arq._on_nack(0, gap)
    assert resent == [0.0, 0.35]


def test_overtaken_packet_gets_a_spurious_nack_only_beyond_the_wait():
    clock, link, arq, resent = make()
    arq.overtaken(0, Gap(1, 0, 1000, 5.0, repaired_at=1.01), 1.0)  # 10 ms late: within the wait
    arq.overtaken(0, Gap(2, 0, 1000, 5.0, repaired_at=1.2), 1.0)  # 200 ms late: NACKed anyway
    clock.run()
    assert arq.spurious == 1 and len(resent) == 1
