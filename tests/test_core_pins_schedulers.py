"""Pins for the feedback schedulers (issue 9): each rule of minRTT, BLEST, EDPF, the queue model
they share, redundant sending and srtla at its edge, with numbers chosen so the model's
arithmetic is exact (a capacity of 8 Mbps drains 10^6 bytes per second)."""

import math

import pytest

from bondlab.core.schedulers import LinkFeedback
from bondlab.core.schedulers.blest import Blest
from bondlab.core.schedulers.dwrr import DeficitWeightedRoundRobin
from bondlab.core.schedulers.edpf import Edpf
from bondlab.core.schedulers.minrtt import MIN_CWND_PACKETS, MSS_BYTES, MinRtt
from bondlab.core.schedulers.queue_model import DEFAULT_RATE_BPS, DEFAULT_RTT_S, FLOOR_BPS, QueueModel
from bondlab.core.schedulers.redundant import Redundant
from bondlab.core.schedulers.rr import RoundRobin
from bondlab.core.schedulers.srtla import (
    PKT_LOG_SZ,
    WINDOW_DEF,
    WINDOW_MAX,
    WINDOW_MIN,
    WINDOW_MULT,
    Srtla,
)
from bondlab.schedulers import SCHEDULERS, make_scheduler, scheduler_names


def fb(rtt=50.0, cap=8e6, backlog=0.0, up=True, health=1.0, acked=0.0, naks=0, base=None):
    return LinkFeedback(rtt, rtt if base is None else base, cap, cap, backlog, acked, naks, up, health)


# -- queue model ---------------------------------------------------------------------------------------
def test_queue_model_starts_alike_on_every_link_before_feedback():
    m = QueueModel(2)
    assert m.live == [True, True] and m.any_live
    assert m.queued == [0.0, 0.0]
    assert m.rate == [DEFAULT_RATE_BPS / 8] * 2
    assert m.srtt == m.base_rtt == [DEFAULT_RTT_S] * 2
    assert m.owd == [DEFAULT_RTT_S / 2] * 2
    assert m.has_rtt == [False, False] and not m.observed
    assert m.now == 0.0 and m.budget == math.inf
    assert not QueueModel(0).any_live and QueueModel(1).any_live


def test_queue_model_weights_are_the_rate_hint_only_until_feedback_arrives():
    m = QueueModel(3)
    with pytest.raises(ValueError, match="expected 3 weights, got 2"):
        m.set_weights([1.0, 1.0])
    m.set_weights([8e6, 1.0, 0.0])
    assert m.live == [True, True, False] and m.any_live
    assert m.rate == [1e6, FLOOR_BPS / 8, FLOOR_BPS / 8]  # never below the estimator's floor
    m.set_weights([0.0, 0.0, 0.0])
    assert not m.any_live
    m.observe(1.0, [fb(cap=16e6), fb(cap=8e6), fb(cap=8e6)])
    m.set_weights([80e6, 80e6, 80e6])  # after feedback the weights say who is live, nothing more
    assert m.rate == [2e6, 1e6, 1e6]


def test_queue_model_observe_takes_backlog_rate_and_base_rtt_and_keeps_an_unknown_rtt():
    m = QueueModel(3)
    no_min = LinkFeedback(60.0, None, 8e6, None, 0.0, 0.0, 0, True, 1.0)
    m.observe(2.0, [fb(rtt=80.0, base=40.0, backlog=3000.0), fb(rtt=None, cap=10.0), no_min])
    assert m.observed and m.now == 2.0
    assert m.queued == [3000.0, 0.0, 0.0]
    assert m.rate == [1e6, FLOOR_BPS / 8, 1e6]
    assert m.has_rtt == [True, False, True]
    assert m.srtt == [0.08, DEFAULT_RTT_S, 0.06]
    assert m.base_rtt == [0.04, DEFAULT_RTT_S, 0.06]  # no minimum: the smoothed RTT stands in
    assert m.owd == [0.02, DEFAULT_RTT_S / 2, 0.03]


def test_queue_model_ages_queues_at_their_rate_never_below_zero_and_never_backwards():
    m = QueueModel(2)
    m.observe(1.0, [fb(backlog=50_000.0), fb(backlog=5_000.0)])
    m.age(1.01, 1.5)  # 10 ms at 10^6 bytes/s: 10,000 bytes each
    assert m.queued == pytest.approx([40_000.0, 0.0])
    assert m.queued[1] == 0.0 and m.now == 1.01
    assert m.budget == pytest.approx(0.49)
    m.age(1.0, 1.2)  # a time before the last one drains nothing, moves no clock
    assert m.queued == pytest.approx([40_000.0, 0.0]) and m.now == 1.01
    assert m.budget == pytest.approx(0.2)  # the budget counts from the time given
    m.age(1.01, 1.3)
    assert m.queued == pytest.approx([40_000.0, 0.0])
    assert m.arrival_s(0, 1000) == pytest.approx(41_000 / 1e6 + 0.025)


# -- minRTT ----------------------------------------------------------------------------------------------
def minrtt(links, cls=MinRtt, **kw):
    s = cls(len(links), **kw)
    s.set_weights([f.capacity_bps if f.up else 0.0 for f in links])
    s.observe(0.0, links)
    s.begin_frame(0.0, 0.8, False)
    return s


def test_minrtt_window_is_a_bdp_per_cwnd_above_one_at_least_ten_packets():
    s = minrtt([fb(rtt=50.0), fb(rtt=50.0, cap=1e6)])
    assert s._room == [50_000.0, MIN_CWND_PACKETS * MSS_BYTES]  # 10^6 B/s x 50 ms; 15,000 B floor
    s3 = minrtt([fb(rtt=50.0)], cwnd_bdp=3.0)
    assert s3._room == [100_000.0]
    assert MinRtt(2)._room == [15_000.0, 15_000.0]  # before feedback: the floor
    assert s.credits() == [0.0, 0.0] and s.begin_frame(0.0, 1.0, True) is None


def test_minrtt_fills_the_lowest_rtt_link_up_to_exactly_its_window_then_the_next():
    s = minrtt([fb(rtt=80.0, base=50.0), fb(rtt=50.0)])
    picks = [s.pick(1000) for _ in range(51)]
    assert picks == [1] * 50 + [0]  # 50 x 1000 B is exactly the 50,000 B window: still room
    assert s.model.queued == [1000.0, 50_000.0]


def test_minrtt_ranks_links_without_an_rtt_last_and_ties_by_index():
    s = minrtt([fb(rtt=None), fb(rtt=90.0), fb(rtt=90.0)])
    assert s._order == [1, 2, 0]
    assert s.pick(1000) == 1


def test_minrtt_never_picks_a_dead_link_and_returns_none_when_none_lives():
    s = minrtt([fb(rtt=10.0, up=False), fb(rtt=90.0)])
    assert {s.pick(1000) for _ in range(100)} == {1}
    s.set_weights([0.0, 0.0])
    assert s.pick(1000) is None


def test_minrtt_overflow_goes_to_the_link_its_packet_overfills_least():
    # windows: 10^6 B/s x 20 ms = 20,000 B and x 40 ms = 40,000 B; both full
    s = minrtt([fb(rtt=20.0, backlog=21_000.0), fb(rtt=40.0, backlog=42_000.0)])
    assert s.pick(1000) == 1  # 43,000 / 40,000 < 22,000 / 20,000 (without the packet: the other way)
    assert s.model.queued == [21_000.0, 43_000.0]
    s = minrtt([fb(rtt=20.0, backlog=50_000.0), fb(rtt=40.0, backlog=45_000.0)])
    assert s.pick(1000) == 1  # 46,000 / 40,000 < 51,000 / 20,000
    s = minrtt([fb(rtt=20.0, backlog=39_000.0), fb(rtt=40.0, backlog=79_000.0)])
    assert s.pick(1000) == 0  # both exactly twice over: the first in RTT order wins the tie


def test_minrtt_window_refreshes_with_new_weights_before_feedback():
    s = MinRtt(1)
    s.set_weights([16e6])  # 2 x 10^6 B/s x the 0.1 s default RTT
    assert s._room == [200_000.0]


# -- BLEST -----------------------------------------------------------------------------------------------
def test_blest_takes_the_fast_link_while_it_has_room():
    s = minrtt([fb(rtt=20.0), fb(rtt=60.0)], cls=Blest)
    assert [s.pick(1000) for _ in range(20)] == [0] * 20  # 20,000 B window on the 20 ms link


def test_blest_spills_to_a_slow_link_only_where_the_packet_lands_first():
    # fast link full (30,000 B queued at 10^6 B/s + 10 ms) vs slow empty (10^6 B/s, 30 ms one way)
    s = minrtt([fb(rtt=20.0, backlog=30_000.0), fb(rtt=60.0)], cls=Blest)
    assert s.pick(1000) == 1  # 0.001 + 0.03 < 0.031 + 0.01
    s = minrtt([fb(rtt=20.0, backlog=30_000.0), fb(rtt=60.0)], cls=Blest, lam=1.5)
    assert s.pick(1000) == 0  # lambda 1.5: 0.0465 is later than 0.041: wait for the fast link
    assert s.model.queued == [31_000.0, 0.0]
    s = minrtt([fb(rtt=20.0, backlog=19_500.0), fb(rtt=60.0)], cls=Blest)
    assert s.pick(1000) == 0  # full, but 0.0205 + 0.01 is earlier than the slow link's 0.031
    s = minrtt([fb(rtt=20.0, backlog=30_000.0), fb(rtt=60.0, backlog=60_000.0)], cls=Blest)
    assert s.pick(1000) == 0  # the slow link's window is full too


def test_blest_skips_dead_links_and_returns_none_when_none_lives():
    s = minrtt([fb(rtt=10.0, up=False), fb(rtt=20.0, backlog=30_000.0), fb(rtt=60.0)], cls=Blest)
    assert s.pick(1000) == 2
    s.set_weights([0.0, 0.0, 0.0])
    assert s.pick(1000) is None
    assert Blest(2).lam == 1.0


def test_blest_window_edges_on_the_fast_and_the_slow_link():
    # the slow link by RTT has the lower base delay: 10 ms base, 5 ms one way, 15,000 B window
    slow = fb(rtt=60.0, base=10.0)
    s = minrtt([fb(rtt=20.0, backlog=19_000.0), slow], cls=Blest)
    assert s.pick(1000) == 0  # fills the fast window exactly: still the fast link's
    s = minrtt([fb(rtt=20.0, backlog=20_500.0), slow], cls=Blest)
    assert s.pick(1000) == 1  # fast full (by less than a packet): the slow link lands first
    s = minrtt([fb(rtt=20.0, backlog=30_000.0), fb(rtt=60.0, base=10.0, backlog=14_000.0)], cls=Blest)
    assert s.pick(1000) == 1  # fills the slow window exactly, lands at 0.02 before 0.041
    s = minrtt([fb(rtt=20.0, backlog=30_000.0), fb(rtt=60.0, base=10.0, backlog=15_500.0)], cls=Blest)
    assert s.pick(1000) == 0  # the slow window is full too


def test_blest_a_slow_link_landing_at_the_same_time_is_not_used():
    # no base delay: arrival is queue / rate; lambda 2 makes 8,000 B on the slow link land with 16,000
    links = [fb(rtt=10.0, base=0.0, backlog=15_000.0), fb(rtt=20.0, base=0.0, backlog=7_000.0)]
    assert minrtt(links, cls=Blest, lam=2.0).pick(1000) == 0
    links[1] = fb(rtt=20.0, base=0.0, backlog=6_999.0)
    assert minrtt(links, cls=Blest, lam=2.0).pick(1000) == 1


def test_blest_passes_its_window_size_on():
    s = minrtt([fb(rtt=50.0)], cls=Blest, cwnd_bdp=3.0)
    assert s.cwnd_bdp == 3.0 and s._room == [100_000.0]


# -- EDPF ------------------------------------------------------------------------------------------------
def edpf(links, drop_late=True, deadline=0.8):
    s = Edpf(len(links), drop_late)
    s.set_weights([f.capacity_bps if f.up else 0.0 for f in links])
    s.observe(0.0, links)
    assert s.begin_frame(0.0, deadline, False) is None
    return s


def test_edpf_sends_each_packet_where_it_arrives_first_counting_its_own_picks():
    s = edpf([fb(rtt=40.0, backlog=25_000.0), fb(rtt=80.0)])
    # link 0: 0.026 + 0.02; link 1: 0.001 + 0.04: link 1, until its own queue makes it later
    picks = [s.pick(1000) for _ in range(8)]
    assert picks[0] == 1 and picks.count(0) > 0
    assert s.model.queued[0] + s.model.queued[1] == 25_000.0 + 8000.0
    assert s.credits() == [0.0, 0.0]


def test_edpf_equal_arrivals_go_to_the_lower_index_and_dead_links_get_nothing():
    s = edpf([fb(), fb()])
    assert s.pick(1000) == 0
    s = edpf([fb(up=False), fb()])
    assert s.pick(1000) == 1
    s.set_weights([0.0, 0.0])
    assert s.pick(1000) is None


def test_edpf_drops_a_packet_arriving_after_the_deadline_but_not_one_arriving_at_it():
    arrival = 1000 / 1e6 + 0.025
    assert edpf([fb()], deadline=arrival).pick(1000) == 0
    late = edpf([fb()], deadline=arrival - 1e-6)
    assert late.pick(1000) is None and late.model.queued == [0.0]
    assert edpf([fb()], drop_late=False, deadline=arrival - 1e-6).pick(1000) == 0
    assert Edpf(1).drop_late


# -- redundant -------------------------------------------------------------------------------------------
def test_redundant_pairs_the_healthiest_links_then_the_biggest_then_by_index():
    assert Redundant(2)._pair == (0, 1) and Redundant(1)._pair is None
    assert Redundant(2).begin_frame(0.0, 0.8, True) == 1  # before any weights: links 0 and 1
    d = Redundant(2).inner
    assert (d.quantum_bytes, d.max_credit_quanta) == (1500, 2.0)
    s = Redundant(4)
    s.observe(0.0, [fb(health=0.2), fb(health=0.9), fb(health=1.0), fb(health=0.1)])
    assert s._pair == (2, 1)  # feedback before any weights: every link counts as live
    s = Redundant(4)
    s.set_weights([1.0, 4.0, 2.0, 3.0])  # no feedback yet: weights rank
    assert s._pair == (1, 3)
    s.observe(0.0, [fb(health=0.5), fb(health=0.9, cap=2e6), fb(health=0.9, cap=5e6), fb(health=1.0)])
    assert s._pair == (3, 2)
    s.observe(0.0, [fb(health=1.0), fb(health=1.0), fb(health=1.0), fb(health=1.0)])
    assert s._pair == (0, 1)  # all alike: the lower indices
    s.set_weights([1.0, 0.0, 0.0, 1.0])
    assert s._pair == (0, 3)  # weight 0 is never in the pair
    s.set_weights([1.0, 0.0, 0.0, 0.0])
    assert s._pair is None


def test_redundant_duplicates_iframes_only_unless_every_packet():
    s = Redundant(2)
    s.set_weights([1.0, 1.0])
    assert s.begin_frame(0.0, 0.8, True) == 1
    assert [s.pick(1316) for _ in range(5)] == [0] * 5
    assert s.begin_frame(0.0, 0.8, False) is None
    every = Redundant(2, every_packet=True)
    every.set_weights([1.0, 1.0])
    assert every.begin_frame(0.0, 0.8, False) == 1 and every.pick(1316) == 0
    every.set_weights([1.0, 0.0])
    assert every.begin_frame(0.0, 0.8, True) is None  # one live link: nothing to duplicate on


def test_redundant_splits_the_other_packets_exactly_as_dwrr():
    s, ref = Redundant(3, 1000, 3.0), DeficitWeightedRoundRobin(3, 1000, 3.0)
    for x in (s, ref):
        x.set_weights([3.0, 1.0, 2.0])
    s.begin_frame(0.0, 0.8, False)
    sizes = [1316, 200, 1316, 700, 1316] * 8
    assert [s.pick(n) for n in sizes] == [ref.pick(n) for n in sizes]
    assert s.credits() == ref.credits()


# -- srtla -----------------------------------------------------------------------------------------------
def srtla(n=2, picks=0, size=1000, **kw):
    s = Srtla(n, **kw)
    s.set_weights([1.0] * n)
    for _ in range(picks):
        s.pick(size)
    return s


def test_srtla_starts_at_the_default_window_and_picks_the_best_window_per_flight():
    s = srtla(3)
    assert s.window == [WINDOW_DEF * WINDOW_MULT] * 3 and s.in_flight == [0, 0, 0]
    assert [s.pick(1000) for _ in range(6)] == [0, 1, 2, 0, 1, 2]  # ties to the lower index
    s.window[2] = 40_000  # 40,000 / 3 beats 20,000 / 3
    assert s.pick(1000) == 2
    assert s.in_flight == [2, 2, 3] and s._picked == [2, 2, 3] and s._picked_bytes == 7000
    with pytest.raises(ValueError, match="expected 3 weights, got 1"):
        s.set_weights([1.0])
    s.set_weights([0.0, 1.0, 0.0])
    assert {s.pick(1000) for _ in range(5)} == {1}
    s.set_weights([0.0, 0.0, 0.0])
    assert s.pick(1000) is None
    assert s.begin_frame(0.0, 1.0, True) is None and s.credits() == [0.0, 0.0, 0.0]


def test_srtla_score_is_the_window_over_in_flight_plus_one():
    s = Srtla(2)  # live before any weights
    assert s.pick(1000) == 0
    s.window, s.in_flight = [20_000, 50_000], [0, 2]
    assert s.pick(1000) == 0  # 20,000 / 1 beats 50,000 / 3 (not so over flight + 2)


def test_srtla_ack_grows_the_window_only_while_more_than_a_window_is_in_flight():
    s = srtla(picks=60, reorder_naks=False)  # 30 in flight each
    s.observe(0.1, [fb(acked=5000.0, backlog=1e6), fb(backlog=1e6)])
    # link 0: five ACKs, each with 29..25 packets (> 20 windows) still in flight: +29 each;
    # every ACK on any link adds 1 to each link
    assert s.window == [20_000 + 5 * 29 + 5, 20_000 + 5]
    assert s.in_flight == [25, 30]
    s = srtla(picks=42, reorder_naks=False)  # 21 in flight each
    s.observe(0.1, [fb(acked=1000.0, backlog=1e6), fb(backlog=1e6)])
    assert s.window == [20_001, 20_001]  # 20 in flight is not more than a 20-packet window


def test_srtla_acks_are_reported_bytes_over_the_mean_packet_rounded_and_none_from_a_dead_link():
    s = srtla(picks=4, size=1000, reorder_naks=False)
    s.observe(0.1, [fb(acked=1499.0, backlog=1e6), fb(acked=1500.0, backlog=1e6)])
    assert s.window == [20_003, 20_003]  # 1 + 2 ACKs
    s = srtla(picks=4, size=500, reorder_naks=False)
    s.observe(0.1, [fb(acked=1000.0, backlog=1e6), fb(acked=5000.0, up=False)])
    assert s._packet_bytes == 500.0
    assert s.window == [20_002, WINDOW_MIN * WINDOW_MULT]  # the dead link's bytes are no ACKs
    assert s.in_flight == [0, 0]
    s = srtla(picks=4, size=500, reorder_naks=False)
    s.observe(0.1, [fb(acked=5000.0, up=False), fb(acked=1000.0, backlog=1e6)])
    assert s.window == [WINDOW_MIN * WINDOW_MULT, 20_002]  # a dead link first: the others still count
    s2 = srtla()
    s2.observe(0.1, [fb(acked=2632.0), fb()])
    assert s2._packet_bytes == 1316.0 and s2.window == [20_002, 20_002]  # no picks: the default size


def test_srtla_naks_cost_a_tenth_of_a_packet_down_to_the_minimum_and_the_window_caps_at_60():
    s = srtla(reorder_naks=False)
    s.observe(0.1, [fb(naks=3), fb(naks=500)])
    assert s.window == [20_000 - 300, WINDOW_MIN * WINDOW_MULT]
    s.window[0] = 59_990
    s.observe(0.2, [fb(acked=20 * 1316.0), fb()])
    assert s.window[0] == WINDOW_MAX * WINDOW_MULT


def test_srtla_in_flight_is_capped_by_backlog_plus_this_intervals_picks_and_the_log():
    s = srtla(picks=10, reorder_naks=False)
    s.observe(0.1, [fb(backlog=1e6), fb(backlog=1e6)])
    assert s.in_flight == [5, 5]
    assert s._picked == [0, 0] and s._picked_bytes == 0 and s._last_t == 0.1
    s.observe(0.2, [fb(backlog=2500.0), fb(backlog=0.0)])
    assert s.in_flight == [3, 0]  # ceil(2500 / 1000) and nothing: no picks this interval
    for _ in range(4):
        s.pick(1000)
    assert s._picked == [1, 3]  # the emptier link 1 scores best until it holds 3
    s.observe(0.3, [fb(backlog=0.0), fb(backlog=0.0)])
    assert s.in_flight == [1, 3]  # this interval's own picks are in flight whatever the backlog
    s = Srtla(1, reorder_naks=False)
    s.set_weights([1.0])
    for _ in range(600):
        s.pick(1000)
    s.observe(0.1, [fb(backlog=1e7)])
    assert s.in_flight == [PKT_LOG_SZ]


def test_srtla_naks_the_picks_of_a_link_slower_than_the_fastest_by_more_than_the_spacing():
    def run(rtts, picks=20, t=0.1, **kw):
        s = srtla(picks=picks, **kw)
        s.observe(t, [fb(rtt=r, backlog=1e6) if r is not None else fb(rtt=None, backlog=1e6) for r in rtts])
        return s.window

    # 20 picks in 0.1 s: 5 ms apart; the 100 ms link is 30 ms later one way: its 10 picks NAKed
    assert run([40.0, 100.0]) == [20_000, 20_000 - 10 * 100]
    assert run([40.0, 100.0], picks=2) == [20_000, 20_000]  # 50 ms apart: no gap seen
    assert run([40.0, 100.0], reorder_naks=False) == [20_000, 20_000]
    assert run([40.0, None]) == [20_000, 20_000]  # one RTT known: nothing to compare
    # 4 picks in 0.125 s: 31.25 ms apart, the one-way gap exactly that: no NAK; a bit more: NAKs
    assert run([125.0, 187.5], picks=4, t=0.125) == [20_000, 20_000]
    assert run([125.0, 188.0], picks=4, t=0.125) == [20_000, 20_000 - 2 * 100]
    assert run([125.0, 187.52], picks=4, t=0.125) == [20_000, 20_000 - 2 * 100]  # RTT / 2: one way
    s = srtla(reorder_naks=True)
    s.observe(1.0, [fb(rtt=125.0), fb(rtt=188.0)])
    for _ in range(4):
        s.pick(1000)
    s.observe(1.125, [fb(rtt=125.0, backlog=1e6), fb(rtt=188.0, backlog=1e6)])
    assert s.window == [20_000, 20_000 - 2 * 100]  # spacing over the time since the last tick
    s = srtla(picks=2)
    s.observe(0.1, [fb(rtt=40.0), fb(rtt=100.0, up=False)])
    assert s.window == [20_000, WINDOW_MIN * WINDOW_MULT]  # a dead link's RTT is not compared
    s = srtla(picks=2)
    s._last_t = 0.1  # no time passed: the picks count as 1 ms apart, and 0.25 ms is less
    s.observe(0.1, [fb(rtt=40.0, backlog=1e6), fb(rtt=40.5, backlog=1e6)])
    assert s.window == [20_000, 20_000]


def test_srtla_no_picks_means_no_reorder_naks():
    s = srtla()
    s.observe(0.1, [fb(rtt=10.0), fb(rtt=500.0)])
    assert s.window == [20_000, 20_000]


# -- round robin and the registry ------------------------------------------------------------------------
def test_round_robin_rotates_over_every_link_whatever_the_weights():
    s = RoundRobin(3)
    s.set_weights([0.0, 0.0, 1.0])
    assert [s.pick(1000) for _ in range(7)] == [0, 1, 2, 0, 1, 2, 0]
    assert s.credits() == [0.0, 0.0, 0.0]


def test_registry_builds_each_scheduler_with_the_quantum_and_credit_cap_it_was_given():
    d = make_scheduler("dwrr", 2, 3000, 4.0)
    assert isinstance(d, DeficitWeightedRoundRobin) and (d.quantum_bytes, d.max_credit_quanta) == (3000, 4.0)
    d = make_scheduler("dwrr", 2)
    assert (d.quantum_bytes, d.max_credit_quanta) == (1500, 2.0)
    w = make_scheduler("rist-weighted", 2, 3000, 4.0)
    assert isinstance(w, DeficitWeightedRoundRobin) and w.quantum_bytes == 3000
    r = make_scheduler("redundant", 3, 3000, 4.0)
    assert isinstance(r, Redundant) and not r.every_packet
    assert (r.inner.quantum_bytes, r.inner.max_credit_quanta, r.n_links) == (3000, 4.0, 3)
    assert make_scheduler("redundant-all", 2).every_packet
    o = make_scheduler("oracle", 3, 3000, 4.0)  # the sim's oracle: DWRR until the truth is attached
    assert (o._fallback.quantum_bytes, o._fallback.max_credit_quanta, o.n_links) == (3000, 4.0, 3)
    kinds = {"rr": RoundRobin, "minrtt": MinRtt, "edpf": Edpf, "blest": Blest, "srtla": Srtla}
    for name, cls in kinds.items():
        s = make_scheduler(name, 3)
        assert type(s) is cls and s.n_links == 3
    with pytest.raises(ValueError, match=r"unknown scheduler 'nope' \(choose from rr, dwrr, "):
        make_scheduler("nope", 2)


def test_registry_backends_and_names():
    assert "oracle" in scheduler_names() and "rist-weighted" not in scheduler_names("sim")
    assert "rist-weighted" in scheduler_names("real") and "oracle" not in scheduler_names("real")
    assert scheduler_names("real") == [n for n, i in SCHEDULERS.items() if "real" in i.backends]
    assert SCHEDULERS["rr"].backends == ("sim", "real") and SCHEDULERS["oracle"].backends == ("sim",)
    assert all(i.description for i in SCHEDULERS.values())
    assert len({i.color for i in SCHEDULERS.values()}) == len(SCHEDULERS)
    assert [i.display for i in SCHEDULERS.values()][:2] == ["Round-robin", "DWRR"]
