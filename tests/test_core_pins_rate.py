"""Pins for the bitrate side of core (issue 9): AIMD's and belacoder's ladder's rules at their
edges, the controller factory, the receiver-report tracker, the encoder model and the one metric
assembly. Times are multiples of 1/4 s where an edge is exact, so float sums land on it."""

import logging
from types import SimpleNamespace

import numpy as np
import pytest

from bondlab.core.aimd import AimdController
from bondlab.core.encoder import EncoderModel
from bondlab.core.feedback import ReceiverReport, ReportTracker
from bondlab.core.ladder import DECR_FAST_INT_S, DECR_INT_S, INCR_INT_S, READ_S, LadderController
from bondlab.core.metrics import METRIC_KEYS, build_metrics
from bondlab.core.rate_control import RateController
from bondlab.core.rate_controllers import RATE_CONTROLLERS, RateSignals, make_rate_controller
from bondlab.core.receiver import PlayoutReport
from bondlab.core.sender_record import SenderRecord
from bondlab.scenario import load_scenario

from conftest import SCENARIOS


def sig(rtt=60.0, backlog=0.0, backlog_s=0.0, overloaded=False, congested=False, interval=0.1):
    return RateSignals(interval, rtt, rtt, 0.0, backlog, backlog_s, overloaded, congested)


# -- AIMD ------------------------------------------------------------------------------------------------
def aimd(start=6_000_000, **kw):
    return AimdController(start, 500_000, 12_000_000, **kw)


def test_aimd_pressure_edges():
    c = aimd()
    assert not c.pressure(6_000_000, None)  # the bond counts exactly the bitrate: no pressure
    assert c.pressure(5_999_999, None)
    assert not c.pressure(20e6, sig(backlog_s=0.2))  # exactly the backlog limit: not past it
    assert c.pressure(20e6, sig(backlog_s=0.2001))
    assert c.pressure(20e6, sig(overloaded=True)) and c.pressure(20e6, sig(congested=True))
    assert not c.pressure(20e6, sig())
    assert aimd(backlog_limit_s=0.5).pressure(20e6, sig(backlog_s=0.3)) is False


def test_aimd_defaults_are_the_documented_ones():
    c = aimd()
    assert (c.headroom, c.beta, c.add_bps, c.climb_every_s, c.max_slew) == (1.1, 0.75, 150_000.0, 1.0, 0.05)
    assert (c.sustain_s, c.hold_s, c.backlog_limit_s) == (0.3, 1.0, 0.2)


def test_aimd_cuts_once_pressure_lasted_sustain_then_holds_exactly_hold_s():
    c = aimd(sustain_s=0.25)
    assert c.update(3.0, 20e6, sig(overloaded=True)) is None
    msg = c.update(3.25, 19e6, sig(overloaded=True))  # lasted exactly sustain_s
    assert (msg.t, msg.recommended_bitrate, msg.total_capacity_bps, msg.reason) == (
        3.25,
        4_500_000,
        19e6,
        "congestion",
    )
    assert c.update(3.5, 20e6, sig(overloaded=True)) is None  # pressure counts again from here
    assert c.update(3.75, 20e6, sig(overloaded=True)) is None  # lasted, but within the hold
    assert c.update(4.0, 20e6, sig(overloaded=True)) is None
    assert c.update(4.25, 20e6, sig(overloaded=True)).recommended_bitrate == 3_375_000  # hold over


def test_aimd_a_cut_never_goes_below_the_minimum_and_none_at_the_minimum():
    c = AimdController(600_000, 500_000, 12_000_000, sustain_s=0.0)
    assert c.update(3.0, 0.0, None).recommended_bitrate == 500_000
    assert c.update(5.0, 0.0, None) is None and c.bitrate == 500_000


def test_aimd_climb_waits_climb_every_s_and_after_a_cut_hold_s():
    c = aimd(sustain_s=0.0, hold_s=2.0)
    assert c.update(1.0, 20e6, None).recommended_bitrate == 6_150_000  # no change yet: climbs at once
    assert c.update(1.75, 20e6, None) is None
    assert c.update(2.0, 20e6, None).recommended_bitrate == 6_300_000
    assert c.update(3.0, 1e6, None).reason == "congestion"  # to 4,725,000
    assert c.update(4.0, 20e6, None) is None  # a climb's second passed, the cut's hold did not
    msg = c.update(5.0, 19e6, None)
    assert (msg.t, msg.recommended_bitrate, msg.total_capacity_bps, msg.reason) == (
        5.0,
        4_725_000 + 150_000,
        19e6,
        "recovery",
    )


def test_aimd_climb_step_is_the_smaller_of_add_and_the_slew_over_the_climb_interval():
    c = AimdController(1_000_000, 500_000, 12_000_000, climb_every_s=2.0)
    assert c.update(2.0, 20e6, None).recommended_bitrate == 1_100_000  # 5 %/s x 2 s
    c = AimdController(11_900_000, 500_000, 12_000_000)
    assert c.update(1.0, 50e6, None).recommended_bitrate == 12_000_000
    assert c.update(3.0, 50e6, None) is None  # at the maximum: no message


# -- belacoder's ladder ----------------------------------------------------------------------------------
def ladder(start=6_000_000, latency=900.0, **kw):
    return LadderController(start, 500_000, 12_000_000, latency, **kw)


def test_ladder_needs_an_rtt_and_leaves_its_state_alone_without_one():
    c = ladder()
    assert c.update(1.0, 20e6, None) is None
    assert c.update(1.0, 20e6, sig(rtt=None)) is None
    assert (c.rtt_avg, c.prev_rtt, c.rtt_min, c.internal) == (0.0, 300.0, 200.0, 6_000_000.0)
    assert (c.packet_bytes, c.headroom, c.latency_ms) == (1316, 1.1, 900.0)


def test_ladder_smoothing_decays_once_per_20ms_read_of_the_interval():
    assert READ_S == 0.02
    c = ladder()
    c.update(0.1, 20e6, sig(rtt=100.0, backlog=1316.0 * 10))  # 5 reads, one packet = 1316 bytes
    d = 0.99**5
    assert c.rtt_avg == 100.0  # the first RTT is the average
    assert c.bs_avg == pytest.approx(10 * (1 - d)) and c.bs_jitter == 10.0 and c.prev_bs == 10.0
    assert c.prev_rtt == 100.0
    assert c.rtt_avg_delta == pytest.approx(-200.0 * 0.2 * 0.8**4)
    assert c.rtt_min == 100.0  # below the grown 200 x 1.001^5 with the delta falling
    assert c.rtt_jitter == 0.0  # RTT fell: no jitter
    c.update(0.2, 20e6, sig(rtt=110.0, backlog=1316.0 * 4))
    assert c.rtt_avg == pytest.approx(100.0 * d + 110.0 * (1 - d))
    assert c.bs_jitter == pytest.approx(10.0 * d)  # fewer packets: the old jitter decays
    assert c.rtt_jitter == 10.0 and c.rtt_min == pytest.approx(100.0 * 1.001**5)
    assert c.bs_avg == pytest.approx(10 * (1 - d) * d + 4 * (1 - d))
    c.update(0.3, 20e6, sig(rtt=105.0, backlog=1316.0 * 4))
    assert c.rtt_jitter == pytest.approx(10.0 * d)  # RTT fell: the old jitter decays
    slow = ladder()
    slow.update(0.1, 20e6, sig(rtt=100.0, backlog=1316.0 * 10, interval=0.01))  # under a read: one
    assert slow.bs_avg == pytest.approx(10 * 0.01)


def test_ladder_rtt_minimum_only_follows_a_lower_rtt_while_its_trend_is_under_1ms():
    def after(avg_delta):
        c = ladder()
        c.rtt_avg_delta, c.prev_rtt = avg_delta / 0.8, 50.0  # a steady RTT: the trend decays by 0.8
        c._smooth(50.0, 0.0, 1.0)
        assert c.rtt_avg_delta == pytest.approx(avg_delta)
        return c.rtt_min

    assert after(0.5) == 50.0
    assert after(1.0) == pytest.approx(200.0 * 1.001)  # a trend of exactly 1 ms is rising
    assert after(1.5) == pytest.approx(200.0 * 1.001)


def test_ladder_climb_needs_rtt_under_its_minimum_plus_the_larger_of_1ms_and_two_jitters():
    def climbs(rtt_over_min, jitter=0.0, trend=0.0):
        c = ladder()
        c.rtt_min, c.rtt_jitter = 100.0, jitter / 0.99  # one read: everything decays by 0.99 once
        rtt = 100.0 * 1.001 + rtt_over_min
        c.rtt_avg, c.prev_rtt, c.rtt_avg_delta = rtt, rtt, trend / 0.8
        c.update(1.0, 20e6, sig(rtt=rtt, interval=0.02))
        return c.internal > 6_000_000

    assert climbs(0.5) and not climbs(1.0) and not climbs(1.5)  # 1 ms floor, exclusive
    assert climbs(9.0, jitter=5.0) and not climbs(11.0, jitter=5.0)  # two jitters: 10 ms
    assert climbs(4.0, jitter=5.0)
    assert not climbs(0.5, trend=0.5)  # RTT trending up: no climb


def test_ladder_mild_cut_when_rtt_passes_its_average_plus_four_jitters():
    def cut(rtt):
        c = ladder()
        c.rtt_avg, c.prev_rtt, c.rtt_min, c.rtt_jitter = 100.0, rtt, 50.0, 10.0
        c.update(1.0, 20e6, sig(rtt=rtt, interval=0.02))
        return 6_000_000 - c.internal

    # average 100 -> 100.45 at 145 (one read); jitter 9.9: threshold 100.45 + 39.6 = 140.05
    assert cut(145.0) == 100_000
    assert cut(130.0) == 0  # above 15 % of the average, under four jitters


def test_ladder_drops_to_the_minimum_at_exactly_a_third_of_the_latency_and_waits_200ms():
    c = ladder()
    msg = c.update(1.0, 20e6, sig(rtt=300.0))
    assert msg.recommended_bitrate == 500_000 and msg.reason == "congestion" and msg.t == 1.0
    assert c.next_decr == 1.0 + DECR_INT_S
    low = ladder(start=500_000)
    assert low.update(1.0, 20e6, sig(rtt=300.0)) is None  # at the minimum already: a fast cut,
    assert low.next_decr == 1.0 + DECR_FAST_INT_S  # clamped to where it was
    c = ladder()
    msg = c.update(1.0, 18e6, sig(rtt=250.0))  # over a quarter, under a third: a fast cut only
    assert (msg.recommended_bitrate, msg.total_capacity_bps) == (5_300_000, 18e6)


def test_ladder_fast_cut_above_a_fifth_of_the_latency_then_250ms_apart():
    c = ladder()
    c.update(1.0, 20e6, sig(rtt=180.0))  # exactly a fifth: no cut; at its minimum, it climbs
    assert c.internal == 6_000_000 + 30_000 + 200_000
    c = ladder()
    msg = c.update(1.0, 20e6, sig(rtt=181.0))
    assert c.internal == 6_000_000 - 100_000 - 600_000 and msg.recommended_bitrate == 5_300_000
    assert c.next_decr == 1.0 + DECR_FAST_INT_S
    c.update(1.25, 20e6, sig(rtt=181.0))  # exactly when the wait ends: no cut (the RTT sits: a climb)
    climbed = 5_300_000 + 30_000 + 5_300_000 / 30
    assert c.internal == pytest.approx(climbed)
    c.update(1.5, 20e6, sig(rtt=181.0))
    assert c.internal == pytest.approx(climbed - 100_000 - climbed / 10)


def test_ladder_mild_cut_of_100k_on_rtt_above_its_average_200ms_apart():
    c = ladder()
    c.rtt_avg, c.prev_rtt, c.rtt_min = 100.0, 150.0, 50.0  # RTT rose and stays, far from its minimum
    msg = c.update(1.0, 20e6, sig(rtt=150.0, interval=0.02))
    assert c.internal == 5_900_000 and msg.recommended_bitrate == 5_900_000
    assert c.next_decr == 1.0 + DECR_INT_S
    assert c.update(1.2, 20e6, sig(rtt=150.0, interval=0.02)) is None and c.internal == 5_900_000
    c.update(1.25, 20e6, sig(rtt=150.0, interval=0.02))
    assert c.internal == 5_800_000


def test_ladder_mild_cut_on_a_backlog_above_its_average_and_jitter():
    c = ladder(latency=2000.0)
    c.bs_avg, c.bs_jitter, c.prev_bs = 100.0, 100.0, 360.0
    c.rtt_avg, c.prev_rtt, c.rtt_min = 60.0, 60.0, 50.0
    # 360 packets: past 102.6 + 2.5 x 99 = 350.1, not past 102.6 + 3 x 99 = 399.6 nor 4 x 201.6
    c.update(1.0, 20e6, sig(rtt=60.0, backlog=1316.0 * 360, interval=0.02))
    assert c.internal == 5_900_000 and c.next_decr == 1.0 + DECR_INT_S
    c = ladder(latency=2000.0)
    c.bs_avg, c.bs_jitter, c.prev_bs = 100.0, 100.0, 350.0
    c.rtt_avg, c.prev_rtt, c.rtt_min = 60.0, 60.0, 50.0
    c.update(1.0, 20e6, sig(rtt=60.0, backlog=1316.0 * 350, interval=0.02))
    assert c.internal == 6_000_000  # 350 is under 102.5 + 247.5


def test_ladder_climbs_only_when_rtt_sits_at_its_minimum_and_500ms_apart():
    c = ladder()
    c.update(0.5, 20e6, sig(rtt=60.0))
    assert c.internal == 6_000_000 + 30_000 + 200_000 and c.next_incr == 0.5 + INCR_INT_S
    c.update(1.0, 20e6, sig(rtt=60.0))  # exactly 500 ms later: not yet
    assert c.internal == 6_230_000
    c.update(1.25, 20e6, sig(rtt=60.0))
    assert c.internal == pytest.approx(6_230_000 + 30_000 + 6_230_000 / 30)


def test_ladder_backlog_thresholds():
    # th3: 4 x (average + jitter); 200 packets that stood since the last read, from an empty average
    c = ladder()
    c.prev_bs = 200.0
    msg = c.update(1.0, 20e6, sig(rtt=60.0, backlog=1316.0 * 200))
    assert msg.recommended_bitrate == 500_000
    # th2 is capped by what the bond sends in half the latency: at 600 kbps and 200 ms, 5.7 packets
    c = ladder(start=600_000, latency=200.0)
    c.bs_avg, c.bs_jitter, c.prev_bs = 10.0, 10.0, 15.0
    c.update(1.0, 20e6, sig(rtt=10.0, backlog=1316.0 * 15, interval=0.02))
    assert c.internal == 500_000  # 600 k - 100 k - 60 k, clamped to the minimum: a fast cut
    assert c.next_decr == 1.0 + DECR_FAST_INT_S


def test_ladder_backlog_edges_against_each_threshold():
    def outcome(bs, avg, jitter=0.0, start=6_000_000, latency=900.0):
        c = ladder(start=start, latency=latency)
        c.bs_avg, c.bs_jitter, c.prev_bs = avg, jitter / 0.99**5, bs  # a standing backlog: no new jitter
        c.rtt_avg, c.prev_rtt, c.rtt_min = 10.0, 10.0, 5.0  # a calm RTT, well off its minimum
        c.update(1.0, 20e6, sig(rtt=10.0, backlog=1316.0 * bs))
        return start - c.internal

    fast, mild = 100_000 + 600_000, 100_000
    assert outcome(500.0, 100.0) == 5_500_000  # 4 x 119.6 = 478.4: to the minimum
    assert outcome(450.0, 100.0) == fast  # 4 x 117.2 = 468.6 not passed; 2 x 117.2 = 234.3 is
    assert outcome(50.5, 18.0) == fast  # past the 50-packet floor of the fast cut (2 x 19.6 = 39.2)
    assert outcome(50.0, 18.0) == 0  # exactly at it: neither cut
    # with jitter 15: fast past 19.6 + 45 = 64.6, mild past 19.6 + 37.5 = 57.1 (floor 50)
    assert outcome(70.0, 18.0, 15.0) == fast
    assert outcome(60.0, 18.0, 15.0) == mild
    assert outcome(50.5, 18.0, 10.5) == mild  # under 19.6 + 31.5 = 51.1, past the floor of 50
    # 600 kbps, 200 ms: the fast-cut threshold is what goes out in 100 ms, 5.699 packets
    assert outcome(5.698, 10.0, 10.0, start=600_000, latency=200.0) == 0  # not passed
    assert outcome(5.7, 10.0, 10.0, start=600_000, latency=200.0) == 100_000  # to the minimum


def test_ladder_rounds_down_to_100k_and_stays_in_the_encoder_range():
    c = ladder(start=6_050_000)
    msg = c.update(0.5, 20e6, sig(rtt=60.0))  # 6,050,000 + 30,000 + 201,666
    assert msg.recommended_bitrate == 6_200_000 and c.bitrate == 6_200_000
    c = ladder(start=11_950_000)
    c.update(0.5, 20e6, sig(rtt=60.0))
    assert c.internal == 12_000_000 and c.bitrate == 12_000_000


# -- factory ---------------------------------------------------------------------------------------------
def sc(*over):
    return load_scenario(SCENARIOS / "seed-asymmetric.yaml", ["duration_s=3", *over])


def test_factory_passes_the_scenarios_numbers_to_each_controller():
    assert RATE_CONTROLLERS == ("headroom", "forecast", "ladder", "aimd", "none")
    fc = make_rate_controller(
        sc("bonding.rate_controller=forecast", "receiver.latency_ms=1200", "encoder.reaction_delay_ms=200")
    )
    assert (fc.bitrate, fc.min_bitrate, fc.max_bitrate, fc.headroom) == (6_000_000, 500_000, 12_000_000, 1.1)
    assert (fc.latency_s, fc.interval_s, fc.reaction_s, len(fc.links)) == (1.2, 0.1, 0.2, 2)
    h = make_rate_controller(sc("bonding.headroom=1.3", "bonding.raise_hold_s=2.0", "bonding.raise_step=0.2"))
    assert isinstance(h, RateController)
    assert (h.bitrate, h.min_bitrate, h.max_bitrate) == (6_000_000, 500_000, 12_000_000)
    assert (h.headroom, h.raise_hold_s, h.raise_step) == (1.3, 2.0, 0.2)
    lad = make_rate_controller(
        sc(
            "bonding.rate_controller=ladder",
            "receiver.latency_ms=1200",
            "encoder.packet_bytes=1200",
            "bonding.headroom=1.3",
        )
    )
    assert isinstance(lad, LadderController)
    assert (lad.bitrate, lad.min_bitrate, lad.max_bitrate) == (6_000_000, 500_000, 12_000_000)
    assert (lad.latency_ms, lad.packet_bytes, lad.headroom) == (1200.0, 1200, 1.3)
    a = make_rate_controller(sc("bonding.rate_controller=aimd", "bonding.headroom=1.2"))
    assert isinstance(a, AimdController)
    assert (a.bitrate, a.min_bitrate, a.max_bitrate, a.headroom) == (6_000_000, 500_000, 12_000_000, 1.2)
    assert make_rate_controller(sc("bonding.rate_controller=none")) is None
    assert make_rate_controller(sc("bonding.rate_controller=aimd", "bonding.rate_control=false")) is None


def test_factory_a_scenario_without_a_rate_controller_field_gets_headroom():
    s = sc()
    bonding = SimpleNamespace(rate_control=True, headroom=1.2, raise_hold_s=1.0, raise_step=0.25)
    c = make_rate_controller(SimpleNamespace(bonding=bonding, encoder=s.encoder, receiver=s.receiver))
    assert isinstance(c, RateController) and c.headroom == 1.2


def test_factory_rejects_an_unknown_name_naming_the_choices():
    s = sc()
    object.__setattr__(s.bonding, "rate_controller", "pid")
    with pytest.raises(
        ValueError,
        match=r"unknown rate controller 'pid' \(choose from headroom, forecast, ladder, aimd, none\)",
    ):
        make_rate_controller(s)


# -- receiver reports --------------------------------------------------------------------------------------
def rep(number, rx, payload, packets, link=0):
    return ReceiverReport(link, number, rx, payload, packets)


def test_report_tracker_rate_between_takes_over_the_receivers_clock():
    r = ReportTracker()
    assert r.take(1.0) == (None, None)
    r.on_report(1.0, rep(1, 10.0, 1000, 5))
    assert r.evidence_t == 1.0
    assert r.take(1.25) == (None, 0.25)  # one report: no interval yet
    r.on_report(1.5, rep(2, 10.5, 3000, 9))
    assert r.take(2.0) == ((3000 - 1000) * 8 / 0.5, 0.5)
    r.on_report(2.5, rep(3, 11.0, 4000, 12))
    rate, age = r.take(2.5)
    assert rate == 1000 * 8 / 0.5 and age == 0.0
    assert r.take(3.0) == (None, 0.5)  # no new report since the last take


def test_report_tracker_ignores_old_and_repeated_reports_and_needs_new_packets_as_evidence():
    r = ReportTracker()
    r.on_report(1.0, rep(5, 10.0, 1000, 5))
    r.on_report(2.0, rep(5, 11.0, 9000, 50))  # same number: a duplicate
    r.on_report(2.0, rep(4, 11.0, 9000, 50))  # older: reordered
    assert r.last.number == 5 and r.evidence_t == 1.0
    r.on_report(3.0, rep(6, 12.0, 1000, 5))  # newer, but no packet arrived since
    assert r.last.number == 6 and r.evidence_t == 1.0
    assert r.take(3.5)[1] == 2.5
    assert r.take(0.5)[1] == 0.0  # a clock before the evidence reads as none missing
    z = ReportTracker()
    z.on_report(1.0, rep(1, 10.0, 0, 0))  # a first report of no packets proves nothing
    assert z.evidence_t is None
    z.on_report(2.0, rep(2, 11.0, 0, 1))  # one packet is proof
    assert z.evidence_t == 2.0
    one = ReportTracker()
    one.on_report(1.0, rep(1, 10.0, 100, 1))
    assert one.evidence_t == 1.0


def test_report_tracker_no_rate_over_no_receiver_time():
    r = ReportTracker()
    r.on_report(1.0, rep(1, 10.0, 1000, 5))
    r.take(1.0)
    r.on_report(1.1, rep(2, 10.0, 2000, 6))  # same receiver time
    assert r.take(1.2)[0] is None


# -- encoder ---------------------------------------------------------------------------------------------
def enc(**kw):
    args = {"fps": 25.0, "gop_frames": 50, "iframe_ratio": 3.0, "start_bitrate_bps": 4_000_000}
    args |= {"min_bitrate_bps": 1_000_000, "max_bitrate_bps": 8_000_000, "packet_bytes": 1000}
    args["reaction_delay_s"] = 0.25
    args.update(kw)
    return EncoderModel(**args)


def test_encoder_from_scenario_takes_every_field():
    e = EncoderModel.from_scenario(
        sc("encoder.fps=25", "encoder.gop_frames=50", "encoder.reaction_delay_ms=250")
    )
    assert (e.fps, e.gop_frames, e.iframe_ratio, e.bitrate_bps) == (25.0, 50, 4.0, 6_000_000)
    assert (e.min_bitrate_bps, e.max_bitrate_bps, e.packet_bytes, e.reaction_delay_s) == (
        500_000,
        12_000_000,
        1316,
        0.25,
    )
    assert EncoderModel(30, 60, 4.0, 1, 1, 1, 1316).reaction_delay_s == 0.3


def test_encoder_new_bitrate_applies_exactly_reaction_delay_after_the_request(caplog):
    e = enc()
    with caplog.at_level(logging.INFO, logger="bondlab.encoder"):
        e.request_bitrate(1.0, 2_000_000)
        e.next_frame(1.24)
        assert e.bitrate_bps == 4_000_000
        e.next_frame(1.25)
        assert e.bitrate_bps == 2_000_000
        e.request_bitrate(1.3, 2_000_000)  # the same set-point again: no change logged
        e.request_bitrate(1.5, 99_000_000)  # clamped to the maximum
        e.next_frame(1.55)
        e.next_frame(1.75)
        assert e.bitrate_bps == 8_000_000
    logged = [r.getMessage() for r in caplog.records if r.name == "bondlab.encoder"]
    assert logged == [
        "Adjusting bitrate: 4000000 -> 2000000 bps at t=1.25s",
        "Adjusting bitrate: 2000000 -> 8000000 bps at t=1.75s",
    ]
    e.request_bitrate(2.0, 10)
    e.next_frame(2.25)
    assert e.bitrate_bps == 1_000_000


def test_encoder_frames_split_the_gop_bytes_and_packets_fill_up_to_packet_bytes():
    e = enc()
    gop = 4_000_000 / 8 * 2.0  # 50 frames at 25 fps
    p = gop / (3.0 + 49)
    assert e.frame_bytes(False) == round(p) and e.frame_bytes(True) == round(3 * p)
    assert e.packetize(3000) == (1000, 1000, 1000)
    assert e.packetize(3001) == (1000, 1000, 1000, 1)
    assert e.packetize(1) == (1,)
    assert enc(start_bitrate_bps=1, min_bitrate_bps=1).frame_bytes(False) == 1  # never an empty frame
    frames = [e.next_frame(k / 25) for k in range(51)]
    assert [f.frame_id for f in frames] == list(range(51))
    assert [f.is_iframe for f in frames].count(True) == 2 and frames[50].is_iframe
    assert frames[1].size_bytes == round(p) and frames[1].capture_t == 1 / 25


# -- metrics ---------------------------------------------------------------------------------------------
def report(delays=(10.0, 20.0, 30.0, 40.0), on_time=2, decodable=1, total=3, bytes_on_time=5000):
    return PlayoutReport(total, on_time, decodable, bytes_on_time, np.array(delays, dtype=float))


def record():
    return SenderRecord(
        frames=[(0, 0.0, True, 2, 2000)], frame_bitrates=[1000, 2000, 1000, 1000, 1000, 1000],
        link_bytes=[3000, 1000], packets_sent=10, dropped_at_sender=2, reinjected=3, duplicated=4,
        overhead_bytes=500, messages=[{"t": 1.0}, {"t": 2.0}],
    )  # fmt: skip


def test_metrics_assemble_the_receivers_judgement_and_what_the_sender_did():
    m = build_metrics(report(), record(), 3.0, 7, ["a", "b"])
    assert list(m) == list(METRIC_KEYS)
    assert (m["on_time_ratio"], m["decodable_ratio"]) == (0.66667, 0.33333)  # 5 decimals
    assert (m["frames_total"], m["frames_on_time"], m["frames_decodable"]) == (3, 2, 1)
    assert m["goodput_bps"] == 13_333.3  # 5000 bytes x 8 / 3 s, 1 decimal
    assert m["mean_bitrate_bps"] == 1166.7 and m["bitrate_changes"] == 2  # frame to frame
    assert (m["p50_delay_ms"], m["p95_delay_ms"], m["p99_delay_ms"]) == (25.0, 38.5, 39.7)
    odd = build_metrics(report(delays=(1.23456, 2.0)), record(), 3.0, 7, ["a", "b"])
    assert odd["p50_delay_ms"] == 1.617  # 3 decimals
    assert m["retransmissions"] == 7 and m["congestion_messages"] == 2
    assert (m["packets_sent"], m["packets_dropped_at_sender"], m["packets_lost"]) == (10, 2, 6)
    assert (m["reinjected_packets"], m["duplicated_packets"], m["overhead_bytes"]) == (3, 4, 500)
    assert m["links"] == {"a": {"bytes_sent": 3000, "share": 0.75}, "b": {"bytes_sent": 1000, "share": 0.25}}


def test_metrics_link_bytes_and_capacity_share_when_given_and_an_empty_run():
    m = build_metrics(report(), record(), 2.0, 0, ["a", "b"], [1, 2], [1 / 3, 2 / 3])
    assert m["links"] == {
        "a": {"bytes_sent": 1, "share": 0.33333, "capacity_share": 0.33333},
        "b": {"bytes_sent": 2, "share": 0.66667, "capacity_share": 0.66667},
    }
    empty = build_metrics(
        report(delays=(), total=0, on_time=0, decodable=0), SenderRecord(), 1.0, 0, ["a"], [0]
    )
    assert (empty["p50_delay_ms"], empty["p95_delay_ms"], empty["p99_delay_ms"]) == (None, None, None)
    assert empty["links"] == {"a": {"bytes_sent": 0, "share": 0.0}}
    assert empty["mean_bitrate_bps"] == 0.0 and empty["bitrate_changes"] == 0
    assert empty["on_time_ratio"] == 0.0 and empty["packets_lost"] == 0
