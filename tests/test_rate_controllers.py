"""Rate controllers behind `bonding.rate_controller` (issue 8): each rule of belacoder's ladder and
of AIMD on crafted signals, `none` silent, and each one wired through a sim run."""

import pytest

from bondlab.core.aimd import AimdController
from bondlab.core.bonding import BondingController
from bondlab.core.ladder import LadderController
from bondlab.core.rate_control import RateController
from bondlab.core.rate_controllers import RateSignals, make_rate_controller
from bondlab.scenario import ScenarioError, load_scenario
from bondlab.sim.runner import run_sim

from conftest import SCENARIOS

LATENCY = 800.0


def sig(rtt=60.0, backlog=0.0, backlog_s=0.0, overloaded=False, congested=False, interval=0.1):
    return RateSignals(interval, rtt, rtt, 0.0, backlog, backlog_s, overloaded, congested)


def ladder(start=6_000_000, **kw):
    return LadderController(start, 500_000, 12_000_000, LATENCY, **kw)


def calm(c, until, rtt=60.0, t0=0.0):
    """Feed steady RTT ticks every 100 ms; returns the messages."""
    out, t = [], t0
    while t < until - 1e-9:
        t = round(t + 0.1, 6)
        msg = c.update(t, 20e6, sig(rtt))
        if msg is not None:
            out.append(msg)
    return out


# -- ladder --------------------------------------------------------------------------------------------
def test_ladder_climbs_30k_plus_a_thirtieth_when_rtt_sits_at_its_minimum():
    c = ladder()
    msg = c.update(0.1, 20e6, sig(60.0))
    assert msg is not None and msg.reason == "recovery"
    assert c.internal == 6_000_000 + 30_000 + 200_000
    assert msg.recommended_bitrate == 6_200_000  # the encoder gets it rounded down to 100 kbps
    assert c.update(0.2, 20e6, sig(60.0)) is None  # at most one climb per 500 ms


def test_ladder_does_not_climb_while_rtt_rises():
    c = ladder()
    calm(c, 2.0)
    before = c.internal
    for k in range(5):
        c.update(2.1 + k / 10, 20e6, sig(61.0 + 1.5 * k))
    assert c.internal <= before


def test_ladder_drops_to_the_minimum_at_a_third_of_the_latency():
    c = ladder()
    calm(c, 2.0)
    msg = c.update(2.1, 20e6, sig(LATENCY / 3))
    assert msg is not None and msg.reason == "congestion" and msg.recommended_bitrate == 500_000


def test_ladder_cuts_100k_and_a_tenth_above_a_fifth_of_the_latency():
    c = ladder()
    calm(c, 2.0)
    br = c.internal
    c.update(2.1, 20e6, sig(LATENCY / 5 + 10))
    assert c.internal == pytest.approx(br - 100_000 - br / 10)
    once = c.internal
    c.update(2.2, 20e6, sig(LATENCY / 5 + 10))  # within 250 ms of the last cut: nothing
    assert c.internal == once
    c.update(2.4, 20e6, sig(LATENCY / 5 + 10))
    assert c.internal == pytest.approx(once - 100_000 - once / 10)


def test_ladder_cuts_100k_on_milder_signs():
    """RTT creeping above its average + 15 % (below latency/5) costs 100 kbps per 200 ms."""
    c = ladder()
    calm(c, 5.0)
    br, t, rtt, cut = c.internal, 5.0, 60.0, None
    for _ in range(30):
        t, rtt = round(t + 0.1, 6), rtt + 2.0
        c.update(t, 20e6, sig(rtt))
        if c.internal < br:
            cut = c.internal
            break
    assert rtt < LATENCY / 5 and cut == pytest.approx(br - 100_000)


def test_ladder_cuts_on_a_backlog_far_above_its_average():
    """The send backlog alone (RTT calm) cuts once it keeps growing: belacoder's buffer thresholds
    follow its jitter, so one jump raises them with it, and a steady build-up is what passes them."""
    c = ladder()
    calm(c, 3.0)
    cuts = []
    for k in range(1, 11):
        before = c.internal
        c.update(3.0 + k / 10, 20e6, sig(60.0, backlog=30 * k * 1316))
        cuts.append(c.internal < before)
    assert any(cuts)


def test_ladder_stays_within_the_encoder_range():
    c = ladder(start=550_000)
    for k in range(20):
        c.update(3 + k / 10, 20e6, sig(LATENCY))
    assert c.bitrate == c.internal == 500_000
    c = ladder(start=11_990_000)
    calm(c, 30.0)
    assert c.bitrate == 12_000_000


# -- AIMD ----------------------------------------------------------------------------------------------
def aimd(start=6_000_000, **kw):
    return AimdController(start, 500_000, 12_000_000, **kw)


def test_aimd_ignores_pressure_shorter_than_sustain():
    c = aimd()
    pattern = [True, True, False, True, True, False, True, True]  # never 0.3 s in a row
    msgs = [c.update(3.0 + k / 10, 20e6, sig(overloaded=p)) for k, p in enumerate(pattern)]
    assert not [m for m in msgs if m is not None and m.reason == "congestion"]
    assert c.bitrate >= 6_000_000


@pytest.mark.parametrize(
    "capacity,signals",
    [
        (5e6, sig()),  # the bond counts less than the bitrate itself
        (20e6, sig(overloaded=True)),
        (20e6, sig(congested=True)),
        (20e6, sig(backlog_s=0.3)),
    ],
)
def test_aimd_cuts_multiplicatively_on_sustained_pressure(capacity, signals):
    c = aimd()
    msgs = [c.update(3.0 + k / 10, capacity, signals) for k in range(4)]
    assert msgs[:3] == [None, None, None]
    assert msgs[3].reason == "congestion" and msgs[3].recommended_bitrate == 4_500_000


def test_aimd_holds_after_a_cut():
    c = aimd()
    for k in range(4):
        c.update(3.0 + k / 10, 20e6, sig(overloaded=True))
    assert c.bitrate == 4_500_000
    for k in range(1, 7):  # pressure goes on, but the cut needs a second to show
        assert c.update(3.3 + k / 10, 20e6, sig(overloaded=True)) is None
    assert c.update(4.4, 20e6, sig(overloaded=True)).recommended_bitrate == 3_375_000


def test_aimd_climbs_additively_once_a_second():
    c = aimd()
    ups = [m for k in range(1, 31) if (m := c.update(k / 10, 20e6, sig())) is not None]
    assert [m.recommended_bitrate for m in ups] == [6_150_000, 6_300_000, 6_450_000]
    assert all(m.reason == "recovery" for m in ups)


def test_aimd_climb_is_slew_limited_at_low_bitrates():
    """At 1 Mbps the 150 kbps step would be 15 % a second: the 5 %/s slew limit binds."""
    c = aimd(start=1_000_000)
    msg = c.update(1.0, 20e6, sig())
    assert msg.recommended_bitrate == 1_050_000


def test_aimd_never_leaves_the_encoder_range():
    c = aimd(start=600_000)
    for k in range(200):
        c.update(3 + k / 10, 0.0, sig(overloaded=True))
    assert c.bitrate == 500_000
    c = aimd(start=11_950_000)
    for k in range(1, 100):
        c.update(k / 10, 50e6, sig())
    assert c.bitrate == 12_000_000


# -- none, the factory, the scenario field -------------------------------------------------------------
def seed(*overrides):
    return load_scenario(SCENARIOS / "seed-asymmetric.yaml", ["duration_s=20", *overrides])


@pytest.mark.parametrize(
    "name,cls",
    [
        ("headroom", RateController),
        ("ladder", LadderController),
        ("aimd", AimdController),
        ("none", type(None)),
    ],
)
def test_factory_builds_the_named_controller(name, cls):
    assert isinstance(make_rate_controller(seed(f"bonding.rate_controller={name}")), cls)


def test_rate_control_false_means_none_whatever_the_controller():
    assert make_rate_controller(seed("bonding.rate_control=false", "bonding.rate_controller=ladder")) is None


def test_unknown_rate_controller_is_one_line_naming_the_field():
    with pytest.raises(ScenarioError, match="bonding.rate_controller"):
        seed("bonding.rate_controller=pid")


def test_none_never_sends_a_message():
    """`none` sends nothing in a run where headroom must act (capacity falls to a fifth at 8 s),
    and is the same run as rate_control=false."""
    drop = load_scenario(SCENARIOS / "three-link-degrade.yaml", ["bonding.rate_controller=none"])
    ctl = BondingController.from_scenario(drop, "dwrr")
    assert ctl.rate is None
    none = run_sim(drop, "dwrr")
    off = run_sim(
        load_scenario(SCENARIOS / "three-link-degrade.yaml", ["bonding.rate_control=false"]), "dwrr"
    )
    head = run_sim(load_scenario(SCENARIOS / "three-link-degrade.yaml"), "dwrr")
    assert none.messages == [] and none.metrics["congestion_messages"] == 0
    assert none.metrics == off.metrics
    assert head.metrics["congestion_messages"] > 0


@pytest.mark.parametrize("name", ["ladder", "aimd"])
def test_controller_steers_the_encoder_in_a_run(name):
    """Through the whole loop: messages reach the encoder (its per-frame bitrate follows them)."""
    r = run_sim(seed(f"bonding.rate_controller={name}"), "dwrr")
    assert r.messages
    assert r.metrics["bitrate_changes"] >= 1 and r.metrics["frames_total"] == 600
    assert r.messages[-1]["recommended_bitrate"] != 6_000_000 or len(r.messages) > 1


def test_headroom_default_is_unchanged():
    """The default field value builds today's controller: same run as before the field existed."""
    a = run_sim(seed(), "dwrr").metrics
    b = run_sim(seed("bonding.rate_controller=headroom"), "dwrr").metrics
    assert a == b
