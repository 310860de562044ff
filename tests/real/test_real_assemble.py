"""How a real run's raw files become metrics: the bonding header, and judging packets from their write."""

import json

import numpy as np
import pytest

from bondlab.real.protocol import HEADER_BYTES, BondHeader, pack, unpack
from bondlab.real.receiver import ARRIVAL_DTYPE
from bondlab.real.runner import RELEASE_TOLERANCE_MS, assemble
from bondlab.scenario import load_scenario

from conftest import SCENARIOS


def test_header_round_trip_and_padding():
    """Every field survives pack/unpack, and the payload has the encoder model's size."""
    h = BondHeader(123456789, 42, 17.25, 9, 3, True, 1, 12345)
    payload = pack(h, 1316, write_t=17.5)
    assert len(payload) == 1316 and HEADER_BYTES < 100
    back = unpack(payload)
    assert back == BondHeader(123456789, 42, 17.25, 9, 3, True, 1, 12345, write_t=17.5)


def test_foreign_payload_is_rejected():
    """A payload without the magic is not ours."""
    with pytest.raises(ValueError):
        unpack(b"x" * 200)


def write_raw(raw, release_after_write):
    """Two one-packet frames written 0.3 s late (a lagging sender), released after the write."""
    raw.mkdir()
    frames = [[0, 0.0, True, 1, 1000], [1, 1.0, False, 1, 1000]]
    rows = [
        (0, 0, 100.0 + 0.3 + release_after_write[0], 0, 100.3),
        (1, 1, 101.0 + 0.3 + release_after_write[1], 0, 101.3),
    ]
    (raw / "frames.json").write_text(json.dumps(frames))
    (raw / "sender.json").write_text(
        json.dumps(
            {
                "packets_sent": 2,
                "dropped_at_sender": 0,
                "retransmissions": 0,
                "link_bytes": [2000, 0],
                "messages": [],
                "cpu_s": 1.0,
                "wall_s": 2.0,
                "cpu_cores": 0.5,
                "frames_behind_real_time": 2,
            }
        )
    )
    (raw / "shaping.json").write_text(
        json.dumps(
            {
                "t0": 100.0,
                "changes": [
                    {"t": 0.0, "link": "lte-a", "capacity_bps": 1e7},
                    {"t": 0.0, "link": "lte-b", "capacity_bps": 2e6},
                ],
            }
        )
    )
    (raw / "sender-timeseries.json").write_text(
        json.dumps(
            {
                "t": [0.1, 0.1],
                "link": ["lte-a", "lte-b"],
                "bitrate_bps": [6e6, 6e6],
                "est_capacity_bps": [1, 1],
            }
        )
    )
    np.save(raw / "arrivals.npy", np.array(rows, dtype=ARRIVAL_DTYPE))


def test_packets_are_judged_from_their_write_not_the_senders_lag(tmp_path):
    """Released within buffer + tolerance of the write: on time, even though the sender wrote late;
    released later than that: late."""
    sc = load_scenario(SCENARIOS / "seed-asymmetric.yaml", ["duration_s=2"])
    latency = sc.receiver.latency_ms / 1000
    tol = RELEASE_TOLERANCE_MS / 1000
    write_raw(tmp_path / "raw", [latency + tol * 0.5, latency + tol * 1.5])
    metrics, ts, _messages, delays = assemble(sc, tmp_path / "raw")
    assert metrics["frames_total"] == 2 and metrics["frames_on_time"] == 1
    assert metrics["real"]["frames_behind_real_time"] == 2
    assert set(ts.columns) >= {"t", "link", "capacity_bps", "queue_bytes", "up"}
