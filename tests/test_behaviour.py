"""What the bundled scenarios must show in the sim (the foundation issue's acceptance checks)."""

import logging

import pytest

from bondlab.scenario import load_scenario
from bondlab.sim.runner import run_sim

from conftest import SCENARIOS


def sim(name, scheduler, *overrides, seed=None):
    return run_sim(load_scenario(SCENARIOS / f"{name}.yaml", list(overrides)), scheduler, seed)


@pytest.fixture(scope="module")
def seed_runs():
    return {
        "dwrr": sim("seed-asymmetric", "dwrr"),
        "rr": sim("seed-asymmetric", "rr"),
        "rr-norc": sim("seed-asymmetric", "rr", "bonding.rate_control=false"),
    }


def test_seed_dwrr_share_follows_capacity(seed_runs):
    """10 + 2 Mbps: DWRR's byte share per link is within 5 points of its capacity share."""
    for name, link in seed_runs["dwrr"].metrics["links"].items():
        assert link["share"] == pytest.approx(link["capacity_share"], abs=0.05), name


def test_seed_rr_splits_evenly_and_loses_frames(seed_runs):
    """Blind RR puts about half on each link and, without rate control, loses frames."""
    m = seed_runs["rr-norc"].metrics
    for link in m["links"].values():
        assert link["share"] == pytest.approx(0.5, abs=0.02)
    assert m["on_time_ratio"] < 0.9


def test_seed_dwrr_with_rate_control_is_on_time(seed_runs):
    """DWRR + rate control delivers >= 97 % of frames on time, and more than RR does."""
    assert seed_runs["dwrr"].metrics["on_time_ratio"] >= 0.97
    assert seed_runs["dwrr"].metrics["on_time_ratio"] > seed_runs["rr"].metrics["on_time_ratio"]


def test_degrade_fires_rate_control_within_two_seconds(caplog):
    """Three links, one collapses at 20 s: a congestion-control message within 2 s, 'Adjusting bitrate'
    logged, DWRR + rate control >= 0.97 on time while RR without rate control stays below 0.9."""
    with caplog.at_level(logging.INFO, logger="bondlab"):
        dwrr = sim("three-link-degrade", "dwrr")
    cuts = [m for m in dwrr.messages if m["reason"] == "congestion" and 20.0 <= m["t"] <= 22.0]
    assert cuts, dwrr.messages
    remaining_bps = 0.5e6 + 2.5e6 + 2.5e6
    assert min(m["recommended_bitrate"] for m in cuts) <= remaining_bps / 1.1
    assert "Adjusting bitrate" in caplog.text
    assert dwrr.metrics["on_time_ratio"] >= 0.97
    rr = sim("three-link-degrade", "rr", "bonding.rate_control=false")
    assert rr.metrics["on_time_ratio"] < 0.9


def test_estimator_finds_capacity_that_appears():
    """lte-b rises from 2 to 10 Mbps at 10 s: within 5 s it carries most of the traffic, although
    librist only reports what was sent on it."""
    ts = sim("capacity-rise", "dwrr").timeseries
    window = ts[(ts.t > 14.0) & (ts.t <= 16.0)].pivot(index="t", columns="link", values="sent_bps")
    share_b = window["lte-b"].sum() / window.sum(axis=1).sum()
    assert share_b > 0.5, share_b
    before = ts[(ts.t > 8.0) & (ts.t <= 10.0)].pivot(index="t", columns="link", values="sent_bps")
    assert before["lte-b"].sum() / before.sum(axis=1).sum() < 0.4


def test_outage_link_gets_no_traffic_while_down():
    """During lte-b's 4 s outage DWRR stops using it within half a second, then brings it back."""
    ts = sim("link-flap", "dwrr").timeseries.pivot(index="t", columns="link", values="weight")
    assert (ts.loc[15.6:18.9, "lte-b"] == 0).all()
    assert ts.loc[22.0:28.0, "lte-b"].mean() > 0


def test_rtt_spike_link_is_avoided():
    """Past the RTT limit a link's health is 0: DWRR keeps frames on time where RR does not."""
    dwrr, rr = sim("rtt-spike", "dwrr"), sim("rtt-spike", "rr")
    assert dwrr.metrics["on_time_ratio"] >= 0.95
    assert rr.metrics["on_time_ratio"] < dwrr.metrics["on_time_ratio"] - 0.1


def test_blackout_shorter_than_latency_costs_little():
    """With every link down, DWRR holds packets instead of dropping them and recovers after."""
    m = sim("all-down", "dwrr").metrics
    lost_frames = m["frames_total"] - m["frames_on_time"]
    assert lost_frames <= 3.0 * 30 * 1.1  # at most the 3 s blackout (30 fps) plus a little


@pytest.mark.parametrize("name", ["seed-asymmetric", "cellular-traces", "burst-loss"])
def test_same_seed_same_metrics(name):
    """Deterministic: the same scenario and seed give identical metrics; another seed differs."""
    a, b = sim(name, "dwrr"), sim(name, "dwrr")
    assert a.metrics == b.metrics
    assert sim(name, "dwrr", seed=99).metrics != a.metrics


def test_burst_loss_is_repaired_by_arq():
    """Gilbert-Elliott bursts are retransmitted in time: most frames stay on time."""
    m = sim("burst-loss", "dwrr").metrics
    assert m["retransmissions"] > 100
    assert m["on_time_ratio"] >= 0.97
