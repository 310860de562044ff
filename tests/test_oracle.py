"""The oracle (bondlab/sim/oracle.py): it predicts the links exactly, only it reads them, its
bitrate rule is the documented one, and no scheduler beats it beyond noise."""

import math
from pathlib import Path

import pytest

from bondlab.scenario import load_scenario, parse_scenario
from bondlab.schedulers import scheduler_names
from bondlab.sim import oracle as sim_oracle
from bondlab.sim.link import SimLink
from bondlab.sim.oracle import MARGIN, LinkTruth, OracleRate, OracleScheduler
from bondlab.sim.runner import SimRun, run_sim
from bondlab.sim.single_link import single_link_scenario
from bondlab.traces import load_trace
from bondlab.wire import WIRE_OVERHEAD_BYTES

from conftest import SCENARIOS

OTHERS = [name for name in scheduler_names("sim") if name != "oracle"]
NOISE = 1.05  # a 5 % margin: one seed, short runs
BEATEN_ON = ["seed-asymmetric", "three-link-degrade", "cellular-traces", "black-hole"]


def two_links(extra=None, duration=10):
    links = [
        {"name": "a", "capacity_bps": 10_000_000, "delay_ms": 30, "queue_bytes": 250_000},
        {"name": "b", "trace": "traces/ATT-LTE-driving.up", "delay_ms": 50, "queue_bytes": 100_000},
    ]
    data = {"duration_s": duration, "links": links, **(extra or {})}
    return parse_scenario(data, "test.yaml", SCENARIOS, "two-links")


def test_predicted_arrival_is_the_links_own_and_the_earliest_is_picked():
    """Without jitter and loss, the arrival the oracle predicts on its server copies is exactly
    what the link then gives the packet, and each packet goes where it lands first."""
    sc = two_links()
    links = [SimLink(sc, i, 1) for i in range(2)]
    s = OracleScheduler(2)
    s.attach(LinkTruth(links), 1 / 30)
    s.set_weights([1.0, 1.0])
    used = set()
    for frame in range(60):  # bursts long enough that the slower link's queue-free path wins some
        now = frame / 30
        s.begin_frame(now, now + 0.8, frame % 10 == 0)
        for size in [1316] * (80 if frame % 10 == 0 else 8):
            predicted = [s.arrival(i, size)[0] for i in range(2)]
            li = s.pick(size)
            assert li == min(range(2), key=lambda i: predicted[i])
            assert links[li].send(now, size) == pytest.approx(predicted[li], abs=1e-9)
            used.add(li)
    assert used == {0, 1}


def test_a_packet_no_link_delivers_in_time_is_held():
    """Past the deadline on every link, pick gives None (the sender holds and drops it)."""
    sc = two_links()
    s = OracleScheduler(2)
    s.attach(LinkTruth([SimLink(sc, i, 1) for i in range(2)]), 1 / 30)
    s.set_weights([1.0, 1.0])
    s.begin_frame(0.0, 0.01, False)  # both links are >= 30 ms away
    assert s.pick(1316) is None


def test_only_the_oracle_run_gets_the_truth(monkeypatch):
    """LinkTruth is built for the oracle's run and for no other scheduler's."""
    built = []
    real_init = LinkTruth.__init__

    def counting(self, links):
        built.append(len(links))
        real_init(self, links)

    monkeypatch.setattr(sim_oracle.LinkTruth, "__init__", counting)
    sc = load_scenario(SCENARIOS / "seed-asymmetric.yaml", ["duration_s=2"])
    for name in OTHERS:
        run = SimRun(sc, name)
        assert not isinstance(run.controller.scheduler, OracleScheduler)
        run.run()
    assert built == []
    run = SimRun(sc, "oracle")
    assert built == [2] and run.controller.rate is None
    result = run.run()
    assert result.messages and all(m["reason"].startswith("oracle") for m in result.messages)


def test_rate_rule_is_the_documented_one():
    """Constant 10 + 2 Mbps for the whole window, empty queues: the summed capacity in payload
    bits over 1 + the I-frame margin, capped at the encoder's maximum."""
    sc = load_scenario(SCENARIOS / "seed-asymmetric.yaml", ["links.lte-a.loss=0", "links.lte-b.loss=0"])
    truth = LinkTruth([SimLink(sc, i, 1) for i in range(2)])
    rate = OracleRate(truth, sc)
    share = 1316 / (1316 + WIRE_OVERHEAD_BYTES)
    assert rate.bitrate(1.0) == int(12e6 * share / (1 + MARGIN))
    capped = load_scenario(SCENARIOS / "seed-asymmetric.yaml", ["encoder.max_bitrate_bps=8000000"])
    assert OracleRate(LinkTruth([SimLink(capped, i, 1) for i in range(2)]), capped).bitrate(1.0) == 8_000_000


def test_rate_rule_sees_a_drop_coming():
    """A link that drops to 1 Mbps at 20 s: a second before, the window already holds the drop."""
    sc = load_scenario(SCENARIOS / "seed-asymmetric.yaml", ["links.lte-a.loss=0", "links.lte-b.loss=0"])
    sc = sc.model_copy(update={"events": []})
    dropped = parse_scenario(
        {
            **sc.model_dump(mode="json", exclude={"base_dir"}),
            "events": [{"at_s": 20, "link": "lte-a", "capacity_bps": 1e6}],
        },
        "t.yaml",
        SCENARIOS,
        "t",
    )
    rate = OracleRate(LinkTruth([SimLink(dropped, i, 1) for i in range(2)]), dropped)
    assert rate.bitrate(25.0) < rate.bitrate(19.5) < rate.bitrate(10.0)
    assert rate.bitrate(25.0) == pytest.approx(3e6 * 1316 / 1364 / (1 + MARGIN), rel=1e-6)


@pytest.mark.parametrize("scenario", BEATEN_ON)
def test_no_scheduler_beats_the_oracle(scenario):
    """On bundled scenarios (their first 25 s, events included), no scheduler's goodput exceeds
    the oracle's by more than 5 %."""
    sc = load_scenario(SCENARIOS / f"{scenario}.yaml", ["duration_s=25"])
    oracle = run_sim(sc, "oracle").metrics
    assert oracle["goodput_bps"] > 0
    for name in OTHERS:
        m = run_sim(sc, name).metrics
        assert m["goodput_bps"] <= NOISE * oracle["goodput_bps"], (
            name,
            m["goodput_bps"],
            oracle["goodput_bps"],
        )


def test_single_link_scenario_sums_the_capacities(tmp_path: Path):
    """The bound's one link carries the links' summed capacity with the smallest delay."""
    sc = load_scenario(SCENARIOS / "seed-asymmetric.yaml", ["links.lte-a.loss=0", "links.lte-b.loss=0"])
    one = single_link_scenario(sc, 1, tmp_path)
    assert [link.name for link in one.links] == ["bond"] and one.links[0].delay_ms == 30
    assert one.links[0].queue_bytes == 500_000 and one.name == sc.name
    trace = load_trace(one.trace_path(one.links[0].trace))
    assert trace.mean_rate_bps == pytest.approx(12e6, rel=0.01)
    assert math.isclose(run_sim(one, "dwrr").metrics["frames_total"], 30 * sc.duration_s)
