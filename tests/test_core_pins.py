"""Behaviour pins for core, written to kill the mutants the rest of the suite lets live.

Each test pins one rule at its edge (the exact boundary, the first call, the rarely taken path),
where the broader tests pass whatever the comparison or the start value. DWRR is checked
against a slow reference that runs DRR round by round, as the paper states it.
"""

import math
import random

import pytest

from bondlab.core.receiver import SPARSE_JUMP, BondedReceiver, SeqSet
from bondlab.core.schedulers.dwrr import MAX_WEIGHT_RATIO, MTU_BYTES, DeficitWeightedRoundRobin

# --- DWRR against a round-by-round reference ---------------------------------------------------


class ReferenceDrr:
    """DRR from one queue onto N links, one round at a time: obviously right, slow."""

    def __init__(self, n: int, quantum_bytes: int, max_credit_quanta: float = 2.0) -> None:
        self.quantum_bytes, self.max_quanta = quantum_bytes, max_credit_quanta
        self.credit = [0.0] * n
        self.quantum = [float(quantum_bytes)] * n
        self.cap = [max_credit_quanta * max(q, MTU_BYTES) for q in self.quantum]
        self.current = 0

    def set_weights(self, weights: list[float]) -> None:
        live = [w for w in weights if w > 0]
        ref = max(min(live), max(live) / MAX_WEIGHT_RATIO) if live else 0.0
        for i, w in enumerate(weights):
            self.quantum[i] = self.quantum_bytes * w / ref if w > 0 else 0.0
            if w <= 0:
                self.credit[i] = 0.0
            self.cap[i] = self.max_quanta * max(self.quantum[i], MTU_BYTES)
            self.credit[i] = min(self.credit[i], self.cap[i])

    def pick(self, size: int) -> int | None:
        n = len(self.credit)
        if self.credit[self.current] >= size:
            self.credit[self.current] -= size
            return self.current
        if not any(q > 0 for q in self.quantum):
            return None
        while True:
            for k in range(1, n + 1):  # the others after the current one, the current one last
                i = (self.current + k) % n
                if self.credit[i] >= size:
                    self.credit[i] -= size
                    self.current = i
                    return i
            self.credit = [min(c + q, cap) for c, q, cap in zip(self.credit, self.quantum, self.cap)]


def run_both(n, quantum, plan, seed):
    """Feed both the same weights and packets; `plan` is a list of (weights or None, n_packets)."""
    rng = random.Random(seed)
    fast, ref = DeficitWeightedRoundRobin(n, quantum), ReferenceDrr(n, quantum)
    got, want = [], []
    for weights, n_packets in plan:
        if weights is not None:
            fast.set_weights(weights)
            ref.set_weights(weights)
        for _ in range(n_packets):
            size = rng.choice((1, 188, 700, 1316, 1500))
            got.append(fast.pick(size))
            want.append(ref.pick(size))
    return got, want, fast, ref


# A mutant can make a pick loop for ever; a short timeout turns that into a quick failure.
@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    "n,quantum,plan",
    [
        (3, 1500, [(None, 40), ([1.0, 2.0, 3.0], 200)]),  # equal quanta first, then weighted
        (3, 500, [([1.0, 2.0, 1.0], 200)]),  # quantum below the packet: several rounds per packet
        (4, 250, [([1.0, 0.0, 64.0, 2.0], 300), ([0.0, 3.0, 1.0, 0.0], 100)]),  # capped ratio, dead links
        (2, 1, [([1.0, 1.0], 30)]),  # the smallest quantum: up to 1500 rounds folded into one step
        (3, 1500, [([0.5, 0.25, 0.75], 150)]),  # weights below 1 are live too
        (3, 1000, [([5e6, 1e6, 2e6], 100), ([5e6, 0.0, 2e6], 50), ([5e6, 1e6, 2e6], 100)]),
    ],
)
def test_dwrr_picks_exactly_what_round_by_round_drr_picks(n, quantum, plan):
    got, want, fast, ref = run_both(n, quantum, plan, seed=n * 1000 + quantum)
    assert got == want
    assert fast.credits() == pytest.approx(ref.credit)


def test_dwrr_before_any_weights_splits_evenly_from_link_0():
    sched = DeficitWeightedRoundRobin(3, 1500)
    assert [sched.pick(1500) for _ in range(6)] == [1, 2, 0, 1, 2, 0]
    assert DeficitWeightedRoundRobin(2, 1500).pick(1) == 1  # link 0 holds no credit at the start


def test_dwrr_a_packet_that_uses_up_the_credit_exactly_stays_on_the_current_link():
    sched = DeficitWeightedRoundRobin(2, 1500)
    sched.set_weights([1.0, 1.0])
    first = sched.pick(1000)
    assert sched.pick(500) == first  # 1500 - 1000 - 500 = 0: still enough
    assert sched.credits()[first] == 0.0


def test_dwrr_dead_link_keeps_no_credit_for_one_byte_packets():
    sched = DeficitWeightedRoundRobin(2, 1500)
    sched.set_weights([1.0, 1.0])
    sched.pick(1500)
    sched.pick(1500)
    sched.set_weights([1.0, 0.0])
    assert sched.credits()[1] == 0.0
    assert {sched.pick(1) for _ in range(50)} == {0}


def test_dwrr_rejects_a_quantum_that_is_not_positive_and_wrong_weight_counts():
    with pytest.raises(ValueError, match="^quantum_bytes must be positive$"):
        DeficitWeightedRoundRobin(2, 0)
    assert DeficitWeightedRoundRobin(2, 1).pick(1500) is not None
    with pytest.raises(ValueError, match=r"^expected 2 weights, got 3$"):
        DeficitWeightedRoundRobin(2).set_weights([1.0, 1.0, 1.0])


def test_dwrr_all_dead_returns_none_and_comes_back():
    sched = DeficitWeightedRoundRobin(2, 1500)
    sched.set_weights([0.0, 0.0])
    assert sched.pick(100) is None
    sched.set_weights([0.0, 2.0])
    assert sched.pick(100) == 1


# --- receiver ---------------------------------------------------------------------------------


def test_seqset_is_exact_at_every_edge():
    seen = SeqSet()
    edge = len(seen.flags)
    for seq in (0, 1, edge - 1, edge, edge + 1, -1, -5):
        assert seq not in seen
        assert seen.add(seq) is True
        assert seq in seen
        assert seen.add(seq) is False
    assert len(seen) == 7
    assert 2 not in seen and edge + 2 not in seen
    assert len(seen.flags) == 2 * edge  # grows by doubling, not by one
    assert seen.sparse == {-1, -5}  # dense numbers, 0 included, are flags


def test_seqset_far_numbers_go_to_the_sparse_set_and_stay_exact_when_flags_reach_them():
    seen = SeqSet()
    far = len(seen.flags) + SPARSE_JUMP  # the first number that is too far
    assert seen.add(far) is True
    assert len(seen.flags) < SPARSE_JUMP  # no flags were grown for it
    assert far in seen and far - 1 not in seen
    assert seen.add(far) is False
    assert seen.add(far - 20) is True  # now within reach: the flags grow up to it, no further
    assert len(seen.flags) == far - 19
    assert seen.add(far + 1) is True  # and now past `far`
    assert len(seen.flags) > far
    assert seen.add(far) is False  # still known: it lives in the sparse set
    assert len(seen) == 3


def pair(reorder=False):
    """Two receivers fed the same packets, one packet at a time and one burst at a time."""
    return BondedReceiver(500, reorder=reorder), BondedReceiver(500, reorder=reorder)


FRAMES = [  # (frame id, capture, is I-frame, arrivals per packet in order of seq)
    (0, 0.0, True, [0.10, 0.20, 0.30]),
    (1, 0.1, False, [0.25, 0.60, 0.62]),  # last packet late: arrival == deadline is on time
    (2, 0.2, False, [0.30, 0.80]),  # late
    (3, 0.3, True, [0.40]),
]


def feed_frames(rx, burst):
    seq = 0
    for fid, capture, is_i, arrivals in FRAMES:
        rx.register_frame(fid, capture, is_i, len(arrivals), 1000 * len(arrivals) + fid)
        seqs = list(range(seq, seq + len(arrivals)))
        if burst:
            rx.on_burst(fid, seqs, arrivals)
            rx.on_burst(fid, seqs[:1], [arrivals[0] + 1.0])  # a duplicate of the first
        else:
            for s, a in zip(seqs, arrivals):
                rx.on_packet(s, fid, a)
            rx.on_packet(seqs[0], fid, arrivals[0] + 1.0)
        seq += len(arrivals)


@pytest.mark.parametrize("reorder", [False, True])
def test_receiver_bursts_and_single_packets_judge_alike_and_exactly(reorder):
    one, many = pair(reorder)
    feed_frames(one, burst=False)
    feed_frames(many, burst=True)
    for rep in (one.report(), many.report()):
        assert rep.frames_total == 4
        assert rep.frames_on_time == 2  # frame 1: 0.62 > 0.6; frame 2: 0.8 > 0.7
        assert rep.frames_decodable == 2  # frames 0 and 3
        assert rep.bytes_on_time == 3000 + 1003
        assert rep.late_packets == 2
        assert rep.duplicate_packets == 4
        assert rep.delays_ms.dtype == float
        assert list(rep.delays_ms) == pytest.approx([100, 200, 300, 150, 500, 520, 100, 600, 100])


def test_receiver_a_duplicate_in_a_burst_does_not_hide_the_packets_after_it():
    rx = BondedReceiver(500, reorder=False)
    rx.register_frame(0, 0.0, True, 3, 3000)
    rx.on_burst(0, [0, 1], [0.1, 0.1])
    rx.on_burst(0, [0, 1, 2], [0.2, 0.2, 0.2])
    rep = rx.report()
    assert (rep.duplicate_packets, rep.frames_on_time, len(rep.delays_ms)) == (2, 1, 3)


def test_receiver_arrival_exactly_at_the_deadline_is_on_time_and_not_late():
    for burst in (False, True):
        rx = BondedReceiver(500, reorder=False)
        rx.register_frame(0, 1.0, True, 2, 2000)
        if burst:
            rx.on_burst(0, [0, 1], [1.25, 1.5])
        else:
            rx.on_packet(0, 0, 1.25)
            rx.on_packet(1, 0, 1.5)
        rep = rx.report()
        assert (rep.frames_on_time, rep.late_packets, rep.bytes_on_time) == (1, 0, 2000)


def test_receiver_p_frames_before_the_first_i_frame_are_not_decodable():
    rx = BondedReceiver(500)
    rx.register_frame(0, 0.0, False, 1, 1000)
    rx.on_packet(0, 0, 0.1)
    rep = rx.report()
    assert (rep.frames_on_time, rep.frames_decodable) == (1, 0)


def test_receiver_release_waits_for_packet_0_and_gives_up_exactly_at_the_deadline():
    rx = BondedReceiver(500)
    rx.register_frame(0, 0.0, True, 2, 2000)
    rx.on_packet(1, 0, 0.1)
    assert rx.release(0.2) == []  # packet 0 is still missing
    assert rx.release(0.5) == [1]  # its deadline: the gap is given up


# --- rate control -----------------------------------------------------------------------------


def rc(**kw):
    from bondlab.core.rate_control import RateController

    args = dict(start_bitrate=4_000_000, min_bitrate=500_000, max_bitrate=12_000_000)
    args.update(kw)
    return RateController(**args)


def test_rate_control_defaults_are_the_documented_ones():
    c = rc()
    assert (c.headroom, c.raise_hold_s, c.raise_step, c.raise_margin, c.cut_deadband) == (
        1.1,
        1.0,
        0.15,
        0.05,
        0.05,
    )
    assert (c.retry_after_s, c.retry_margin, c.settle_s, c.clear_margin) == (60.0, 0.12, 2.0, 0.25)


def test_rate_control_messages_carry_time_capacity_and_reason():
    c = rc()
    cut = c.update(10.0, 3_300_000.0)
    assert cut is not None
    assert cut.as_dict() == {
        "t": 10.0,
        "type": "congestion-control",
        "recommended_bitrate": int(3_300_000.0 / 1.1),  # 2999999: float division, rounded down
        "total_capacity_bps": 3_300_000.0,
        "reason": "congestion",
    }
    msgs = [c.update(10.0 + 0.5 * i, 20_000_000.0) for i in range(1, 12)]
    up = next(m for m in msgs if m is not None)
    step = int(cut.recommended_bitrate * 1.15)  # raise_step, not capacity / headroom
    assert (up.reason, up.total_capacity_bps, up.recommended_bitrate) == ("recovery", 20_000_000.0, step)
    assert up.t == 13.0  # 3 x raise_hold_s after the cut, the hold having started at 10.5


def test_rate_control_cut_edge_capacity_at_the_deadband_is_no_cut():
    c = rc()
    edge = c.bitrate * c.headroom * (1 - c.cut_deadband)
    assert c.update(5.0, edge) is None
    assert c.bitrate == 4_000_000


def test_rate_control_first_cut_goes_to_capacity_over_headroom_not_below_a_wall():
    c = rc()
    msg = c.update(5.0, 4_000_000.0)  # 4 Mbps / 1.1 = 3.64 Mbps: above the retry margin's 3.52
    assert msg is not None and msg.recommended_bitrate == int(4_000_000 / 1.1)


def test_rate_control_no_message_when_already_at_the_minimum():
    c = rc(start_bitrate=500_000)
    assert c.update(5.0, 100_000.0) is None


def test_rate_control_settle_edges():
    c = rc()
    c.update(10.0, 3_300_000.0)  # -> 3 Mbps
    # Within settle_s a capacity exactly at the new bitrate is no reason for a second cut ...
    assert c.update(11.0, float(c.bitrate)) is None
    # ... and exactly settle_s after the cut the window is over.
    assert c.update(12.0, float(c.bitrate)) is not None


def test_rate_control_a_second_cut_without_a_raise_between_is_no_wall_either():
    c = rc()
    c.update(10.0, 4_000_000.0)
    cap = float(c.bitrate)  # well past settle_s: a plain cut to capacity / headroom
    msg = c.update(13.0, cap)
    assert msg is not None and msg.recommended_bitrate == int(cap / 1.1)


def test_rate_control_raise_edges():
    c = rc()
    edge = c.bitrate * c.headroom * (1 + c.raise_margin)
    assert [c.update(100.0 + 0.5 * i, edge) is not None for i in range(3)] == [False, False, True]
    below = rc()
    just_under = below.bitrate * below.headroom * 1.04
    assert all(below.update(100.0 + 0.5 * i, just_under) is None for i in range(10))


def test_rate_control_raises_one_hold_apart_and_by_capacity_over_headroom():
    c = rc(max_bitrate=100_000_000)
    times = [t / 2 for t in range(200, 212) if c.update(t / 2, 40_000_000.0) is not None]
    assert times == [101.0, 102.0, 103.0, 104.0, 105.0]
    d = rc()
    cap = d.bitrate * 1.2
    msgs = [d.update(50.0 + 0.5 * i, cap) for i in range(3)]
    assert msgs[2] is not None and msgs[2].recommended_bitrate == int(cap / 1.1)


def test_rate_control_raise_after_a_cut_waits_exactly_three_holds():
    c = rc(raise_hold_s=0.5)
    c.update(10.0, 3_300_000.0)
    got = {t: c.update(t, 20_000_000.0) for t in (10.5, 11.0, 11.5)}
    assert got[11.0] is None  # hold over, but only 1.0 s since the cut
    assert got[11.5] is not None  # 3 x 0.5 s: not one interval later


def climb_and_fail(c, t):
    """Raise once, then cut: the bitrate that failed is remembered. Returns (failed, time)."""
    for i in range(3):
        c.update(t + 0.5 * i, c.bitrate * 1.3)
    failed = c.bitrate
    assert c.update(t + 1.5, failed * 0.9) is not None
    return failed, t + 1.5


def test_rate_control_failure_memory_window_and_clearing_edges():
    c = rc()
    failed, t = climb_and_fail(c, 500.0)
    capped = failed * (1 - c.retry_margin)
    for i in range(1, 40):  # 20 s later, still remembered: raises stop below the wall
        c.update(t + 0.5 * i, failed * 1.2)
    assert c.bitrate <= capped + 1
    c2 = rc()
    failed2, t2 = climb_and_fail(c2, 500.0)
    c2.update(t2 + 59.0, failed2 * 1.2)  # the hold starts
    msg = c2.update(t2 + 60.0, failed2 * 1.2)  # exactly retry_after_s later: forgotten
    assert msg is not None and msg.recommended_bitrate > capped + 1
    c3 = rc()
    failed3, t3 = climb_and_fail(c3, 500.0)
    clear = failed3 * c3.headroom * (1 + c3.clear_margin)
    c3.update(t3 + 5.0, clear)
    msg = c3.update(t3 + 6.0, clear)  # exactly at the clearing capacity: forgotten at once
    assert msg is not None and msg.recommended_bitrate > failed3 * (1 - c3.retry_margin) + 1


# --- link estimator ---------------------------------------------------------------------------


def stats(
    t, sent_bps=2e6, delivered=2e6, rtt=50.0, age=0.05, dt=0.1, quality=100.0, sent=100, sent_bytes=True
):
    from bondlab.core.stats import PeerStats

    return PeerStats(
        t=t,
        rtt_ms=rtt,
        bandwidth_bps=sent_bps,
        sent=sent,
        retransmitted=0,
        quality=quality,
        delivered_bps=delivered,
        sent_bytes=int(sent_bps * dt / 8) if sent_bytes else None,
        evidence_age_s=age,
    )


def estimator(initial=2e6):
    from bondlab.core.estimator import EstimatorParams, LinkEstimator

    return LinkEstimator(EstimatorParams(), initial)


def test_estimator_starts_up_healthy_calm_and_empty():
    est = estimator()
    assert (est.health, est.up, est.evidence_age_s, est.congested, est.overloaded) == (
        1.0,
        True,
        0.0,
        False,
        False,
    )
    assert est.backlog_bytes == 0.0 and est.srtt_ms is None


def test_estimator_sent_rate_comes_from_our_own_count_over_the_real_interval():
    est = estimator()
    est.update(stats(0.1, sent_bps=1e6, sent_bytes=True))  # first sample: a 0.1 s interval
    assert est.sent_bps.get() == pytest.approx(1e6)
    spaced = estimator()
    spaced.update(stats(0.2, sent_bps=5e6, dt=0.2))
    spaced.update(stats(0.4, sent_bps=5e6, dt=0.2))  # 0.2 s apart: bytes over 0.2 s
    # The first interval counts as 0.1 s (10 Mbps), the second as its real 0.2 s (5 Mbps).
    assert spaced.sent_bps.get() == pytest.approx(1e7 + 0.125 * (5e6 - 1e7), rel=1e-6)
    librist = estimator()
    librist.update(stats(0.1, sent_bps=3e6, sent_bytes=False))  # no count of ours: librist's rate
    assert librist.sent_bps.get() == 3e6


def test_estimator_without_any_report_counts_silence_from_the_start():
    est = estimator()
    est.update(stats(0.3, age=None))
    assert est.up is True and est.evidence_age_s == 0.3
    est.update(stats(0.6, age=None))
    assert est.up is False and est.health == 0.0 and est.weight == 0.0 and est.counted_bps == 0.0


def test_estimator_loss_from_quality_only_while_sending():
    est = estimator()
    est.update(stats(0.1, quality=85.0, rtt=10.0))
    assert est.loss.get() == pytest.approx(0.15)
    assert est.health == pytest.approx(0.5)  # half way down the cosine from 0.1 to the 0.2 limit
    idle = estimator()
    idle.update(stats(0.1, quality=0.0, sent=0))
    assert idle.loss.get() == 0.0
    garbage = estimator()
    garbage.update(stats(0.1, quality=-50.0))
    assert garbage.loss.get() == 1.0


def test_estimator_backlog_counts_from_the_first_report_and_a_lost_report_spans_two_intervals():
    est = estimator()
    est.update(stats(0.1, sent_bps=1e6, delivered=None, rtt=None))
    est.update(stats(0.2, sent_bps=1e6, delivered=None, rtt=None))
    assert est.backlog_bytes == 0.0  # nothing counted before the first report
    est.update(stats(0.3, sent_bps=1e6, delivered=1e6, rtt=None))
    given, leak = 1e6 * 0.1, 1 - 0.1 / 4.0  # an interval's bits (lagged one), backlog_leak_s 4 s
    bits = given * leak  # the first report: what was given one interval earlier counts from now
    assert est.backlog_bytes == pytest.approx(bits / 8)
    est.update(stats(0.4, sent_bps=1e6, delivered=None, rtt=None))  # report lost
    bits = (bits + given) * leak
    assert est.backlog_bytes == pytest.approx(bits / 8)
    est.update(stats(0.5, sent_bps=1e6, delivered=1e6, rtt=None))  # this one covers 0.2 s
    bits = (bits - 1e6 * 0.2 + given) * leak
    assert est.backlog_bytes == pytest.approx(bits / 8)


def test_estimator_restart_after_down_forgets_everything_and_counts_again():
    est = estimator()
    for k in range(1, 6):
        est.update(stats(k / 10, sent_bps=4e6, delivered=2e6))
    est.update(stats(0.6, age=0.6))
    assert est.up is False
    est.update(stats(0.7, sent_bps=1e6, delivered=None, rtt=None))
    assert est.up is True and est.capacity_bps == 500_000.0
    assert est.backlog_bytes == 0.0 and est.srtt_ms is None and est.ceiling is None
    for k in range(8, 30):
        est.update(stats(k / 10, sent_bps=1e6, delivered=1e6))
    # One interval's bits counted at the first report after the restart, leaking ever since.
    assert est.backlog_bytes == pytest.approx(1e5 * 0.975**22 / 8)
    assert est.delivered_max_bps == pytest.approx(1e6)


def test_estimator_evidence_window_keeps_a_sample_exactly_window_seconds_old():
    est = estimator()
    est.update(stats(0.5, delivered=5e6, dt=0.5))
    for k in range(2, 8):
        est.update(stats(k / 2, delivered=1e6, dt=0.5))
    assert est.burst_max_bps == 5e6  # t = 3.5: the 0.5 s sample is exactly 3 s old
    est.update(stats(4.0, delivered=1e6, dt=0.5))
    assert est.burst_max_bps == 1e6


def test_estimator_overload_needs_a_full_second_of_history_after_the_report_lag():
    est = estimator(4e6)
    flags = []
    for k in range(1, 13):
        est.update(stats(k / 10, sent_bps=4e6, delivered=1e6))
        flags.append(est.overloaded)
    assert flags[:10] == [False] * 10 and flags[10] is True


def script():
    """(t, sent, delivered or None, rtt): calm, capacity drop, standing queue, drain, recovery, calm."""
    out = []
    for k in range(1, 161):
        t = k / 10
        if t <= 3:
            sent, dl, rtt = 4e6, 4e6, 50.0
        elif t <= 6:
            sent, dl, rtt = 4e6, 2.5e6, 50.0 + (t - 3) * 40
        elif t <= 9:
            sent, dl, rtt = 2.5e6, 2.4e6, 170.0 - (t - 6) * 30
        elif t <= 12:
            sent, dl, rtt = 3e6, 3e6, 60.0
        else:
            sent, dl, rtt = 3e6, 2.9e6, 50.0
        out.append((round(t, 6), sent, None if k % 7 == 0 else dl, rtt))
    return out


# Measured with the estimator as it stands (every 0.5 s): what the rules above add up to. Any
# change to a rule's constant, comparison or order moves some of these numbers.
GOLDEN = [  # t, capacity, counted, weight, backlog bytes, congested, overloaded, ceiling
    (0.5, 4415251.5625, 4200000.0, 4415251.5625, 0.0, False, False, None),
    (1.0, 4995451.879790665, 4200000.0, 4995451.879790665, 1.418811734765768e-11, False, False, None),
    (1.5, 5651895.283895069, 4200000.0, 5651895.283895069, 0.0, False, False, None),
    (2.0, 5999999.999999999, 4200000.0, 5999999.999999999, 7.803464541211724e-11, False, False, None),
    (2.5, 5999999.999999999, 4200000.0, 5999999.999999999, 1.2769305612891913e-10, False, False, None),
    (3.0, 5999999.999999999, 4200000.0, 5999999.999999999, 0.0, False, False, None),
    (3.5, 6000000.0, 4200000.0, 1486125.4631159382, 117417.52423095706, False, False, None),
    (4.0, 1225000.0, 1225000.0, 0.0, 162870.60873829288, False, True, (3.7, 2500000.0)),
    (4.5, 624999.9999999986, 624999.9999999986, 0.0, 229729.2572783677, False, True, (4.2, 2500000.0)),
    (5.0, 624999.9999999986, 624999.9999999986, 0.0, 288600.5147075746, True, True, (4.7, 2500000.0)),
    (5.5, 624999.9999999986, 624999.9999999986, 0.0, 341233.44484109996, True, True, (5.3, 2500000.0)),
    (6.0, 624999.9999999986, 624999.9999999986, 0.0, 386902.0867460832, True, True, (5.9, 2500000.0)),
    (6.5, 624999.9999999986, 624999.9999999986, 0.0, 362501.9228329479, True, True, (6.5, 2400000.0)),
    (7.0, 624999.9999999986, 624999.9999999986, 0.0, 354445.4679913332, False, False, (6.5, 2400000.0)),
    (7.5, 624999.9999999986, 624999.9999999986, 0.0, 291664.0895258612, False, False, (6.5, 2400000.0)),
    (8.0, 624999.9999999986, 624999.9999999986, 0.0, 262085.41360629993, False, False, (6.5, 2400000.0)),
    (8.5, 624999.9999999986, 624999.9999999986, 0.0, 235987.66416955183, False, False, (6.5, 2400000.0)),
    (9.0, 624999.9999999986, 624999.9999999986, 0.0, 213724.29953446108, False, False, (6.5, 2400000.0)),
    (
        9.5,
        2854898.1981958323,
        2745421.8823525743,
        0.0,
        181957.50440510572,
        False,
        False,
        (6.5, 2614687.5070024515),
    ),
    (
        10.0,
        3230055.268405412,
        2884556.2970115235,
        120044.82294003885,
        159430.76256825813,
        False,
        False,
        (6.5, 2747196.473344308),
    ),
    (
        10.5,
        3654511.058764515,
        2975842.386469261,
        8.14842870650881,
        177036.2582878931,
        False,
        False,
        (6.5, 2834135.6061612004),
    ),
    (
        11.0,
        4134743.8259857856,
        3047161.670786234,
        2229735.7145433268,
        122944.79624494411,
        False,
        False,
        (6.5, 2902058.7340821275),
    ),
    (
        11.5,
        4474830.861238021,
        3082527.772202848,
        3118941.5436988603,
        107457.19982830362,
        False,
        False,
        (6.5, 2935740.7354312837),
    ),
    (
        12.0,
        4487090.523828962,
        3105731.4713422884,
        3363589.8786011767,
        93766.01348917607,
        False,
        False,
        (6.5, 2957839.496516465),
    ),
    (
        12.5,
        4493378.614318646,
        3105731.4713422884,
        4493378.614318646,
        88413.41561752056,
        False,
        False,
        (6.5, 2957839.496516465),
    ),
    (
        13.0,
        4496603.8321183305,
        3105731.4713422884,
        4496603.8321183305,
        82878.29753364142,
        False,
        False,
        (6.5, 2957839.496516465),
    ),
    (13.5, 4498258.075146874, 3150000.0, 4498258.075146874, 77958.7920723288, False, False, None),
    (14.0, 4499106.551177781, 3150000.0, 4018736.8225575774, 109829.49090315825, False, False, None),
    (14.5, 4499541.742115632, 3150000.0, 4499541.742115632, 70627.1575030786, False, False, None),
    (15.0, 4499764.955436323, 3150000.0, 4499764.955436323, 67185.90295031354, False, False, None),
    (15.5, 4499879.443543038, 3080861.326512908, 4499879.443543038, 64110.200942712676, False, False, None),
    (16.0, 4499938.165515987, 3068528.6163251195, 4499938.165515987, 62283.80689975874, False, False, None),
]


def test_estimator_trajectory_through_a_drop_a_standing_queue_and_recovery():
    from bondlab.core.stats import PeerStats

    est = estimator(3e6)
    got = []
    for t, sent, dl, rtt in script():
        est.update(
            PeerStats(
                t, rtt, sent, 100, 0, delivered_bps=dl, sent_bytes=int(sent * 0.1 / 8), evidence_age_s=0.05
            )
        )
        if round(t * 10) % 5 == 0:
            got.append((t, est.capacity_bps, est.counted_bps, est.weight, est.backlog_bytes))
            got.append((est.congested, est.overloaded, est.ceiling))
    want = []
    for t, cap, counted, weight, backlog, cong, over, ceil in GOLDEN:
        want.append(pytest.approx((t, cap, counted, weight, backlog), rel=1e-6, abs=1e-3))
        want.append((cong, over, ceil))
    assert got == want


def run_phases(est, phases, t=0.0):
    """phases: (seconds, sent, delivered, rtt) at 0.1 s steps; returns the time reached."""
    for seconds, sent, dl, rtt in phases:
        for _ in range(round(seconds * 10)):
            t = round(t + 0.1, 6)
            est.update(stats(t, sent_bps=sent, delivered=dl, rtt=rtt))
    return t


def test_estimator_an_echo_before_any_report_is_no_delivery_evidence():
    est = estimator()
    est.update(stats(0.1, delivered=None, rtt=50.0))
    assert est.capacity_bps >= 2e6 and est.ceiling is None


def test_estimator_a_standing_queue_cut_does_not_subtract_a_backlog_that_is_not_overload():
    est = estimator(6e6)
    t = run_phases(est, [(2.0, 4e6, 3.5e6, 50.0)])  # delivers 87.5 %: above overload_ratio
    for i in range(20):
        t = round(t + 0.1, 6)
        est.update(stats(t, sent_bps=4e6, delivered=3.5e6, rtt=100.0 + 2 * i))
    assert est.congested and not est.overloaded
    assert est.capacity_bps == pytest.approx(0.85 * 3.5e6)


def test_estimator_probe_growth_stops_at_half_the_congestion_delay():
    grows = estimator()
    t = run_phases(grows, [(1.0, 2e6, 2e6, 50.0)])
    before = grows.capacity_bps
    run_phases(grows, [(1.0, 2e6, 2e6, 65.0)], t)  # 15 ms of queue: still app-limited
    assert grows.capacity_bps > before
    edge = estimator()
    t = run_phases(edge, [(1.0, 2e6, 2e6, 50.0)])
    before = edge.capacity_bps
    run_phases(edge, [(1.0, 2e6, 2e6, 70.0)], t)  # exactly congested_ms / 2: no more probing
    assert edge.capacity_bps == before


def test_estimator_queueing_delay_exactly_at_congested_ms_is_not_congestion():
    est = estimator()
    t = run_phases(est, [(2.0, 2e6, 2e6, 50.0), (1.2, 2e6, 2e6, 80.0)])
    before = est.capacity_bps
    est.update(stats(round(t + 0.1, 6), sent_bps=2e6, delivered=2e6, rtt=90.0))  # 40 ms, standing, rising
    assert not est.congested and est.capacity_bps == before


def test_estimator_ceiling_is_kept_under_light_load_and_dropped_after_calm_full_load():
    est = estimator(6e6)
    t = run_phases(est, [(2.0, 2.5e6, 2.5e6, 50.0)])
    for i in range(20):  # a standing, rising queue while the link delivers all it gets: a cut
        t = round(t + 0.1, 6)
        est.update(stats(t, sent_bps=2.5e6, delivered=2.5e6, rtt=100.0 + 2 * i))
    assert est.ceiling is not None and est.ceiling[1] == pytest.approx(2.5e6)
    t = run_phases(est, [(4.0, 1.5e6, 1.5e6, 50.0)], t)
    assert est.ceiling is not None  # carrying 1.5 Mbps says nothing about the 2.5 Mbps ceiling
    run_phases(est, [(4.0, 2.5e6, 2.5e6, 55.0)], t)  # full load again, 5 ms of queue is calm
    assert est.ceiling is None


def test_rate_control_a_raise_of_two_percent_or_less_is_no_message():
    for step in (0.01, 0.02):  # raise_step caps the raise at 1 %, then at exactly 2 %
        c = rc(raise_step=step)
        assert all(c.update(100.0 + 0.5 * i, 20_000_000.0) is None for i in range(10))
        assert c.bitrate == 4_000_000
    c = rc(raise_step=0.03)
    assert [c.update(100.0 + 0.5 * i, 20_000_000.0) is not None for i in range(3)] == [False, False, True]


# -- EWMA and health -------------------------------------------------------------------------------------
def test_ewma_alpha_one_follows_each_sample_and_out_of_range_alpha_is_named():
    from bondlab.core.ewma import Ewma

    e = Ewma(1.0)
    e.update(5.0)
    assert e.update(7.0) == 7.0
    with pytest.raises(ValueError, match=r"alpha must be in \(0, 1\], got 1.5"):
        Ewma(1.5)
    fresh = Ewma()
    assert fresh.get() == 0.0 and fresh.get(3.0) == 3.0
    fresh.reset(4.0)
    assert fresh.get() == 4.0 and fresh.update(12.0) == 5.0  # a reset value is the start of the average


def test_health_falloff_is_a_raised_cosine_from_the_knee_and_zero_at_the_limit():
    from bondlab.core.health import falloff

    assert falloff(1.0, 1.0, knee=1.0) == 0.0  # no knee room: a step, 0 at the limit itself
    assert falloff(0.999, 1.0, knee=1.0) == 1.0
    assert falloff(0.6, 1.0, knee=0.2) == pytest.approx(0.5)  # half-way from the knee to the limit
    assert falloff(0.4, 1.0, knee=0.2) == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))
