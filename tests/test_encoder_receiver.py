"""Encoder frame sizes and packetisation; receiver on-time and decodable accounting."""

import logging

import pytest

from bondlab.core.encoder import EncoderModel
from bondlab.core.receiver import BondedReceiver


def encoder(**kw):
    args = dict(
        fps=30,
        gop_frames=60,
        iframe_ratio=4.0,
        start_bitrate_bps=6_000_000,
        min_bitrate_bps=500_000,
        max_bitrate_bps=12_000_000,
        packet_bytes=1316,
        reaction_delay_s=0.3,
    )
    args.update(kw)
    return EncoderModel(**args)


def test_gop_bytes_match_bitrate():
    """One GOP of frames carries bitrate x GOP duration bytes."""
    enc = encoder()
    frames = [enc.next_frame(i / 30) for i in range(60)]
    assert sum(f.size_bytes for f in frames) == pytest.approx(6_000_000 / 8 * 2, rel=0.001)


def test_iframe_is_ratio_times_pframe():
    """The I-frame is iframe_ratio times a P-frame and comes every gop_frames."""
    enc = encoder()
    frames = [enc.next_frame(i / 30) for i in range(121)]
    assert [f.frame_id for f in frames if f.is_iframe] == [0, 60, 120]
    assert frames[0].size_bytes == pytest.approx(4 * frames[1].size_bytes, rel=0.01)


def test_packets_at_most_packet_bytes_and_sum_to_frame():
    """Packets are at most packet_bytes and add up to the frame."""
    enc = encoder()
    f = enc.next_frame(0.0)
    assert max(f.packet_sizes) <= 1316 and sum(f.packet_sizes) == f.size_bytes


def test_bitrate_change_waits_for_reaction_delay_and_logs(caplog):
    """A new set-point applies after the reaction delay and logs 'Adjusting bitrate'."""
    enc = encoder()
    enc.request_bitrate(1.0, 3_000_000)
    with caplog.at_level(logging.INFO, logger="bondlab.encoder"):
        enc.next_frame(1.2)
        assert enc.bitrate_bps == 6_000_000
        enc.next_frame(1.31)
    assert enc.bitrate_bps == 3_000_000
    assert "Adjusting bitrate" in caplog.text


def test_requests_are_clamped():
    """Requests outside [min, max] are clamped."""
    enc = encoder(reaction_delay_s=0.0)
    enc.request_bitrate(0.0, 50_000_000)
    enc.next_frame(0.0)
    assert enc.bitrate_bps == 12_000_000


def feed(rx, frames):
    seq = 0
    for fid, (is_i, arrivals) in enumerate(frames):
        rx.register_frame(fid, fid * 0.1, is_i, len(arrivals), 1000 * len(arrivals))
        for a in arrivals:
            if a is not None:
                rx.on_packet(seq, fid, fid * 0.1 + a)
            seq += 1


def test_on_time_needs_every_packet_by_the_deadline():
    """A frame with one packet late or missing is not on time."""
    rx = BondedReceiver(latency_ms=500)
    feed(rx, [(True, [0.1, 0.2]), (False, [0.1, 0.6]), (False, [0.1, None]), (False, [0.5, 0.49])])
    rep = rx.report()
    assert (rep.frames_total, rep.frames_on_time) == (4, 2)


def test_one_late_frame_breaks_the_rest_of_the_gop():
    """After a late frame, later frames of the same GOP are not decodable; the next I-frame heals."""
    rx = BondedReceiver(latency_ms=500)
    feed(rx, [(True, [0.1]), (False, [0.9]), (False, [0.1]), (True, [0.1]), (False, [0.1])])
    rep = rx.report()
    assert rep.frames_on_time == 4
    assert rep.frames_decodable == 3  # frames 0, 3, 4


def test_duplicates_are_ignored():
    """A retransmitted copy arriving after the original is counted once."""
    rx = BondedReceiver(latency_ms=500)
    rx.register_frame(0, 0.0, True, 1, 1000)
    rx.on_packet(0, 0, 0.1)
    rx.on_packet(0, 0, 0.2)
    rep = rx.report()
    assert rep.duplicate_packets == 1 and len(rep.delays_ms) == 1


@pytest.mark.parametrize("reorder", [True, False])
@pytest.mark.parametrize("burst", [True, False])
def test_a_copy_that_arrives_before_the_late_original_counts(reorder, burst):
    """The sim learns a packet's arrival when it is sent: a copy sent later on a faster link (a
    reinjection, a retransmission, a duplicate) may still arrive first, and on a wire the first
    arrival is the one the receiver keeps."""
    rx = BondedReceiver(latency_ms=500, reorder=reorder)
    rx.register_frame(0, 0.0, True, 3, 3000)
    arrive = (
        (lambda seqs, ts: rx.on_burst(0, seqs, ts))
        if burst
        else (lambda seqs, ts: [rx.on_packet(q, 0, t) for q, t in zip(seqs, ts)])
    )
    arrive([0, 1, 2], [0.1, 0.9, 0.8])  # packets 1 and 2 stuck in a slow link's queue
    assert rx.report().frames_on_time == 0 and rx.report().late_packets == 2
    arrive([1], [0.3])  # the copy of 1, sent later, arrives first
    rep = rx.report()
    assert rep.frames_on_time == 0 and rep.late_packets == 1
    assert sorted(rep.delays_ms) == pytest.approx([100.0, 300.0, 800.0])
    arrive([2], [0.85])  # a copy that is later than the original changes nothing
    arrive([2], [0.6])  # earlier, but still past the deadline: its arrival is the earlier one
    assert rx.report().late_packets == 1 and max(rx.report().delays_ms) == pytest.approx(600.0)
    arrive([2], [0.45])
    rep = rx.report()
    assert rep.frames_on_time == rep.frames_decodable == 1 and rep.late_packets == 0
    assert sorted(rep.delays_ms) == pytest.approx([100.0, 300.0, 450.0]) and rep.duplicate_packets == 4
    if reorder:
        assert rx.release(0.46) == [0, 1, 2]


def test_release_is_in_sequence_order_and_gives_up_gaps_at_deadline():
    """Packets from several links leave in sequence order; a gap is skipped once its deadline passes."""
    rx = BondedReceiver(latency_ms=500)
    rx.register_frame(0, 0.0, True, 4, 4000)
    for seq, t in [(1, 0.05), (3, 0.06), (0, 0.07)]:
        rx.on_packet(seq, 0, t)
    assert rx.release(0.1) == [0, 1]
    assert rx.release(0.6) == [3]


@pytest.mark.parametrize("n_packets", [1, 2])
def test_a_frame_announced_again_forgets_its_old_late_packets(n_packets):
    """A copy of a packet the frame had before it was announced again neither crashes the
    receiver nor completes the new frame (the late packet it would replace is not the frame's)."""
    rx = BondedReceiver(latency_ms=500, reorder=False)
    rx.register_frame(0, 0.0, True, 2, 2000)
    rx.on_packet(0, 0, 0.9)  # late
    rx.register_frame(0, 0.0, True, n_packets, 1000 * n_packets)
    if n_packets == 2:
        rx.on_packet(1, 0, 0.8)  # the new frame's packet, late
    rx.on_packet(0, 0, 0.2)  # a copy of the old packet: a duplicate, nothing more
    rep = rx.report()
    assert rep.frames_on_time == 0 and rep.duplicate_packets == 1
