"""Behaviour pins for the bonded receiver as rewritten on 2026-11-26 (frames in typed columns, a
fast path in on_burst, a late packet replaced by an earlier copy), written to kill the mutants the
rest of the suite lets live.

Each test pins one rule through what a caller sees (report(), frames, delays_ms, release()): a
frame announced again, frame ids that are not 0..n-1, the fast path's guards and the slow path
after it, an earlier copy at the deadline, and when a late packet's entry is forgotten.
"""

import pytest

from bondlab.core.receiver import SPARSE_JUMP, BondedReceiver, FrameRecord, SeqSet

INF = float("inf")


def summary(rx):
    rep = rx.report()
    return (
        rep.frames_total,
        rep.frames_on_time,
        rep.frames_decodable,
        rep.bytes_on_time,
        rep.late_packets,
        rep.duplicate_packets,
    )


# --- a frame announced again ------------------------------------------------------------------


@pytest.mark.parametrize("a, b", [(0, 1), (7, 3)])  # dense ids, and ids that go through the dict
def test_a_frame_announced_again_starts_afresh_with_its_new_description(a, b):
    rx = BondedReceiver(500, reorder=False)
    rx.register_frame(a, 0.0, False, 2, 2000)
    rx.register_frame(b, 0.1, True, 1, 999)
    rx.register_frame(b, 0.1, True, 1, 1000)  # again before any packet: only its size changes
    assert rx.frames[b] == FrameRecord(0.1, True, 1, 1000, 0, -INF)
    rx.on_packet(0, a, 0.1)
    rx.on_packet(1, a, 0.9)  # late
    rx.on_packet(2, b, 0.2)
    assert rx.frames[a] == FrameRecord(0.0, False, 2, 2000, 2, 0.9)
    rx.register_frame(a, 0.2, True, 1, 1500)  # again: new capture, now an I-frame of one packet
    assert rx.frames_total == 2
    assert rx.frames[a] == FrameRecord(0.2, True, 1, 1500, 0, -INF)
    assert summary(rx)[:4] == (2, 1, 1, 1000)  # nothing of `a` has arrived since
    rx.on_packet(3, a, 0.9)  # late for the new deadline 0.7 ...
    rx.on_packet(3, a, 0.3)  # ... and its copy arrives first: the one late packet of `a` is gone
    assert rx.frames[a] == FrameRecord(0.2, True, 1, 1500, 1, 0.3)
    assert summary(rx) == (2, 2, 2, 2500, 1, 1)  # packet 1, of the frame as first announced


# --- frame ids that are not 0..n-1 ------------------------------------------------------------


def test_frame_ids_past_the_dense_ones_keep_their_own_rows_and_report_in_id_order():
    rx = BondedReceiver(500, reorder=False)
    # 0, 1 dense; then 7, and from there on every id through the dict, 2 and -2 included
    for fid, capture, is_i in [
        (0, 0.0, True),
        (1, 0.1, False),
        (7, 0.2, False),
        (2, 0.3, False),
        (-2, 0.4, True),
    ]:
        rx.register_frame(fid, capture, is_i, 2, 2000 + fid)
    packets = {0: (0.1, 0.2), 1: (0.2, 0.3), 7: (0.3, 0.8), 2: (0.4, 0.5), -2: (0.5, 0.6)}
    seq = 0
    for fid, arrivals in packets.items():
        for t in arrivals:
            rx.on_packet(seq, fid, t)
            seq += 1
    assert set(rx.frames) == {0, 1, 7, 2, -2}
    assert rx.frames[7] == FrameRecord(0.2, False, 2, 2007, 2, 0.8)
    assert rx.frames[2] == FrameRecord(0.3, False, 2, 2002, 2, 0.5)
    assert rx.frames[-2] == FrameRecord(0.4, True, 2, 1998, 2, 0.6)
    # in id order -2, 0, 1, 2, 7: only frame 7 (0.8 > 0.7) is late, and it ends the chain
    # (in the order announced, 7 would break 2 and leave 4 frames on time but 3 decodable)
    assert summary(rx) == (5, 4, 4, 1998 + 2000 + 2001 + 2002, 1, 0)
    assert rx.delays_ms == pytest.approx([100, 200, 100, 200, 100, 600, 100, 200, 100, 200])


def test_the_first_frame_id_need_not_be_0():
    rx = BondedReceiver(500, reorder=False)
    rx.register_frame(5, 1.0, True, 1, 1000)
    rx.register_frame(6, 1.1, False, 1, 1000)
    rx.on_burst(6, [1], [1.2])
    rx.on_packet(0, 5, 1.1)
    assert rx.frames == {
        5: FrameRecord(1.0, True, 1, 1000, 1, 1.1),
        6: FrameRecord(1.1, False, 1, 1000, 1, 1.2),
    }
    assert summary(rx) == (2, 2, 2, 2000, 0, 0)


# --- on_burst: the fast path, its guards and the slow path after it ---------------------------

BURSTS = [  # one I-frame of 5 packets captured at 1.0 (deadline 1.5): (seqs, arrivals)
    ([0, 1, 2], [1.1, 1.5, 1.9]),  # on time, exactly at the deadline, late
    ([3, 4], [1.95, 1.8]),  # all late
    ([2, 4], [1.2, 1.3]),  # copies of two late packets, each arriving first
    ([3], [1.4]),  # the last late packet's copy: the frame completes with its latest on-time one
]
AFTER = [  # frame's arrived, complete_t; late, duplicates; delays (ms)
    (3, 1.9, 1, 0, [100, 500, 900]),
    (5, 1.95, 3, 0, [100, 500, 900, 950, 800]),
    (5, 1.95, 1, 2, [100, 500, 200, 950, 300]),
    (5, 1.5, 0, 3, [100, 500, 200, 400, 300]),  # 1.5: the packet exactly at the deadline
]


@pytest.mark.parametrize("mode", ["packets", "fast", "slow"])
def test_bursts_judge_late_packets_and_earlier_copies_as_packets_do(mode):
    """ "slow": a packet numbered -1 sits in the sparse set, so every burst goes packet by packet."""
    rx = BondedReceiver(500, reorder=False)
    rx.register_frame(0, 0.0, True, 1, 1000)
    rx.register_frame(1, 1.0, True, 5, 5000)
    if mode == "slow":
        rx.on_packet(-1, 0, 0.1)
    for step, ((seqs, arrivals), (arrived, complete, late, dupes, delays)) in enumerate(zip(BURSTS, AFTER)):
        if step == 2:  # three packets late; a frame captured at their deadline keeps them open
            rx.register_frame(2, 1.5, False, 1, 1000)
        if mode == "packets":
            for seq, t in zip(seqs, arrivals):
                rx.on_packet(seq, 1, t)
        else:
            rx.on_burst(1, seqs, arrivals)
        assert rx.frames[1] == FrameRecord(1.0, True, 5, 5000, arrived, complete)
        assert (rx.report().late_packets, rx.report().duplicate_packets) == (late, dupes)
        got = rx.delays_ms[1:] if mode == "slow" else rx.delays_ms
        assert got == pytest.approx(delays)
    if mode != "slow":
        rx.on_packet(-1, 0, 0.1)
    assert summary(rx) == (3, 2, 2, 6000, 0, 3)


@pytest.mark.parametrize("seqs", [[4096], [0, 5000, 3], [6, -1, 7], [2, 2, 3], [9, 8]])
def test_bursts_out_of_the_flags_range_not_increasing_or_repeated_count_as_packets_do(seqs):
    arrivals = [0.1 + 0.01 * k for k in range(len(seqs))]
    one, many = BondedReceiver(500, reorder=False), BondedReceiver(500, reorder=False)
    for rx in (one, many):
        rx.register_frame(0, 0.0, True, len(set(seqs)), 1000)
    for seq, t in zip(seqs, arrivals):
        one.on_packet(seq, 0, t)
    many.on_burst(0, seqs, arrivals)
    for rx in (one, many):
        assert summary(rx) == (1, 1, 1, 1000, 0, len(seqs) - len(set(seqs)))
        assert rx.frames[0].arrived == len(set(seqs))
        assert rx.delays_ms == pytest.approx([100 + 10 * k for k, s in enumerate(seqs) if s not in seqs[:k]])
        rx.on_burst(0, [4095], [0.3])  # a number the burst never carried is new
        assert rx.report().duplicate_packets == len(seqs) - len(set(seqs))
        rx.on_burst(0, seqs[:1], [0.3])  # one it carried is not
        assert rx.report().duplicate_packets == len(seqs) - len(set(seqs)) + 1


def test_a_burst_of_a_number_held_in_the_sparse_set_is_a_duplicate_once_the_flags_reach_it():
    rx = BondedReceiver(500, reorder=False)
    rx.register_frame(0, 0.0, True, 4, 4000)
    far = len(SeqSet().flags) + SPARSE_JUMP  # too far: goes to the sparse set
    rx.on_packet(far, 0, 0.1)
    rx.on_packet(far - 20, 0, 0.1)  # the flags grow up to far - 20 ...
    rx.on_packet(far + 1, 0, 0.1)  # ... and now past far
    rx.on_burst(0, [far], [0.2])
    assert rx.frames[0].arrived == 3
    assert summary(rx) == (1, 0, 0, 0, 0, 1)


# --- an earlier copy exactly at the deadline --------------------------------------------------


@pytest.mark.parametrize("burst", [False, True])
def test_a_copy_arriving_exactly_at_the_deadline_makes_the_late_packet_on_time(burst):
    rx = BondedReceiver(500, reorder=False)
    rx.register_frame(0, 1.0, True, 1, 1000)
    arrive = (lambda s, t: rx.on_burst(0, [s], [t])) if burst else (lambda s, t: rx.on_packet(s, 0, t))
    arrive(0, 1.9)
    arrive(0, 1.5)
    assert rx.frames[0].complete_t == 1.5
    assert summary(rx) == (1, 1, 1, 1000, 0, 1)
    assert rx.delays_ms == pytest.approx([500])


# --- when a late packet's entry is forgotten --------------------------------------------------


def test_late_entries_are_forgotten_once_a_frame_captured_after_their_deadline_is_announced():
    rx = BondedReceiver(500)
    rx.register_frame(0, 0.0, True, 3, 3000)
    rx.on_packet(0, 0, 0.1)
    rx.on_packet(1, 0, 0.9)  # late: deadline 0.5
    rx.on_packet(2, 0, 0.95)  # late
    rx.register_frame(1, 0.6, True, 1, 1000)  # captured after that deadline: no copy can follow
    rx.on_packet(1, 0, 0.3)  # so these are duplicates, not earlier arrivals
    rx.on_packet(2, 0, 0.35)
    assert summary(rx) == (2, 0, 0, 0, 2, 2)
    assert rx.delays_ms == pytest.approx([100, 900, 950])
    assert rx.release(0.4) == [0]


def test_late_entries_are_kept_while_a_frame_captured_at_their_deadline_is_announced():
    rx = BondedReceiver(500)
    rx.register_frame(0, 0.0, True, 1, 1000)
    rx.on_packet(1, 0, 0.9)  # late: deadline 0.5
    rx.register_frame(1, 0.5, True, 1, 1000)  # captured at the deadline: a copy may still come
    rx.on_packet(1, 0, 0.3)
    assert summary(rx) == (2, 1, 1, 1000, 0, 1)
    assert rx.release(0.5) == [1]


def test_forgetting_a_late_entry_an_earlier_copy_already_settled_is_harmless():
    rx = BondedReceiver(500, reorder=False)
    rx.register_frame(0, 0.0, True, 1, 1000)
    rx.on_packet(3, 0, 0.9)
    rx.on_packet(3, 0, 0.2)  # settled: no longer late
    rx.register_frame(1, 0.6, True, 1, 1000)  # its entry in the order of deadlines goes now
    rx.on_packet(4, 1, 0.7)
    assert summary(rx) == (2, 2, 2, 2000, 0, 1)
