"""Steady bonds on honest feedback (issue 6): the rate controller counts only delivered capacity,
holds its bitrate still, and DWRR + rate control beats blind round-robin."""

import pytest

from bondlab.scenario import load_scenario
from bondlab.sim.runner import run_sim

from conftest import SCENARIOS

CEILINGS = (8_000_000, 16_000_000)
SEEDS = (1, 2, 3)


def seed_case(*overrides):
    return load_scenario(SCENARIOS / "seed-asymmetric.yaml", ["duration_s=60", *overrides])


@pytest.fixture(scope="module", params=SEEDS, ids=lambda s: f"seed{s}")
def steady(request):
    seed = request.param
    runs = {c: run_sim(seed_case(f"encoder.max_bitrate_bps={c}"), "dwrr", seed) for c in CEILINGS}
    runs["rr-norc"] = run_sim(seed_case("bonding.rate_control=false"), "rr", seed)
    return runs


def counted_over_true(result):
    per_t = result.timeseries.groupby("t").agg(
        counted=("counted_capacity_bps", "sum"), true=("capacity_bps", "sum")
    )
    return per_t[per_t.index > 5.0]


@pytest.mark.parametrize("ceiling", CEILINGS)
def test_counted_capacity_is_delivered_capacity(steady, ceiling):
    """After 5 s, what the rate controller counts is <= 1.05 x the true capacity in >= 95 % of intervals."""
    late = counted_over_true(steady[ceiling])
    assert (late.counted <= 1.05 * late.true).mean() >= 0.95


@pytest.mark.parametrize("ceiling", CEILINGS)
def test_bitrate_holds_still(steady, ceiling):
    """At most 6 bitrate changes in the minute: each one is a quality change the viewer sees."""
    assert steady[ceiling].metrics["bitrate_changes"] <= 6


@pytest.mark.parametrize("ceiling", CEILINGS)
def test_dwrr_with_rate_control_is_decodable_and_beats_rr(steady, ceiling):
    m = steady[ceiling].metrics
    assert m["decodable_ratio"] >= 0.95
    assert steady["rr-norc"].metrics["decodable_ratio"] < m["decodable_ratio"] - 0.2
