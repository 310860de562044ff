"""Failures the property campaign found (`pytest -m property --hypothesis-profile=long`), each
minimised and pinned as a plain test (docs/testing.md, "Property tests")."""

from __future__ import annotations

import pytest

from bondlab.scenario import parse_scenario
from bondlab.schedulers import SCHEDULERS
from bondlab.sim.link import SimLink
from bondlab.sim.runner import SimRun
from bondlab.wire import ECHO_BYTES

from conftest import SCENARIOS

SIM_SCHEDULERS = sorted(n for n, i in SCHEDULERS.items() if "sim" in i.backends)


def _one_packet_queue_on_a_trace() -> dict:
    """The campaign's minimal case (oracle, 2026-11-26): one trace link read from 30 s in, a queue
    of one packet (1500 bytes), 1 ms of jitter, a constant 100 kbps encoder, one second."""
    return {
        "name": "generated",
        "duration_s": 1.0,
        "seed": 0,
        "encoder": {
            "min_bitrate_bps": 100_000,
            "max_bitrate_bps": 100_000,
            "start_bitrate_bps": 100_000,
            "gop_frames": 1,
        },
        "receiver": {"latency_ms": 50.0},
        "bonding": {"rate_control": False, "headroom": 1.0},
        "links": [
            {
                "name": "l0",
                "trace": str(SCENARIOS / "traces" / "synth-s11-x3.up"),
                "trace_offset_s": 30.0,
                "delay_ms": 0.0,
                "jitter_ms": 1.0,
                "loss": 0.0,
                "queue_bytes": 1500,
            }
        ],
        "events": [],
    }


@pytest.mark.parametrize("scheduler", SIM_SCHEDULERS)
def test_a_one_packet_queue_on_a_trace_runs(scheduler: str) -> None:
    """Found with the oracle: the echo process read `link.send_burst(now, (ECHO_BYTES,))[0]` and
    got an empty list (IndexError inside SimPy). Seen while bondlab/sim was being edited in the
    working tree; it did not reproduce on HEAD nor on the tree an hour later, so this pins it."""
    sc = parse_scenario(_one_packet_queue_on_a_trace(), "generated.yaml", SCENARIOS, "generated")
    metrics = SimRun(sc, scheduler).run().metrics
    assert 0.0 <= metrics["decodable_ratio"] <= metrics["on_time_ratio"] <= 1.0


def test_send_burst_answers_every_packet_of_a_full_one_packet_queue() -> None:
    """The same link at the level the failure was: a burst of n packets gets n answers (an arrival
    or None), also when the queue is full and the link's state was read ahead of `t` (as the oracle
    reads it), for echoes (whole IP packets) and data alike."""
    sc = parse_scenario(_one_packet_queue_on_a_trace(), "generated.yaml", SCENARIOS, "generated")
    link = SimLink(sc, 0, seed=0)
    t = 0.0
    for step in range(400):
        t = step * 0.005
        link.state(t + 0.5)  # a look ahead, as the oracle's truth does
        assert len(link.send_burst(t, (ECHO_BYTES,), data=False)) == 1
        assert len(link.send_burst(t, (1316, 1316, 1316))) == 3
        link.state(t)
        assert len(link.send_burst(t, (ECHO_BYTES,), data=False)) == 1
