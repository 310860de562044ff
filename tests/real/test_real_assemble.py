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


def write_raw(raw, release_after_write, scheduler="dwrr"):
    """One-packet frames, each written 0.3 s after capture (a lagging sender), released by librist
    `release_after_write[i]` seconds after its write."""
    raw.mkdir()
    n = len(release_after_write)
    frames = [[i, i / 30, i == 0, 1, 1000] for i in range(n)]
    rows = [
        (i, i, 100.0 + i / 30 + 0.3 + rel, 0, 100.0 + i / 30 + 0.3)
        for i, rel in enumerate(release_after_write)
    ]
    (raw / "inner.json").write_text(json.dumps({"scheduler": scheduler}))
    (raw / "frames.json").write_text(json.dumps(frames))
    (raw / "sender.json").write_text(
        json.dumps(
            {
                "packets_sent": n,
                "dropped_at_sender": 0,
                "retransmissions": 0,
                "link_bytes": [1000 * n, 0],
                "messages": [],
                "cpu_s": 1.0,
                "wall_s": 2.0,
                "cpu_cores": 0.5,
                "frames_behind_real_time": n,
            }
        )
    )
    changes = [
        {"t": 0.0, "link": "lte-a", "capacity_bps": 1e7},
        {"t": 0.0, "link": "lte-b", "capacity_bps": 2e6},
    ]
    (raw / "shaping.json").write_text(json.dumps({"t0": 100.0, "changes": changes}))
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


def test_packets_are_judged_against_librists_release_schedule(tmp_path):
    """librist releases on a fixed schedule after the write; packets out within the tolerance of it
    are on time although the sender wrote them late, packets out later than that are late."""
    sc = load_scenario(SCENARIOS / "seed-asymmetric.yaml", ["duration_s=2"])
    tol = RELEASE_TOLERANCE_MS / 1000
    schedule = 0.831  # what librist did in the VM: buffer + the one-way delay at flow start
    releases = [schedule] * 20 + [schedule + 0.5 * tol, schedule + 2 * tol, schedule + 10 * tol]
    write_raw(tmp_path / "raw", releases)
    metrics, ts, _messages, delays = assemble(sc, tmp_path / "raw")
    assert metrics["frames_total"] == 23 and metrics["frames_on_time"] == 21
    assert metrics["real"]["frames_behind_real_time"] == 23
    assert set(ts.columns) >= {"t", "link", "capacity_bps", "queue_bytes", "up"}


def test_buffer_is_the_latency_less_the_links_base_delay():
    """Each link's librist buffer leaves the sim's budget: latency minus that link's one-way delay."""
    from bondlab.real.runner import buffer_ms

    sc = load_scenario(SCENARIOS / "seed-asymmetric.yaml")
    assert [buffer_ms(sc, i) for i in range(2)] == [800 - 30, 800 - 45]
