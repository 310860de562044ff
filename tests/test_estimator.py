"""LinkEstimator rules, one test each; every test fails if its rule is switched off."""

import dataclasses

import pytest

from bondlab.core.bonding import BondingController
from bondlab.core.estimator import EstimatorParams, LinkEstimator
from bondlab.core.stats import PeerStats

DT = 0.1


def sample(t, sent_bps, delivered_bps, rtt_ms=50.0, age=0.05):
    """One interval as the sender sees it: what it sent, what the receiver reported, an echo RTT."""
    return PeerStats(
        t=t,
        rtt_ms=rtt_ms,
        bandwidth_bps=sent_bps,
        sent=100,
        retransmitted=0,
        delivered_bps=delivered_bps,
        sent_bytes=int(sent_bps * DT / 8),
        evidence_age_s=age,
    )


def feed(est, t0, n, sent_bps, delivered_bps, rtt=50.0, age=0.05):
    """n intervals from t0; `rtt` may be a function of the step index. Returns the next time."""
    for i in range(n):
        r = rtt(i) if callable(rtt) else rtt
        est.update(sample(round(t0 + i * DT, 6), sent_bps, delivered_bps, r, age))
    return round(t0 + n * DT, 6)


def test_probe_grows_an_app_limited_estimate_above_the_sent_rate_up_to_the_cap():
    """Queue flat: the estimate grows past what was sent (2 Mbps), but not past 1.5x it."""
    p = EstimatorParams()
    est = LinkEstimator(p, 2_000_000)
    feed(est, DT, 100, 2_000_000, 2_000_000)
    assert est.capacity_bps > 2_000_000 * 1.3
    assert est.capacity_bps <= 2_000_000 * (1 + p.probe_cap) + 1


def test_after_a_cut_the_probe_may_reach_back_to_what_the_link_delivered_when_saturated():
    """A link cut while the bond moved its load away is offered little afterwards: its estimate
    capped at 1.5x that trickle would keep its small share for good (two app-limited links keep
    any split). What it delivered when saturated is evidence of its capacity: once its queue
    drained, the probe may grow back to (1 - backoff) x that at once."""
    p = EstimatorParams()
    est = LinkEstimator(p, 10_000_000)
    t = feed(est, DT, 20, 4_000_000, 4_000_000)
    t = feed(est, t, 20, 4_000_000, 4_000_000, rtt=lambda i: 100.0 + 2 * i)  # saturated at 4 Mbps
    assert est.ceiling is not None and est.capacity_bps <= (1 - p.backoff) * 4_000_000 + 1
    t = feed(est, t, 1, 1_000_000, 4_000_000)  # the scheduler now gives it 1 Mbps (reports lag)
    feed(est, t, 30, 1_000_000, 1_000_000)
    assert est.capacity_bps == pytest.approx((1 - p.backoff) * 4_000_000, rel=0.02)
    assert est.capacity_bps > 1_000_000 * (1 + p.probe_cap) * 1.5


def test_a_saturated_links_noisy_peaks_do_not_raise_its_ceiling():
    """A saturated link's 0.3 s delivery samples scatter around its capacity; the best of them is
    no new ceiling unless the smoothed rate also got there (else counted drifts above the truth)."""
    p = EstimatorParams()
    est = LinkEstimator(p, 10_000_000)
    t = feed(est, DT, 20, 4_000_000, 4_000_000)
    t = feed(est, t, 20, 4_000_000, 4_000_000, rtt=lambda i: 100.0 + 2 * i)  # saturated at 4 Mbps
    assert est.ceiling is not None
    for i in range(30):  # 4 Mbps on average, every third sample 8 % high
        dl = 4_240_000 if i % 3 == 0 else 3_880_000
        est.update(sample(round(t + i * DT, 6), 4_000_000, dl, 65.0))  # a queue: still saturated
    assert est.ceiling[1] <= 4_000_000 * 1.01
    t = round(t + 30 * DT, 6)
    feed(est, t, 30, 5_000_000, 5_000_000)  # it really delivers more now: the ceiling follows
    assert est.ceiling is None or est.ceiling[1] > 4_500_000


def test_a_live_link_given_nothing_that_delivers_nothing_holds_no_backlog():
    """Loss left in the backlog count of an idle link would keep its weight at 0 (given nothing,
    it can never show its rate): after a few empty reports with proof of life, it holds nothing."""
    p = EstimatorParams()
    est = LinkEstimator(p, 2_000_000)
    t = feed(est, DT, 20, 2_000_000, 2_000_000)
    t = feed(est, t, 3, 2_000_000, 1_000_000)  # half of 0.3 s never arrives (lost)
    assert est.backlog_bytes > 5_000
    t = feed(est, t, 2, 0, 0)  # the scheduler gave it nothing; nothing arrives, the link is alive
    assert est.backlog_bytes > 0
    feed(est, t, p.idle_clear_samples, 0, 0)
    assert est.backlog_bytes == 0 and est.weight > 0


def test_standing_queue_cuts_to_backoff_times_what_the_link_carries():
    """Queueing delay standing past congested_ms and rising: the estimate drops to (1 - backoff)
    x min(estimate, sent, delivered), from an estimate far above it."""
    p = EstimatorParams()
    est = LinkEstimator(p, 10_000_000)
    t = feed(est, DT, 20, 4_000_000, 4_000_000)  # base RTT 50 ms
    feed(est, t, 20, 4_000_000, 4_000_000, rtt=lambda i: 100.0 + 2 * i)
    assert est.capacity_bps <= (1 - p.backoff) * 4_000_000 + 1
    assert est.congested


def test_an_iframe_spike_that_drains_is_not_congestion():
    """A queue that rises past congested_ms for a moment and drains within the standing window
    does not cut (an I-frame on a half-loaded link)."""
    est = LinkEstimator(EstimatorParams(), 6_000_000)
    t = feed(est, DT, 20, 4_000_000, 4_000_000)
    before = est.capacity_bps
    t = feed(est, t, 3, 4_000_000, 4_000_000, rtt=lambda i: 60.0 + 20 * i)  # up to 100 ms
    feed(est, t, 5, 4_000_000, 4_000_000)
    assert est.capacity_bps >= before


def test_overload_cuts_below_the_delivery_rate_to_drain_the_backlog():
    """Given 3 Mbps, delivering 1 Mbps (no RTT echo needed): the estimate goes below 1 Mbps."""
    est = LinkEstimator(EstimatorParams(), 3_000_000)
    feed(est, DT, 15, 3_000_000, 1_000_000)
    assert est.overloaded
    assert est.capacity_bps < 1_000_000


def test_silence_takes_a_link_down_after_down_after_s():
    """No report with new arrivals for down_after_s: down, weight 0, counted 0; just under: up."""
    p = EstimatorParams()
    est = LinkEstimator(p, 2_000_000)
    t = feed(est, DT, 10, 2_000_000, 2_000_000)
    est.update(sample(t, 2_000_000, None, age=p.down_after_s - 0.01))
    assert est.up
    est.update(sample(t + DT, 2_000_000, None, age=p.down_after_s))
    assert not est.up and est.weight == 0.0 and est.counted_bps == 0.0


def test_a_link_back_from_down_restarts_cold():
    """Proof of life after down: up again at cold_start_bps, whatever it had before."""
    p = EstimatorParams()
    est = LinkEstimator(p, 8_000_000)
    t = feed(est, DT, 10, 8_000_000, 8_000_000)
    t = feed(est, t, 10, 8_000_000, None, age=1.0)
    assert not est.up
    est.update(sample(t, 100_000, 100_000))
    assert est.up
    assert est.capacity_bps <= p.cold_start_bps * (1 + p.probe_gain)


@pytest.mark.parametrize("delivered", [1_000_000, 2_000_000, 5_000_000])
def test_counted_capacity_never_exceeds_delivery_evidence(delivered):
    """However high the estimate, counted <= best delivery sample x (1 + evidence_allowance)."""
    p = EstimatorParams()
    est = LinkEstimator(p, 20_000_000)
    t = DT
    for _ in range(50):
        t = feed(est, t, 1, delivered, delivered)
        assert est.counted_bps <= delivered * (1 + p.evidence_allowance) + 1


def test_counted_capacity_stays_near_the_rate_the_link_saturated_at():
    """After a congestion cut the counted capacity stays within ceiling_allowance of what the
    link delivered when it saturated, although the queue is gone and the estimate regrows."""
    p = EstimatorParams()
    est = LinkEstimator(p, 10_000_000)
    t = feed(est, DT, 20, 4_000_000, 4_000_000)
    t = feed(est, t, 20, 4_000_000, 4_000_000, rtt=lambda i: 100.0 + 2 * i)
    assert est.ceiling is not None
    t = feed(est, t, 5, 3_000_000, 3_000_000, rtt=lambda i: 50.0)
    assert est.counted_bps <= 4_000_000 * (1 + p.ceiling_allowance) + 1
    no_ceiling = LinkEstimator(dataclasses.replace(p, ceiling_allowance=10.0), 10_000_000)
    t = feed(no_ceiling, DT, 20, 4_000_000, 4_000_000)
    t = feed(no_ceiling, t, 20, 4_000_000, 4_000_000, rtt=lambda i: 100.0 + 2 * i)
    feed(no_ceiling, t, 5, 3_000_000, 3_000_000, rtt=lambda i: 50.0)
    assert no_ceiling.counted_bps > 4_000_000 * (1 + p.ceiling_allowance)


def collapse(p, n_after=5):
    """A link carrying 3 Mbps that suddenly delivers 0.5 Mbps while still given 3 Mbps."""
    est = LinkEstimator(p, 4_000_000)
    t = feed(est, DT, 20, 3_000_000, 3_000_000)
    return est, feed(est, t, n_after, 3_000_000, 500_000)


def test_a_backlog_the_link_cannot_deliver_in_time_takes_its_weight_away():
    """Given 3 Mbps, delivering 0.5 Mbps: what queued would hold a new packet past backlog_limit_s,
    so the link gets no weight at once (the echo RTT still looks flat); once it drained, it has
    weight again."""
    p = EstimatorParams()
    est, t = collapse(p)
    assert est.backlog_s > p.backlog_limit_s
    assert est.weight == 0.0 and est.up
    feed(est, t, 40, 0, 500_000)  # nothing new given: the backlog drains at the link's rate
    assert est.backlog_s < p.backlog_limit_s / 2 and est.weight > 0
    off, _ = collapse(dataclasses.replace(p, backlog_limit_s=1e9))
    assert off.weight > 0


def test_queueing_delay_lowers_the_weight_but_not_the_estimate():
    """A queue short of congestion (30 ms) scales the weight down, at most to queue_weight_floor;
    the estimate (and what the rate controller counts) is untouched."""
    p = EstimatorParams()
    est = LinkEstimator(p, 4_000_000)
    t = feed(est, DT, 20, 3_000_000, 3_000_000)  # base RTT 50 ms
    feed(est, t, 5, 3_000_000, 3_000_000, rtt=80.0)
    assert not est.congested
    assert est.weight == pytest.approx(est.capacity_bps * p.queue_weight_floor)
    off = LinkEstimator(dataclasses.replace(p, queue_weight_floor=1.0), 4_000_000)
    t = feed(off, DT, 20, 3_000_000, 3_000_000)
    feed(off, t, 5, 3_000_000, 3_000_000, rtt=80.0)
    assert off.weight == pytest.approx(off.capacity_bps)


def test_when_every_live_link_is_backed_up_the_bond_still_sends():
    """Backlog weights of 0 on every live link: the controller falls back to estimate x health
    instead of holding the stream (no link would take anything)."""
    ctl = BondingController(2, "dwrr", EstimatorParams(), 1500, 2.0, None)
    t = DT
    for _ in range(20):
        ctl.on_stats(t, [sample(t, 3_000_000, 3_000_000)] * 2)
        t = round(t + DT, 6)
    for _ in range(5):
        ctl.on_stats(t, [sample(t, 3_000_000, 500_000)] * 2)
        t = round(t + DT, 6)
    assert all(est.weight == 0.0 for est in ctl.estimators)
    assert all(w > 0 for w in ctl.weights())
    assert ctl.pick(1316) is not None


def test_unrepaired_loss_does_not_build_a_phantom_backlog():
    """2 % of what is given never arrives, for a minute: the backlog count leaks it away and stays
    far below backlog_limit_s; without the leak it grows past it."""
    p = EstimatorParams()
    est = LinkEstimator(p, 4_000_000)
    feed(est, DT, 600, 3_000_000, 2_940_000)
    assert est.backlog_s < p.backlog_limit_s / 4
    no_leak = LinkEstimator(dataclasses.replace(p, backlog_leak_s=1e12), 4_000_000)
    feed(no_leak, DT, 600, 3_000_000, 2_940_000)
    assert no_leak.backlog_s > p.backlog_limit_s
