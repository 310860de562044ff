"""The sim's link: FIFO service over rate and trace capacity, tail drop, outages, librist-shaped stats."""

import pytest

from bondlab.scenario import parse_scenario
from bondlab.sim.link import SimLink
from bondlab.sim.rist_stats import RistStatsCounter
from bondlab.wire import WIRE_OVERHEAD_BYTES

from conftest import SCENARIOS


def payload(ip_bytes):
    """Payload whose IP packet is `ip_bytes` long: capacity and queues count IP bytes."""
    return ip_bytes - WIRE_OVERHEAD_BYTES


def scenario(links, events=(), duration=30):
    data = {"duration_s": duration, "links": list(links), "events": list(events)}
    return parse_scenario(data, "test.yaml", SCENARIOS, "test")


def test_constant_rate_serialises_back_to_back():
    """Packets sent together leave one serialisation time apart (size x 8 / rate)."""
    sc = scenario([{"name": "a", "capacity_bps": 1_000_000, "delay_ms": 0}])
    link = SimLink(sc, 0, seed=1)
    arrivals = [link.send(0.0, payload(1250)) for _ in range(3)]
    assert arrivals == pytest.approx([0.01, 0.02, 0.03])


def test_delay_is_added_after_the_queue():
    """Arrival = departure + one-way delay."""
    sc = scenario([{"name": "a", "capacity_bps": 1_000_000, "delay_ms": 40}])
    assert SimLink(sc, 0, 1).send(1.0, payload(1250)) == pytest.approx(1.05)


def test_tail_drop_at_queue_bytes():
    """Beyond queue_bytes the link drops, and counts it."""
    sc = scenario([{"name": "a", "capacity_bps": 1_000_000, "queue_bytes": 15000}])
    link = SimLink(sc, 0, 1)
    out = [link.send(0.0, payload(1500)) for _ in range(12)]
    assert out.count(None) == 2 and link.drops["queue"] == 2


@pytest.mark.parametrize("burst", [False, True])
def test_room_freed_by_departures_takes_new_packets(burst):
    """A full queue takes packets again as its packets leave (12 ms each at 1 Mbps), not before:
    the room is counted at the send time, whatever was counted last."""
    sc = scenario([{"name": "a", "capacity_bps": 1_000_000, "queue_bytes": 15000}])
    link = SimLink(sc, 0, 1)
    assert None not in link.send_burst(0.0, [payload(1500)] * 10)  # exactly full
    assert link.send(0.001, payload(1500)) is None  # nothing has left yet
    two = [payload(1500)] * 2
    got = link.send_burst(0.0245, two) if burst else [link.send(0.0245, size) for size in two]
    assert None not in got  # two have left by 24.5 ms
    assert link.send(0.0245, payload(1500)) is None and link.drops["queue"] == 2


def test_capacity_drop_mid_queue_slows_queued_packets():
    """A capacity change applies to packets already queued (the timeline is known in advance)."""
    sc = scenario(
        [{"name": "a", "capacity_bps": 8_000_000, "delay_ms": 0}],
        [{"at_s": 0.001, "link": "a", "capacity_bps": 800_000}],
    )
    link = SimLink(sc, 0, 1)
    first, second = link.send(0.0, payload(1000)), link.send(0.0, payload(1000))
    assert first == pytest.approx(0.001)
    assert second == pytest.approx(0.001 + 1000 * 8 / 800_000)


def test_outage_loses_new_packets_and_holds_queued_ones():
    """While down, packets handed to the link are lost; queued ones leave after it returns."""
    sc = scenario(
        [{"name": "a", "capacity_bps": 1_000_000, "delay_ms": 0}],
        [{"at_s": 0.005, "link": "a", "up": False, "for_s": 1.0}],
    )
    link = SimLink(sc, 0, 1)
    queued = link.send(0.0, payload(2500))  # needs 20 ms, outage starts after 5 ms
    assert queued == pytest.approx(1.02)
    assert link.send(0.5, payload(100)) is None and link.drops["down"] == 1
    assert link.reverse(0.5) is None  # the reverse path is down too


def test_trace_link_follows_mahimahi_opportunities():
    """On a trace link, 1500-byte opportunities at the trace's milliseconds carry the packets."""
    sc = scenario([{"name": "a", "trace": "traces/ATT-LTE-driving.up", "delay_ms": 0}], duration=60)
    link = SimLink(sc, 0, 1)
    from bondlab.traces import load_trace

    times = load_trace(SCENARIOS / "traces/ATT-LTE-driving.up").times_ms
    assert link.send(0.0, payload(1500)) == pytest.approx(times[0] / 1000)
    assert link.send(0.0, payload(1500)) == pytest.approx(times[1] / 1000)
    # two 700-byte IP packets share one opportunity
    a, b = link.send(0.0, payload(700)), link.send(0.0, payload(700))
    assert a == b == pytest.approx(times[2] / 1000)


def test_trace_link_mean_rate_over_a_minute():
    """Saturating a trace link for 60 s delivers about the trace's mean rate."""
    sc = scenario(
        [{"name": "a", "trace": "traces/ATT-LTE-driving.up", "delay_ms": 0, "queue_bytes": 10**8}],
        duration=120,
    )
    link = SimLink(sc, 0, 1)
    from bondlab.traces import load_trace

    trace = load_trace(SCENARIOS / "traces/ATT-LTE-driving.up")
    n = int(trace.rate_series_bps(0, 60, 60)[0] * 60 / 8 / 1500)
    last = max(link.send(0.0, payload(1500)) for _ in range(n))
    assert last == pytest.approx(60.0, abs=0.1)


def test_reverse_path_has_delay_and_loss_but_no_queue():
    """Feedback crosses the reverse path: the link's delay and loss, no rate limit behind data."""
    sc = scenario([{"name": "a", "capacity_bps": 1_000_000, "delay_ms": 20, "loss": 0.2}])
    link = SimLink(sc, 0, 5)
    for _ in range(50):
        link.send(0.0, payload(1250))  # half a second of queue on the uplink
    back = [link.reverse(0.0) for _ in range(5000)]
    arrived = [t for t in back if t is not None]
    assert len(arrived) / len(back) == pytest.approx(0.8, abs=0.03)
    assert arrived and all(t == pytest.approx(0.02) for t in arrived)


def test_arrivals_are_binned_for_receiver_reports():
    """Payload bytes and packets are counted in the report interval in which they arrive."""
    sc = scenario([{"name": "a", "capacity_bps": 1_000_000, "delay_ms": 5}])
    link = SimLink(sc, 0, 1, report_interval_s=0.1)
    for _ in range(15):  # 10 ms each + 5 ms: 9 arrive in [0, 0.1), 6 in [0.1, 0.2)
        link.send(0.0, payload(1250))
    link.send_burst(0.0, [100], data=False)  # a control packet: counted as a packet, not payload
    assert link.rx_bytes[0] == 9 * payload(1250) and link.rx_bytes[1] == 6 * payload(1250)
    assert link.rx_packets[0] == 9 and link.rx_packets[1] == 7


def test_random_loss_rate():
    """Independent loss p loses about p of the packets."""
    sc = scenario([{"name": "a", "capacity_bps": 100_000_000, "loss": 0.1, "queue_bytes": 10**9}])
    link = SimLink(sc, 0, 7)
    lost = sum(link.send(i * 0.001, payload(1000)) is None for i in range(20000))
    assert lost / 20000 == pytest.approx(0.1, abs=0.01)


def test_gilbert_elliott_losses_come_in_bursts():
    """Gilbert-Elliott loss has the configured mean and longer runs than independent loss."""
    ge = {"p_good_bad": 0.01, "p_bad_good": 0.2, "loss_bad": 1.0}
    sc = scenario([{"name": "a", "capacity_bps": 100_000_000, "gilbert": ge, "queue_bytes": 10**9}])
    link = SimLink(sc, 0, 3)
    lost = [link.send(i * 0.001, payload(1000)) is None for i in range(50000)]
    rate = sum(lost) / len(lost)
    assert rate == pytest.approx(0.01 / (0.01 + 0.2), rel=0.2)
    runs, cur = [], 0
    for x in lost:
        if x:
            cur += 1
        elif cur:
            runs.append(cur)
            cur = 0
    assert sum(runs) / len(runs) == pytest.approx(5.0, rel=0.25)  # mean burst 1 / p_bad_good


def test_rist_stats_report_send_rate_not_capacity():
    """librist's bandwidth is an EWMA (1/8) of what we sent; quality counts retransmissions."""
    c = RistStatsCounter()
    for _ in range(100):
        c.on_send(1250)
    c.on_echo_reply(50.0)
    s1 = c.sample(0.1, 0.1)
    assert s1.bandwidth_bps == pytest.approx(10_000_000) and s1.sent == 100
    for _ in range(10):
        c.on_send(1250)
    c.on_send(1250, retransmission=True)
    c.on_echo_reply(70.0)
    s2 = c.sample(0.2, 0.1)
    assert s2.bandwidth_bps == pytest.approx(10_000_000 + (1_100_000 - 10_000_000) / 8)
    assert s2.rtt_ms == pytest.approx(50 + 20 / 8)
    assert s2.quality == pytest.approx(100 * 10 / 11)
