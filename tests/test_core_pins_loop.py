"""Pins for the bonding controller and the sender loop (issue 9): what the controller hands the
scheduler and the rate controller, and what the loop does at each frame and tick, packet by packet.

The controller's arithmetic is checked on stand-in estimators (plain attributes), so each rule of
its own (weights' fallback, RTT weighting, hold and release) shows without an estimator's history.
"""

from dataclasses import replace
from types import SimpleNamespace

import pytest

from bondlab.core.bonding import BACKLOG_SHARE, WARMUP_S, BondingController
from bondlab.core.estimator import EstimatorParams
from bondlab.core.ewma import Ewma
from bondlab.core.rate_control import CongestionControl, RateController
from bondlab.core.schedulers import LinkFeedback
from bondlab.core.sender_loop import STALL_HOLD_S, STALL_S, SenderLoop
from bondlab.core.sender_record import SenderRecord
from bondlab.core.stats import PeerStats
from bondlab.core.transport import Burst
from bondlab.scenario import load_scenario

from conftest import SCENARIOS


def est(weight=1.0, cap=1e6, health=1.0, up=True, srtt=None, base=None, qd=0.0, backlog=0.0, backlog_s=0.0,
        overloaded=False, congested=False, counted=0.0, delivered=None, rtt=0.0, loss=0.0,
        age=0.0):  # fmt: skip
    def update(sample, mean):
        e.updates.append((sample, mean))

    e = SimpleNamespace(
        weight=weight, capacity_bps=cap, health=health, up=up, srtt_ms=srtt, rtt_min_ms=base,
        queue_delay_ms=qd, backlog_bytes=backlog, backlog_s=backlog_s, overloaded=overloaded,
        congested=congested, counted_bps=counted, delivered=Ewma(), rtt=Ewma(), loss=Ewma(),
        updates=[], update=update, evidence_age_s=age, on_copies=lambda nbytes: None,
        p=SimpleNamespace(count_copies=False),
    )  # fmt: skip
    if delivered is not None:
        e.delivered.update(delivered)
    e.rtt.update(rtt)
    e.loss.update(loss)
    return e


def controller(n=2, scheduler="dwrr", rate=True):
    rc = RateController(6_000_000, 500_000, 12_000_000, 1.2) if rate else None
    return BondingController(n, scheduler, EstimatorParams(), 1500, 2.0, rc)


def ps(t=0.1, rtt=50.0, delivered=None, retx=0, age=0.0):
    return PeerStats(t, rtt, 1e6, 10, retx, delivered_bps=delivered, evidence_age_s=age)


# -- the controller --------------------------------------------------------------------------------------
def test_controller_starts_each_link_at_its_share_of_the_bitrate_with_headroom():
    c = controller(3)
    assert [e.capacity_bps for e in c.estimators] == pytest.approx([6_000_000 * 1.2 / 3] * 3)
    assert [e.capacity_bps for e in controller(2, rate=False).estimators] == [500_000.0, 500_000.0]
    assert c.scheduler_name == "dwrr" and c.n_links == 3
    assert c.begin_frame is None and c._observe is None  # DWRR has no hooks
    m = controller(2, "minrtt")
    assert m.begin_frame is not None and m._observe is not None


def test_controller_builds_its_scheduler_with_the_quantum_and_credit_cap():
    c = BondingController(2, "dwrr", EstimatorParams(), 3000, 4.0, None)
    assert (c.scheduler.quantum_bytes, c.scheduler.max_credit_quanta) == (3000, 4.0)


def test_controller_from_scenario_takes_the_backlog_limit_from_half_the_latency():
    over = [
        "receiver.latency_ms=600",
        "bonding.alpha=0.25",
        "bonding.rtt_limit_ms=700",
        "bonding.loss_limit=0.3",
    ]
    sc = load_scenario(SCENARIOS / "seed-asymmetric.yaml", [*over, "bonding.probe_gain=0.4"])
    c = BondingController.from_scenario(sc, "rr")
    p = c.estimators[0].p
    assert p.backlog_limit_s == pytest.approx(BACKLOG_SHARE * 0.6) and BACKLOG_SHARE == 0.5
    assert (p.alpha, p.rtt_limit_ms, p.loss_limit, p.probe_gain) == (0.25, 700.0, 0.3, 0.4)
    assert c.scheduler_name == "rr" and len(c.estimators) == 2
    assert c.rate.bitrate == 6_000_000 and c.rate.headroom == 1.1


def test_weights_are_the_estimators_unless_all_are_zero_then_capacity_times_health_of_live_links():
    c = controller(3)
    c.estimators = [est(weight=2.0), est(weight=0.0), est(weight=1.0)]
    assert c.weights() == [2.0, 0.0, 1.0]
    c.estimators = [est(weight=0.0, cap=4e6, health=0.5), est(weight=0.0, up=False), est(weight=0.0, cap=1e6)]
    assert c.weights() == [2e6, 0.0, 1e6]


def test_on_stats_feeds_each_estimator_the_mean_of_the_live_links_and_sets_the_weights():
    c = controller(3)
    c.estimators = [est(cap=2e6, weight=3.0), est(cap=4e6, weight=1.0), est(cap=9e6, up=False)]
    samples = [ps(), ps(), ps()]
    assert c.on_stats(0.1, samples) is None  # warm-up: no rate decision
    assert [u[1] for e in c.estimators for u in e.updates] == [3e6, 3e6, 3e6]
    assert [u[0] for e in c.estimators for u in e.updates] == samples
    ref = controller(3).scheduler
    ref.set_weights([3.0, 1.0, 0.0])
    assert c.scheduler.credits() == ref.credits()
    c.estimators = [est(up=False), est(up=False), est(up=False)]
    c.on_stats(0.2, samples)
    assert [e.updates[0][1] for e in c.estimators] == [None, None, None]  # no live link: no mean


def test_on_stats_decides_from_the_end_of_warm_up_and_only_when_allowed():
    def at(t, decide=True, rate=True):
        c = controller(2, rate=rate)
        c.estimators = [est(counted=1e6), est(counted=1e6)]  # far below the 6 Mbps stream
        return c, c.on_stats(t, [ps(t), ps(t)], decide)

    assert WARMUP_S == 2.5
    assert at(2.49)[1] is None
    c, msg = at(2.5)
    assert isinstance(msg, CongestionControl) and msg.reason == "congestion"
    assert msg.total_capacity_bps == 2e6 and c.total_capacity_bps == 2e6
    assert c.messages == [msg]
    assert at(3.0, decide=False)[1] is None
    assert at(3.0, rate=False)[1] is None


def test_on_stats_hands_the_rate_controller_the_bonds_signals_and_logs_its_message(caplog):
    c = controller(2)
    seen = []

    def update(t, capacity, signals):
        seen.append((t, capacity, signals))
        return CongestionControl(t, 5_000_000, capacity, "congestion")

    c.rate = SimpleNamespace(update=update, reads_signals=True)
    c.estimators = [est(counted=3e6, srtt=40.0, weight=1.0), est(counted=2e6, srtt=80.0, weight=3.0)]
    with caplog.at_level("INFO", logger="bondlab.bonding"):
        c.on_stats(2.5, [ps(2.5), ps(2.5)])
        c.on_stats(2.75, [ps(2.75), ps(2.75)])
    assert [(t, cap) for t, cap, _ in seen] == [(2.5, 5e6), (2.75, 5e6)]
    assert seen[0][2] == c.signals([1.0, 3.0], 2.5) and seen[1][2].interval_s == 0.25
    assert seen[1][2].rtt_ms == pytest.approx(70.0)
    c.rate.reads_signals = False  # the headroom controller's case: the signals are not worked out
    c.on_stats(3.0, [ps(3.0), ps(3.0)])
    assert seen[-1][:2] == (3.0, 5e6) and seen[-1][2] is None
    assert caplog.messages[0] == (
        "congestion-control at t=2.50s: recommended-bitrate=5000000 (capacity 5000000 bps, congestion)"
    )


def test_feedback_gives_each_link_the_estimators_view_and_the_interval_acked_bytes():
    c = controller(2)
    c.estimators = [
        est(srtt=80.0, base=40.0, cap=3e6, delivered=2e6, backlog=5000.0, health=0.5),
        est(srtt=None, base=None, cap=1e6, up=False, health=0.0),
    ]
    fb = c.feedback([ps(delivered=8e5, retx=3), ps(delivered=None, retx=1)], 0.1)
    assert fb == [
        LinkFeedback(80.0, 40.0, 3e6, 2e6, 5000.0, 10_000.0, 3, True, 0.5),
        LinkFeedback(None, None, 1e6, None, 0.0, 0.0, 1, False, 0.0),
    ]


def test_controller_refuses_samples_that_do_not_match_its_links():
    c = controller(2)
    for call in (lambda: c.on_stats(0.1, [ps()]), lambda: c.feedback([ps()], 0.1)):
        with pytest.raises(ValueError):
            call()
    c.estimators = [est(), est()]
    with pytest.raises(ValueError):
        c.feedback([ps(), ps(), ps()], 0.1)


def test_a_feedback_scheduler_observes_each_tick_with_the_time_since_the_last():
    c = controller(2, "minrtt")
    seen = []
    c._observe = lambda t, links: seen.append((t, [f.acked_bytes for f in links]))
    c.estimators = [est(), est()]
    c.on_stats(0.5, [ps(delivered=8e5), ps(delivered=1.6e6)])
    c.on_stats(0.75, [ps(delivered=8e5), ps(delivered=0.0)])
    c.on_stats(0.75, [ps(delivered=8e5), ps()])
    assert seen[0] == (0.5, [50_000.0, 100_000.0])  # 0.5 s since the start
    assert seen[1] == (0.75, [25_000.0, 0.0])
    assert seen[2][1][0] == pytest.approx(8e5 * 1e-6 / 8)  # no time passed: a microsecond


def test_signals_weight_rtts_by_where_packets_go_and_sum_the_live_backlog():
    c = controller(4)
    c.estimators = [
        est(srtt=100.0, base=40.0, qd=30.0, backlog=1000.0, backlog_s=0.1),
        est(srtt=40.0, base=None, qd=0.0, backlog=500.0, backlog_s=0.3, congested=True),
        est(srtt=None, backlog=700.0, backlog_s=0.2),  # no RTT yet: counts for backlog only
        est(srtt=10.0, up=False, backlog=9e9, backlog_s=9.0, overloaded=True),
    ]
    s = c.signals([1.0, 3.0, 5.0, 7.0], 0.1)
    assert s.interval_s == 0.1
    assert s.rtt_ms == pytest.approx((100.0 + 3 * 40.0) / 4)
    assert s.rtt_min_ms == pytest.approx((40.0 + 3 * 40.0) / 4)  # no minimum: the smoothed RTT
    assert s.queue_delay_ms == pytest.approx(30.0 / 4)
    assert s.backlog_bytes == 2200.0 and s.backlog_s == 0.3
    assert s.congested and not s.overloaded  # the dead link's overload does not count
    s = c.signals([0.0, 0.0, 1.0, 1.0], 0.1)  # weight 0: not where packets go
    assert s.rtt_ms is None and s.rtt_min_ms is None and s.queue_delay_ms == 0.0
    assert s.overloaded is False
    s = c.signals([0.25, 0.25, 0.0, 0.0], 0.1)  # weights under 1 are weights all the same
    assert s.rtt_ms == pytest.approx(70.0) and s.queue_delay_ms == pytest.approx(15.0)
    c.estimators = [est(up=False), est(up=False), est(up=False), est(up=False)]
    assert c.signals([1.0] * 4, 0.1).backlog_s == 0.0
    c.estimators = [est(srtt=0.0, base=None), est(srtt=100.0, base=100.0, overloaded=True)]
    s = c.signals([1.0, 1.0], 0.1)  # an RTT of 0 ms counts as 0, not as unknown
    assert s.rtt_ms == 50.0 and s.rtt_min_ms == 50.0 and s.overloaded is True


def test_held_packets_expire_at_their_deadline_and_go_oldest_first_when_a_link_returns():
    c = controller(2)
    c.scheduler.set_weights([0.0, 0.0])
    for size, item, deadline in ((100, "z", 0.5), (100, "a", 1.0), (100, "b", 2.0), (100, "c", 3.0)):
        c.hold(size, item, deadline)
    assert c.release_held(1.0) == ([], 2)  # "z" is past, "a" due exactly now: dropped; the rest wait
    assert [i for _, _, i in c._held] == ["b", "c"]
    c.scheduler.set_weights([0.0, 1.0])
    assert c.release_held(1.5) == ([(1, "b"), (1, "c")], 0)
    assert not c._held


def test_release_begins_a_frame_for_each_held_packet_on_a_deadline_aware_scheduler():
    c = controller(2, "edpf")
    calls = []
    c.begin_frame = lambda now, deadline, iframe: calls.append((now, deadline, iframe))
    c.hold(100, "x", 2.0)
    c.hold(100, "y", 3.0)
    out, expired = c.release_held(1.0)
    assert calls == [(1.0, 2.0, False), (1.0, 3.0, False)] and expired == 0 and len(out) == 2


# -- the loop --------------------------------------------------------------------------------------------
class Tr:
    """A transport that records everything and reports every link delivering."""

    def __init__(self, n, truth=None, up=lambda i, t: True):
        self.n, self.sent, self.frames, self.weights, self.ticks = n, [], [], [], []
        self._truth, self.up = truth, up

    def frame(self, *args):
        self.frames.append(args)

    def send(self, link, burst):
        self.sent.append((link, burst))

    def stats(self, t):
        self.ticks.append(t)
        age = [0.0 if self.up(i, t) else t for i in range(self.n)]
        return [
            PeerStats(t, 50.0, 1e6, 10, 0, delivered_bps=3e6, evidence_age_s=age[i]) for i in range(self.n)
        ]

    def set_weights(self, weights):
        self.weights.append(list(weights))

    def truth(self, t):
        return self._truth(t) if self._truth else {}


def scenario(*over):
    """The seed case with the headroom rule these pins were written against (forecast: below)."""
    return load_scenario(
        SCENARIOS / "seed-asymmetric.yaml", ["duration_s=1", "bonding.rate_controller=headroom", *over]
    )


def test_loop_clock_frames_below_the_duration_ticks_up_to_it():
    loop = SenderLoop(scenario("duration_s=0.2"), "dwrr", Tr(2))
    assert loop.next_frame_t() == 0.0 and loop.next_tick_t() == pytest.approx(0.1)
    assert loop.next_due() == 0.0
    loop._n_frame, loop._n_tick = 6, 2
    assert loop.next_frame_t() is None  # 6 / 30 = 0.2 is the end, no frame there
    assert loop.next_tick_t() == pytest.approx(0.2)  # the last tick ends the run
    assert loop.next_due() == pytest.approx(0.2)
    loop._n_tick = 3
    assert loop.next_due() is None


def test_loop_step_runs_everything_due_in_time_order_ticks_before_frames_of_the_same_time():
    tr = Tr(2)
    loop = SenderLoop(scenario(), "dwrr", tr)
    order = []
    loop.on_tick = lambda t: order.append(("tick", round(t, 6)))
    loop.on_frame = lambda t: order.append(("frame", round(t, 6)))
    loop.step(0.1)
    assert order == [("frame", round(k / 30, 6)) for k in range(3)] + [("tick", 0.1), ("frame", 0.1)]
    loop.step(0.1)
    assert len(order) == 5  # nothing more is due


def test_loop_a_frame_more_than_stall_s_late_pauses_rate_decisions_for_stall_hold_s():
    loop = SenderLoop(scenario(), "dwrr", Tr(2))
    loop.on_frame = lambda t: None
    loop.step(STALL_S)  # frame 0 exactly STALL_S late: no stall
    assert loop._stall_until == float("-inf")
    loop = SenderLoop(scenario(), "dwrr", Tr(2))
    loop.on_frame = lambda t: None
    loop.step(0.0625)
    assert loop._stall_until == 0.0625 + STALL_HOLD_S


def test_loop_frame_goes_out_as_one_burst_per_link_with_its_deadline_and_sequence():
    tr = Tr(2)
    loop = SenderLoop(scenario("receiver.latency_ms=500"), "rr", tr)
    loop.step(0.0)  # the I-frame: 6 Mbps, 2 s GOP of 60 frames, I = 4 P: 1.5 MB x 4 / 63
    n = -(-95_238 // 1316)
    assert loop.record.frames == [(0, 0.0, True, n, 95_238)]
    assert tr.frames == [(0, 0.0, True, n, 95_238)]
    assert loop.record.frame_bitrates == [6_000_000]
    assert [link for link, _ in tr.sent] == [0, 1]  # round-robin: every other packet
    b0, b1 = tr.sent[0][1], tr.sent[1][1]
    assert b0.seqs == list(range(0, n, 2)) and b1.seqs == list(range(1, n, 2))
    assert b0.indices == b0.seqs and b0.first_seq == 0
    assert (b0.frame_id, b0.capture_t, b0.is_iframe, b0.n_packets, b0.frame_bytes) == (
        0,
        0.0,
        True,
        n,
        95_238,
    )
    assert b0.deadline == 0.5 and sum(b0.sizes) + sum(b1.sizes) == 95_238
    assert loop.record.packets_sent == n and loop._seq == n
    assert loop.record.link_bytes == [sum(b0.sizes), sum(b1.sizes)]
    loop.step(1 / 30)
    b = tr.sent[2][1]  # frame 1 on link 0: RR carried on, so its packet 0 went to link 1
    assert tr.sent[2][0] == 0 and b.first_seq == n and b.seqs[:2] == [n + 1, n + 3]
    assert b.indices[:2] == [1, 3] and b.deadline == pytest.approx(0.5 + 1 / 30)


def test_loop_a_frame_on_one_link_is_one_burst():
    tr = Tr(2)
    loop = SenderLoop(scenario(), "dwrr", tr)
    loop.controller.pick = lambda size: 1
    loop.step(0.0)
    ((link, b),) = tr.sent
    assert link == 1 and b.seqs == list(range(loop._seq)) and loop.record.link_bytes[0] == 0


def test_loop_weights_only_hands_the_whole_frame_over_and_sets_weights_each_tick():
    tr = Tr(2)
    loop = SenderLoop(scenario(), "srtla", tr, weights_only=True)
    assert loop.controller.scheduler_name == "dwrr"
    loop.step(0.1)
    assert [link for link, _ in tr.sent] == [None] * 4
    assert tr.sent[0][1].seqs == list(range(tr.sent[0][1].n_packets))
    assert loop.record.packets_sent == loop._seq and loop.record.link_bytes == [0, 0]
    assert tr.weights == [loop.controller.weights()]


def test_loop_tick_tells_the_controller_its_own_sent_bytes_and_starts_a_new_count():
    tr = Tr(2)
    loop = SenderLoop(scenario(), "rr", tr)
    seen = []
    on_stats = loop.controller.on_stats
    loop.controller.on_stats = lambda t, s, decide=True: seen.append((t, s, decide)) or on_stats(t, s, decide)
    for k in range(4):
        loop.step(k / 30)
    sent = [sum(sum(b.sizes) for li, b in tr.sent[:6] if li == k) for k in (0, 1)]  # frames 0-2
    t, samples, decide = seen[0]
    assert t == pytest.approx(0.1) and decide
    assert [s.sent_bytes for s in samples] == sent
    assert loop._interval_bytes == [sum(b.sizes) for _, b in tr.sent[-2:]]  # the frame at 0.1 s after it
    ticks = []
    loop.progress = ticks.append
    for k in (4, 5, 6):
        loop.step(k / 30)
    assert ticks == [pytest.approx(0.2)]
    assert seen[1][2] and [s.sent_bytes for s in seen[1][1]] == [
        sum(sum(b.sizes) for li, b in tr.sent[-8:-2] if li == k) for k in (0, 1)
    ]


def test_loop_records_one_row_per_link_per_tick_with_the_truth_columns_after():
    tr = Tr(2, truth=lambda t: {"true_bps": [1.0, 2.0], "q": [3, 4]})
    loop = SenderLoop(scenario("bonding.stats_interval_ms=50"), "dwrr", tr)
    loop.step(0.05 + 1e-7)
    rec = loop.record
    assert rec.columns == [*SenderLoop.COLUMNS, "true_bps", "q"]
    assert len(rec.rows) == 2
    ctl = loop.controller
    credits = ctl.scheduler.credits()
    for i, (row, e) in enumerate(zip(rec.rows, ctl.estimators, strict=True)):
        assert row[:2] == (0.05, i)  # the tick's weight and counted capacity are the estimator's now
        assert row[2:8] == (e.capacity_bps, e.counted_bps, e.health, e.weight, e.up, credits[i])
        assert row[8:] == (50.0, 1e6, e.delivered.value, 6_000_000, [1.0, 2.0][i], [3, 4][i])
    ts = rec.timeseries
    assert ts["link"] == [0, 1] and ts["q"] == [3, 4] and ts["t"] == [0.05, 0.05]
    no_truth = SenderLoop(scenario(), "dwrr", Tr(2))
    no_truth.step(0.1)
    assert no_truth.record.columns == list(SenderLoop.COLUMNS) and len(no_truth.record.rows[0]) == 12


def test_loop_records_what_the_forecast_controller_counts_per_link():
    """With the forecast rule the record's counted column is the forecast's, not the estimators'."""
    loop = SenderLoop(scenario("bonding.rate_controller=forecast"), "dwrr", Tr(2))
    ctl = loop.controller
    ctl.rate.observe = lambda t, samples, ests: [1.25e6, 2.5e6]
    ctl._observe_links = ctl.rate.observe
    loop.step(0.1 + 1e-7)
    assert [row[3] for row in loop.record.rows] == [1.25e6, 2.5e6]


def test_loop_sends_the_rate_controllers_message_to_the_encoder_and_the_record():
    tr = Tr(2)
    loop = SenderLoop(scenario("duration_s=4"), "dwrr", tr)
    asked = []
    loop.encoder.request_bitrate = lambda t, bps: asked.append((round(t, 6), bps))
    msg = CongestionControl(3.0, 4_000_000, 5e6, "congestion")
    loop.controller.on_stats = lambda t, s, decide=True: msg if t > 2.95 else None
    loop._n_tick = 30
    loop._n_frame = 90
    loop.step(3.0)
    assert asked == [(3.0, 4_000_000)]
    assert loop.record.messages == [msg.as_dict()]


def test_loop_duplicates_iframe_packets_onto_the_second_link_and_counts_them_apart():
    tr = Tr(2)
    loop = SenderLoop(scenario(), "redundant", tr)
    loop.step(0.0)  # I-frame: every packet on link 0, a copy of each on link 1
    (l0, b0), (l1, b1) = tr.sent
    assert (l0, l1) == (0, 1) and b0.seqs == b1.seqs
    rec = loop.record
    assert rec.duplicated == len(b1.seqs) and rec.overhead_bytes == sum(b1.sizes)
    assert rec.packets_sent == len(b0.seqs) and rec.reinjected == 0
    assert loop._interval_bytes == [sum(b0.sizes), sum(b1.sizes)]  # the copies load link 1 too
    assert rec.link_bytes == loop._interval_bytes
    loop.step(1 / 30)  # a P-frame: no copies
    assert rec.duplicated == len(b1.seqs)


def test_loop_copy_counts_as_reinjected_overhead_not_as_the_links_load():
    loop = SenderLoop(scenario(), "dwrr", Tr(2))
    b = Burst(0, 0.0, False, 2, 300, 0.8, 0, [0, 1], [100, 200])
    loop._send(1, b, copy=True)
    rec = loop.record
    assert (rec.reinjected, rec.overhead_bytes, rec.packets_sent, rec.duplicated) == (2, 300, 0, 0)
    assert rec.link_bytes == [0, 300] and loop._interval_bytes == [0, 0]
    assert list(loop._in_flight[1]) == [b]


def test_loop_reinjects_a_silent_links_live_bursts_past_what_its_reports_counted():
    tr = Tr(2)
    loop = SenderLoop(scenario("encoder.start_bitrate_bps=1000000"), "dwrr", tr)
    for e in loop.controller.estimators:
        e.capacity_bps = 5e6  # room to spare on link 1
    arrived = Burst(0, 0.0, False, 1, 70, 0.9, 3, [3], [70])
    live = Burst(0, 0.0, False, 2, 300, 0.9, 0, [0, 1], [100, 200])
    late = Burst(0, 0.0, False, 1, 50, 0.5, 2, [2], [50])
    for b in (arrived, late, live):
        loop._send(0, b)
    assert [b.link_end for b in (arrived, late, live)] == [70, 120, 420]
    tr.sent.clear()
    loop._reported[0] = 70  # the reports counted `arrived`, not a byte more
    loop.controller.scheduler.set_weights([0.0, 1.0])
    loop._reinject(0, 0.5)  # `late` is due exactly now: not copied
    assert [(li, b.seqs, b.sizes) for li, b in tr.sent] == [(1, [0, 1], [100, 200])]
    assert not loop._in_flight[0] and loop.record.reinjected == 2
    tr.sent.clear()
    loop._in_flight[0].append(live)
    loop._reported[0] = 420  # all of it arrived
    loop._reinject(0, 0.5)
    assert tr.sent == []
    loop._in_flight[0].append(live)
    loop._reported[0] = 70
    for e in loop.controller.estimators:
        e.capacity_bps = 1e6  # link 1 alone carries exactly the stream: no room for copies
    loop._reinject(0, 0.5)
    assert tr.sent == []


def test_loop_copies_only_while_the_other_used_links_carry_more_than_the_stream():
    """The room counted is capacity x health of the links still in use (weight > 0), the dead one
    aside; each copy begins a frame of its own (never an I-frame: copies are not duplicated)."""

    def reinject(others):
        loop = SenderLoop(scenario("encoder.start_bitrate_bps=1000000"), "dwrr", Tr(3))
        loop.controller.estimators = [est(cap=9e9), *others]
        calls = []
        loop.controller.begin_frame = lambda now, deadline, iframe: calls.append((now, deadline, iframe))
        loop.controller.pick = lambda size: 1
        loop._in_flight[0].append(Burst(0, 0.0, True, 1, 100, 0.9, 0, [0], [100], link_end=100))
        loop._reinject(0, 0.5)
        return loop.record.reinjected, calls

    assert reinject([est(weight=1.0, cap=2e6, health=0.5), est(weight=0.0, cap=9e9)]) == (0, [])
    assert reinject([est(weight=1.0, cap=2e6, health=0.6), est(weight=0.0)]) == (1, [(0.5, 0.9, False)])
    assert reinject([est(weight=0.5, cap=4e6, health=1.0), est(weight=0.0)])[0] == 1


def test_loop_copies_a_silent_links_bursts_whatever_room_the_others_show():
    """A link that went silent (SILENT_COPY_S without a report showing an arrival) holds what it
    was given in a hole: its bursts are copied even when the others' estimates show no room; one
    only backed up (reports still show arrivals) needs the room."""
    from bondlab.core.sender_loop import SILENT_COPY_S

    def reinject(age):
        loop = SenderLoop(scenario("encoder.start_bitrate_bps=1000000"), "dwrr", Tr(2))
        loop.controller.estimators = [est(cap=9e9, age=age), est(weight=1.0, cap=1e5)]
        loop.controller.pick = lambda size: 1
        loop._in_flight[0].append(Burst(0, 0.0, False, 1, 100, 0.9, 0, [0], [100], link_end=100))
        loop._reinject(0, 0.5)
        return loop.record.reinjected

    assert reinject(SILENT_COPY_S) == 1
    assert reinject(SILENT_COPY_S - 0.1) == 0


def test_loop_tick_keeps_the_latest_reported_byte_count_per_link():
    class Reports(Tr):
        def stats(self, t):
            counts = {0.1: [5, None], 0.2: [None, 7]}[round(t, 6)]
            return [replace(s, delivered_bytes=c) for s, c in zip(super().stats(t), counts)]

    loop = SenderLoop(scenario(), "dwrr", Reports(2))
    loop.on_tick(0.1)
    assert loop._reported == [5, 0]
    loop.on_tick(0.2)
    assert loop._reported == [5, 7]


def test_loop_drops_bursts_from_flight_once_their_deadline_passes():
    loop = SenderLoop(scenario("receiver.latency_ms=150"), "dwrr", Tr(2))
    loop.step(0.1)
    deadlines = [b.deadline for q in loop._in_flight for b in q]
    assert deadlines and min(deadlines) > 0.1
    loop.step(0.2)
    assert all(b.deadline > 0.2 for q in loop._in_flight for b in q)
    assert any(b.deadline == pytest.approx(0.2 + 0.15) for q in loop._in_flight for b in q)


def test_loop_a_link_zeroed_and_silent_for_a_quarter_second_is_reinjected_before_it_is_down():
    gone = lambda i, t: i == 1 or t < 0.3  # noqa: E731
    loop = SenderLoop(scenario("duration_s=2"), "dwrr", Tr(2, up=gone))
    calls = []
    loop._reinject = lambda dead, now: calls.append((dead, round(now, 6)))
    est0 = loop.controller.estimators[0]
    while (due := loop.next_due()) is not None and due <= 1.5:
        loop.step(due)
        if calls:
            break
    assert calls and calls[0][0] == 0
    assert est0.weight == 0 or est0.evidence_age_s >= 0.25
    assert loop._was_usable == [False, True]


@pytest.mark.parametrize(
    "up,weight,age,reinjected",
    [
        (False, 0.0, 0.1, True),  # down
        (True, 0.0, 1.0, True),  # zeroed and silent
        (True, 0.0, 0.25, True),  # silent for exactly SILENT_S
        (True, 1.0, 1.0, False),  # still weighted: in use
        (True, 0.5, 1.0, False),
    ],
)
def test_loop_reinjects_a_link_once_it_is_down_or_zeroed_and_silent(up, weight, age, reinjected):
    tr = Tr(2)
    tr.revived = lambda i: None
    loop = SenderLoop(scenario(), "dwrr", tr)
    loop.controller.on_stats = lambda t, samples, decide=True: None
    loop.controller.estimators = [est(up=up, weight=weight, age=age), est()]
    calls = []
    loop._reinject = lambda dead, now: calls.append((dead, now))
    loop.on_tick(0.1)
    assert calls == ([(0, 0.1)] if reinjected else [])
    assert loop._was_usable == [not reinjected, True] and loop._was_up == [up, True]
    loop.on_tick(0.2)
    assert len(calls) == int(reinjected)  # once, when it becomes unusable


def test_loop_a_revived_link_gets_weight_0_for_one_interval_while_its_flow_warms_up():
    tr = Tr(2)
    tr.revived = lambda i: tr.frames.append(("revived", i))
    loop = SenderLoop(scenario(), "dwrr", tr)
    loop.controller.on_stats = lambda t, samples, decide=True: None
    loop.controller.estimators = [est(up=False, weight=0.0), est(weight=1.0)]
    loop.on_tick(0.1)
    loop.controller.estimators[0] = est(up=True, weight=2.0)
    weights = []
    set_weights = loop.controller.scheduler.set_weights
    loop.controller.scheduler.set_weights = lambda w: weights.append(list(w)) or set_weights(w)
    loop.on_tick(0.2)
    assert tr.frames == [("revived", 0)] and weights == [[0.0, 1.0]]


def test_loop_tells_the_scheduler_each_frames_time_deadline_and_kind():
    tr = Tr(2)
    loop = SenderLoop(scenario("receiver.latency_ms=500"), "dwrr", tr, progress=None)
    calls = []
    loop.controller.begin_frame = lambda now, deadline, iframe: calls.append((now, deadline, iframe))
    loop.step(0.0)
    loop.step(0.05)
    assert calls == [(0.0, 0.5, True), (1 / 30, 1 / 30 + 0.5, False)]


def test_loop_copies_to_the_duplicate_link_only_what_other_links_carry():
    tr = Tr(2)
    loop = SenderLoop(scenario(), "dwrr", tr)
    loop.controller.begin_frame = lambda now, deadline, iframe: 1
    picks = iter([0, 1] * 100)
    loop.controller.pick = lambda size: next(picks)
    loop.step(0.0)
    (l0, own0), (l1, own1), (l2, copy) = [(li, b.seqs) for li, b in tr.sent]
    assert (l0, l1, l2) == (0, 1, 1)
    assert own0 == list(range(0, loop._seq, 2)) and own1 == list(range(1, loop._seq, 2))
    assert copy == own0  # a copy of what link 0 carries, none of link 1's own
    assert loop.record.duplicated == len(copy)


def test_loop_a_one_packet_frame_and_later_frames_keep_their_sequence_numbers():
    tr = Tr(2)
    loop = SenderLoop(
        scenario("encoder.start_bitrate_bps=200000", "encoder.min_bitrate_bps=100000"), "dwrr", tr
    )
    loop.controller.pick = lambda size: 1
    loop.step(0.0)
    loop.step(1 / 30)
    first, second = tr.sent[0][1], tr.sent[1][1]
    assert second.n_packets == 1 and second.seqs == [first.n_packets]  # 200 kbps: one packet a P-frame
    w = SenderLoop(scenario(), "dwrr", Tr(2), weights_only=True)
    w.step(0.0)
    w.step(1 / 30)
    a, b = w.transport.sent[0][1], w.transport.sent[1][1]
    assert b.seqs == list(range(a.n_packets, a.n_packets + b.n_packets))


def test_loop_send_counts_add_up_over_sends():
    loop = SenderLoop(scenario(), "dwrr", Tr(2))
    b = Burst(0, 0.0, False, 2, 300, 0.8, 0, [0, 1], [100, 200])
    for copy, dup in (
        (False, False),
        (False, False),
        (True, False),
        (True, False),
        (True, True),
        (True, True),
    ):
        loop._send(1, b, copy=copy, duplicate=dup)
    rec = loop.record
    assert (rec.packets_sent, rec.reinjected, rec.duplicated, rec.overhead_bytes) == (4, 4, 4, 1200)
    assert rec.link_bytes == [0, 1800] and loop._interval_bytes == [0, 1200]


def test_loop_stall_hold_ends_exactly_stall_hold_s_after_the_late_step():
    loop = SenderLoop(scenario("duration_s=2", "bonding.stats_interval_ms=125"), "dwrr", Tr(2))
    seen = {}
    on_stats = loop.controller.on_stats

    def spy(t, samples, decide=True):
        seen[t] = decide
        return on_stats(t, samples, decide)

    loop.controller.on_stats = spy
    loop.step(0.25)  # frame 0 a quarter second late: decisions wait until 1.25 s
    while (due := loop.next_due()) is not None and due <= 1.5:
        loop.step(due)
    assert seen[1.125] is False and seen[1.25] is True


def test_loop_a_burst_leaves_flight_at_the_tick_of_its_deadline():
    loop = SenderLoop(scenario(), "dwrr", Tr(2))
    loop.controller.on_stats = lambda t, samples, decide=True: None
    loop.controller.estimators = [est(), est()]
    due, later = (Burst(0, 0.0, False, 1, 100, d, 0, [0], [100]) for d in (0.5, 0.5000001))
    loop._in_flight[0].extend([due, later])
    loop.on_tick(0.5)
    assert list(loop._in_flight[0]) == [later]


def test_loop_checks_the_transports_stats_and_truth_against_its_links():
    tr = Tr(2)
    tr.stats = lambda t: [PeerStats(t, 50.0, 1e6, 10, 0)]
    with pytest.raises(ValueError):
        SenderLoop(scenario(), "rr", tr).on_tick(0.1)
    seen = []
    loop = SenderLoop(scenario(), "rr", Tr(2, truth=lambda t: seen.append(t) or {"x": [1, 2]}))
    samples = loop.transport.stats(0.1234567)
    loop._record(0.1234567, samples)
    assert seen == [0.1234567] and loop.record.rows[0][0] == 0.123457  # rows round to the microsecond
    with pytest.raises(ValueError):
        loop._record(0.2, samples[:1])


def test_loop_calls_the_progress_callback_it_was_built_with():
    ticks = []
    loop = SenderLoop(scenario(), "rr", Tr(2), progress=ticks.append)
    loop.step(0.05)
    loop.step(0.1)
    assert ticks == [pytest.approx(0.1)]


def test_record_round_trips_through_a_dict():
    rec = SenderRecord(
        [(0, 0.0, True, 2, 2000)], [6_000_000], [1500, 500], 2, 1, 3, [{"t": 1.0}], ["t", "link"],
        [(0.1, 0), (0.1, 1)], 4, 900,
    )  # fmt: skip
    d = rec.as_dict()
    assert d == {
        "frames": [(0, 0.0, True, 2, 2000)], "frame_bitrates": [6_000_000], "link_bytes": [1500, 500],
        "packets_sent": 2, "dropped_at_sender": 1, "reinjected": 3, "duplicated": 4,
        "overhead_bytes": 900, "messages": [{"t": 1.0}],
    }  # fmt: skip
    back = SenderRecord.from_dict(d, rec.timeseries)
    assert back == rec
    old = {k: v for k, v in d.items() if k not in ("reinjected", "duplicated", "overhead_bytes")}
    back = SenderRecord.from_dict(old)
    assert (back.reinjected, back.duplicated, back.overhead_bytes, back.columns, back.rows) == (
        0,
        0,
        0,
        [],
        [],
    )
    assert SenderRecord(columns=["a", "b"]).timeseries == {"a": [], "b": []}
