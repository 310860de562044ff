"""Honest feedback: the controller learns only what packets carry, when they arrive."""

import pytest
import simpy

from bondlab.core.feedback import ReceiverReport, ReportTracker
from bondlab.core.receiver import BondedReceiver
from bondlab.scenario import load_scenario, parse_scenario
from bondlab.sim import link as sim_link
from bondlab.sim import transport as sim_transport
from bondlab.sim.runner import SimRun, run_sim

from conftest import SCENARIOS


def scenario(links, duration=5):
    return parse_scenario({"duration_s": duration, "links": list(links)}, "test.yaml", SCENARIOS, "test")


def guarded(inside, fn):
    """`fn` with the 'controller input being made' flag raised while it runs."""

    def call(*args, **kwargs):
        inside["now"] = True
        try:
            return fn(*args, **kwargs)
        finally:
            inside["now"] = False

    return call


def test_controller_inputs_never_read_link_state(monkeypatch):
    """While stats are gathered and the controller runs, touching link state is an error."""
    inside = {"now": False}
    for name in ("state", "capacity_bps", "queued_bytes"):
        real = getattr(sim_link.SimLink, name)

        def poisoned(self, *a, _real=real, _name=name, **k):
            if inside["now"]:
                raise AssertionError(f"controller input read SimLink.{_name}")
            return _real(self, *a, **k)

        monkeypatch.setattr(sim_link.SimLink, name, poisoned)
    monkeypatch.setattr(
        sim_transport.SimTransport, "stats", guarded(inside, sim_transport.SimTransport.stats)
    )
    run = SimRun(load_scenario(SCENARIOS / "black-hole.yaml", ["duration_s=12"]), "dwrr")
    run.controller.on_stats = guarded(inside, run.controller.on_stats)
    run.run()  # raises if any input came from link state


def test_echo_rtt_is_known_only_when_the_reply_returns():
    """An echo queued behind half a second of data reports its RTT about half a second later."""
    sc = scenario([{"name": "a", "capacity_bps": 1_000_000, "delay_ms": 20, "queue_bytes": 10**6}])
    env = simpy.Environment()
    tr = sim_transport.SimTransport(env, sc, 1, BondedReceiver(800))
    for _ in range(50):
        tr.links[0].send(0.0, 1202)  # 50 x 10 ms of queue
    tr.start()
    env.run(until=0.3)
    assert tr.stats(0.3)[0].rtt_ms is None  # the first echo is still queued
    env.run(until=0.5407)  # the first reply is back (0.5405), the second (sent at 0.1 s) not yet
    assert tr.stats(0.5407)[0].rtt_ms == pytest.approx(500 + 40, abs=2)


def test_echo_timers_run_from_before_the_stream_and_are_not_locked_to_the_frame_clock(monkeypatch):
    """librist pings from the handshake on, on its own timer: each link's first echo leaves at 0
    ahead of any data, the next ones at their own phase, 100 ms apart plus a late walk. Locked to
    the frame clock (100 ms = 3 frames) every echo would read the same point of a frame's burst."""
    sent = []
    echo = sim_transport.SimTransport._echo
    monkeypatch.setattr(
        sim_transport.SimTransport,
        "_echo",
        lambda self, li, now: (sent.append((li, now)), echo(self, li, now)),
    )
    sc = load_scenario(SCENARIOS / "seed-asymmetric.yaml", ["duration_s=10"])
    run = SimRun(sc, "dwrr", 1)
    first_frame_seen = []
    send = run.transport.send
    monkeypatch.setattr(
        run.transport, "send", lambda li, b: (first_frame_seen.append(len(sent)), send(li, b))
    )
    run.run()
    assert first_frame_seen[0] >= len(sc.links)  # every link's echo of t = 0 went out before data
    frame_period = 1 / 30
    for li in range(len(sc.links)):
        times = [t for i, t in sent if i == li]
        assert times[0] == 0.0
        gaps = [b - a for a, b in zip(times[1:], times[2:])]
        assert all(0.1 - 1e-9 <= g <= 0.1 + sim_transport.ECHO_LATE_MAX_S + 1e-9 for g in gaps)
        phases = {int((t % frame_period) / frame_period * 10) for t in times[1:]}
        assert len(phases) >= 9, f"link {li}: echoes met the frame clock at {sorted(phases)} tenths only"
    seconds = [[t for i, t in sent if i == li][1] for li in range(len(sc.links))]
    assert len(set(seconds)) == len(seconds)  # each link's timer has its own phase


def test_the_receiver_reports_a_baseline_before_the_stream():
    """The receiver is up before the first frame: its report of t = 0 lets the first interval's
    report give a delivery rate (a real receiver has reported since the handshake)."""
    sc = scenario([{"name": "a", "capacity_bps": 1_000_000, "delay_ms": 20}])
    env = simpy.Environment()
    tr = sim_transport.SimTransport(env, sc, 1, BondedReceiver(800))
    tr.start()
    tr.links[0].send(0.0, 1202)
    env.run(until=0.1)
    tr.stats(0.1)  # the first tick takes the baseline (no rate from a single report)
    env.run(until=0.2)
    first = tr.stats(0.2)[0]
    assert first.delivered_bps == pytest.approx(1202 * 8 / 0.1, rel=0.01)
    assert first.delivered_bytes == 1202


def test_report_tracker_delivery_rate_and_liveness():
    """Rates come from the receiver's clock; only new arrivals prove the uplink alive."""
    tr = ReportTracker()
    tr.on_report(1.0, ReceiverReport(0, 1, 0.9, 1000, 10))
    tr.take(1.0)
    tr.on_report(1.2, ReceiverReport(0, 3, 1.1, 26000, 30))
    tr.on_report(1.25, ReceiverReport(0, 2, 1.0, 13000, 20))  # late and reordered: ignored
    rate, age = tr.take(1.3)
    assert rate == pytest.approx(25000 * 8 / 0.2) and age == pytest.approx(0.1)
    tr.on_report(1.5, ReceiverReport(0, 4, 1.2, 26000, 30))  # nothing new arrived
    rate, age = tr.take(1.6)
    assert rate == 0.0 and age == pytest.approx(0.4)


@pytest.fixture(scope="module")
def black_hole():
    sc = load_scenario(SCENARIOS / "black-hole.yaml")
    return run_sim(sc, "dwrr"), run_sim(sc, "rr")


def test_black_hole_link_is_dropped_and_taken_back(black_hole):
    """A link at 100 % loss while 'up': out within a second, on time >= 0.95, decodable >= 0.9,
    and it carries traffic again after it recovers."""
    dwrr, rr = black_hole
    ts = dwrr.timeseries
    a = ts[ts.link == "lte-a"]
    out = a[(a.t >= 8.0) & ~a.est_up]
    assert len(out) and out.t.min() <= 9.0
    assert not a[a.t.between(10, 15.9)].est_up.any()
    after = a[a.t >= 18.0]
    assert after.est_up.all() and (after.weight > 0).all()
    assert dwrr.metrics["on_time_ratio"] >= 0.95
    assert dwrr.metrics["decodable_ratio"] >= 0.9
    assert rr.metrics["on_time_ratio"] < dwrr.metrics["on_time_ratio"] - 0.1
