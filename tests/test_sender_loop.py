"""The one sender loop both worlds run: driven by any clock, talking to any transport."""

import pytest

from bondlab.core.sender_loop import SenderLoop
from bondlab.core.stats import PeerStats
from bondlab.scenario import load_scenario

from conftest import SCENARIOS


class FakeTransport:
    """Feedback scripted by `alive(t)`; records what the loop sends and sets."""

    def __init__(self, n, alive=lambda t: True):
        self.n, self.alive = n, alive
        self.sent, self.weights, self.frames, self.now = [], [], 0, 0.0

    def frame(self, *args):
        self.frames += 1

    def send(self, link, burst):
        self.sent.append((link, list(burst.seqs), burst.deadline, self.now))

    def stats(self, t):
        age = 0.0 if self.alive(t) else t
        return [PeerStats(t, 50.0, 1e6, 10, 0, delivered_bps=3e6, evidence_age_s=age) for _ in range(self.n)]

    def set_weights(self, weights):
        self.weights.append(list(weights))

    def truth(self, t):
        return {}


def seed(*overrides):
    return load_scenario(SCENARIOS / "seed-asymmetric.yaml", ["duration_s=3", *overrides])


def run(loop, until):
    while (due := loop.next_due()) is not None and due <= until:
        loop.transport.now = due
        loop.step(due)


def test_ticks_and_frames_in_time_order():
    sc = seed()
    tr = FakeTransport(2)
    loop = SenderLoop(sc, "dwrr", tr)
    run(loop, 1.0)
    assert tr.frames == 31  # frames at 0, 1/30, ..., 1.0
    assert loop.record.rows[-1][0] == pytest.approx(1.0)  # the tick at 1.0 ran too
    seqs = [s for _, burst, _, _ in tr.sent for s in burst]
    assert sorted(seqs) == list(range(len(seqs)))  # every packet once


def test_weights_only_mode_never_picks_a_link(monkeypatch):
    """rist-weighted: librist splits the packets; the loop only sets weights, once per interval."""
    sc = seed()
    tr = FakeTransport(2)
    loop = SenderLoop(sc, "rist-weighted", tr, weights_only=True)
    monkeypatch.setattr(loop.controller, "pick", lambda size: pytest.fail("picked a link"))
    monkeypatch.setattr(loop.controller.scheduler, "pick", lambda size: pytest.fail("picked a link"))
    run(loop, 1.0)
    assert tr.sent and all(link is None for link, _, _, _ in tr.sent)
    assert len(tr.weights) == 10


def test_packets_are_held_while_every_link_is_dead_and_released_after():
    """No proof of life on any link from 0.5 s to 1.5 s: once both are down nothing is sent;
    packets wait and go out oldest first when a link returns; those past their deadline are
    dropped at the sender instead."""
    sc = seed("receiver.latency_ms=600")
    tr = FakeTransport(2, alive=lambda t: not 0.5 <= t < 1.5)
    loop = SenderLoop(sc, "dwrr", tr)
    run(loop, 3.0)
    assert not [s for s in tr.sent if 1.2 <= s[3] < 1.5]  # both links down: nothing leaves
    at_return = [s for s in tr.sent if s[3] == pytest.approx(1.5)]
    released = [s for s in at_return if len(s[1]) == 1]  # held packets go one at a time ...
    assert released and at_return[: len(released)] == released  # ... before the new frame
    assert [s[1][0] for s in released] == sorted(s[1][0] for s in released)
    assert all(s[2] > 1.5 for s in released)  # only those that can still make their deadline
    assert loop.record.dropped_at_sender > 0


def test_transport_hears_when_a_link_is_taken_back():
    """A link back from the dead is announced once (the real transport warms librist's flow up)."""
    sc = seed()
    tr = FakeTransport(2, alive=lambda t: not 0.5 <= t < 1.5)
    tr.revived_at = []
    tr.revived = lambda link: tr.revived_at.append((link, tr.now))
    loop = SenderLoop(sc, "dwrr", tr)
    run(loop, 3.0)
    assert sorted(link for link, _ in tr.revived_at) == [0, 1]
    assert all(t == pytest.approx(1.5) for _, t in tr.revived_at)
