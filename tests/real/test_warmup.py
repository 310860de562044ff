"""Warm-up packets reach a fresh librist flow in order: written a spacing apart, never in a burst."""

from __future__ import annotations

import pytest

from bondlab.real import transport as real_transport
from bondlab.real.protocol import WARMUP_FRAME_ID
from bondlab.real.transport import REVIVAL_WARMUP_PACKETS, WARMUP_SPACING_S, RealTransport


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.now += s


class FakeSender:
    """A librist context that records what was written, and when."""

    def __init__(self, clock: Clock) -> None:
        self.clock, self.writes = clock, []

    def write_burst(self, seqs, indices, sizes, frame_id, capture_t, n_packets, is_iframe, link, nbytes):
        self.writes.append((self.clock.now, list(seqs), frame_id, n_packets, link))
        return len(seqs)


@pytest.fixture
def transport(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(real_transport.time, "monotonic", clock.monotonic)
    monkeypatch.setattr(real_transport.time, "sleep", clock.sleep)
    tr = RealTransport({"scheduler": "dwrr"}, 2, ["a", "b"], 100)
    tr.senders = [FakeSender(clock), FakeSender(clock)]
    return tr, clock


def _check_one_packet_each(writes, link):
    assert all(
        n == 1 and len(seqs) == 1 and fid == WARMUP_FRAME_ID and li == link for _, seqs, fid, n, li in writes
    )


def test_the_runs_warm_up_writes_each_flows_packets_a_spacing_apart(transport):
    tr, _ = transport
    tr.warm_up(packets=4)
    for link, tx in enumerate(tr.senders):
        _check_one_packet_each(tx.writes, link)
        times = [w[0] for w in tx.writes]
        assert len(times) == 4
        assert all(b - a == pytest.approx(WARMUP_SPACING_S) for a, b in zip(times, times[1:]))
    seqs = [w[1][0] for tx in tr.senders for w in tx.writes]
    assert len(set(seqs)) == len(seqs)  # never a duplicate


def test_a_revived_flow_gets_its_warm_ups_one_by_one_as_the_loop_calls_in(transport):
    tr, clock = transport
    tr.revived(1)
    tx = tr.senders[1]
    assert len(tx.writes) == 1  # the first at once
    tr.frame(0, 0.0, False, 1, 100)  # a frame with nothing due: nothing written
    assert len(tx.writes) == 1
    for k in range(1, REVIVAL_WARMUP_PACKETS):
        clock.now += WARMUP_SPACING_S
        tr.frame(k, 0.0, False, 1, 100)
        assert len(tx.writes) == k + 1
    clock.now += 1.0
    tr.frame(9, 0.0, False, 1, 100)
    assert len(tx.writes) == REVIVAL_WARMUP_PACKETS and tr.senders[0].writes == []
    _check_one_packet_each(tx.writes, 1)
    times = [w[0] for w in tx.writes]
    assert all(b - a >= WARMUP_SPACING_S for a, b in zip(times, times[1:]))
    seqs = [w[1][0] for w in tx.writes]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)  # in the order they go out


def test_two_flows_revived_together_each_get_theirs_in_time(transport):
    tr, clock = transport
    tr.revived(0)
    tr.revived(1)
    clock.now += WARMUP_SPACING_S
    tr.frame(0, 0.0, False, 1, 100)
    assert [len(tx.writes) for tx in tr.senders] == [2, 2]


def test_rist_weighted_has_no_flow_of_its_own_to_revive(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(real_transport.time, "monotonic", clock.monotonic)
    tr = RealTransport({"scheduler": "rist-weighted"}, 2, ["a", "b"], 100)
    tr.senders = [FakeSender(clock)]
    tr.revived(1)
    clock.now += 1.0
    tr.frame(0, 0.0, False, 1, 100)
    assert tr.senders[0].writes == []
