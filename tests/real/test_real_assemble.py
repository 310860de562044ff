"""How a real run's raw files become metrics: the bonding header, and judging packets on the wire."""

import json

import numpy as np
import pandas as pd
import pytest

from bondlab.real.assemble import assemble
from bondlab.real.capture import WIRE_DTYPE
from bondlab.real.protocol import HEADER_BYTES, BondHeader, pack, unpack
from bondlab.real.receiver import ARRIVAL_DTYPE
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


def write_raw(raw, wire_delay, delivered, link=None, scheduler="dwrr"):
    """One-packet frames captured every 1/30 s; packet i reached the wire `wire_delay[i]` s after
    its capture (written 0.3 s after capture: a lagging sender) on link `link[i]`; librist
    delivered it iff `delivered[i]`, 0.8 s after its write (its schedule, not the network's)."""
    raw.mkdir()
    n = len(wire_delay)
    link = link or [0] * n
    frames = [[i, i / 30, i == 0, 1, 1000] for i in range(n)]  # from the sender's start, t0 = 100
    wire = [
        (i, i, link[i], 100.0 + i / 30 + d, 100.0 + i / 30, 100.0 + i / 30 + 0.3, 1048, 1000)
        for i, d in enumerate(wire_delay)
    ]
    rows = [(i, i, 100.0 + i / 30 + 1.1, link[i], 100.0 + i / 30 + 0.3) for i in range(n) if delivered[i]]
    (raw / "inner.json").write_text(json.dumps({"scheduler": scheduler}))
    (raw / "frames.json").write_text(json.dumps(frames))
    (raw / "sender.json").write_text(
        json.dumps(
            {
                "packets_sent": n + 1,  # one more never reached the wire
                "dropped_at_sender": 0,
                "retransmissions": 0,
                "link_bytes": [0, 1000 * n],  # what the sender thinks: not used
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
                "t": [0.1, 0.1, 0.2, 0.2],
                "link": ["lte-a", "lte-b", "lte-a", "lte-b"],
                "bitrate_bps": [6e6] * 4,
                "est_capacity_bps": [1] * 4,
            }
        )
    )
    np.save(raw / "arrivals.npy", np.array(rows, dtype=ARRIVAL_DTYPE))
    np.save(raw / "wire.npy", np.array(wire, dtype=WIRE_DTYPE))
    (raw / "wire.json").write_text(json.dumps({"cpu_s": 0.1, "cpu_cores": 0.01, "duplicates": [2, 0]}))


def test_arrival_is_the_wire_time_and_librist_must_deliver(tmp_path):
    """On time iff librist delivered the packet and it reached the wire by capture + latency
    (800 ms): the sender's lag and librist's release time do not matter, the wire does."""
    sc = load_scenario(SCENARIOS / "seed-asymmetric.yaml", ["duration_s=2"])
    delays = [0.05] * 20 + [0.79, 0.81, 0.05, 2.0]
    delivered = [True] * 22 + [False, True]
    write_raw(tmp_path / "raw", delays, delivered, link=[0] * 12 + [1] * 12)
    out = assemble(sc, tmp_path / "raw")
    metrics, ts, delays_ms = out["metrics"], out["timeseries"], out["delays_ms"]
    # 21 on time: 20 fast + the 790 ms one; 810 ms is late; the fast undelivered one is not on time
    assert metrics["frames_total"] == 24 and metrics["frames_on_time"] == 21
    assert metrics["decodable_ratio"] == pytest.approx(21 / 24)
    assert sorted(delays_ms.round(3).tolist()) == sorted([d * 1000 for d in delays])
    assert metrics["p50_delay_ms"] == pytest.approx(50.0)
    assert metrics["packets_lost"] == 1  # sent but never on the wire
    # per-link bytes are what the wire saw, not what sender.json claims
    assert metrics["links"]["lte-a"]["bytes_sent"] == 12_000 and metrics["links"]["lte-b"]["share"] == 0.5
    wire = metrics["real"]["wire"]
    assert wire["ip_overhead_bytes"] == 48 and wire["on_wire_not_delivered"] == 1
    assert wire["delivered_not_on_wire"] == 0 and wire["duplicates"] == 2
    assert metrics["real"]["frames_behind_real_time"] == 24
    # frames.parquet: each frame's outcome on the run's clock (capture less the sender's start)
    frames = out["frames"]
    assert frames.t.to_numpy() == pytest.approx([i / 30 for i in range(24)])
    assert frames.on_time.tolist() == [True] * 21 + [False] * 3
    assert frames.decodable.sum() == metrics["frames_decodable"]
    # each delay's packet capture time, on the same clock and in the same order
    assert sorted(zip(out["delay_capture_s"].round(4), delays_ms.round(3))) == sorted(
        zip(np.round([i / 30 for i in range(24)], 4), [d * 1000 for d in delays])
    )
    table = pd.read_parquet(tmp_path / "raw" / "wire.parquet")
    assert len(table) == 24 and int(table.on_time.sum()) == 21
    assert list(table.link.cat.categories) == ["lte-a", "lte-b"]
    assert set(ts.columns) >= {"t", "link", "capacity_bps", "queue_bytes", "up", "wire_bps"}
    # lte-a: frames 0..2 (captured at 0, 1/30, 2/30 s, on the wire 50 ms later) by t=0.1
    first = ts[(ts.t == 0.1) & (ts.link == "lte-a")].wire_bps.item()
    assert first == pytest.approx(2 * 1000 * 8 / 0.1)  # frame 2 arrives at 0.1167 s: next interval


def test_delivered_packet_missing_from_the_wire_arrives_at_release(tmp_path):
    """If the capture missed a packet librist delivered, its release time bounds the arrival."""
    sc = load_scenario(SCENARIOS / "seed-asymmetric.yaml", ["duration_s=2"])
    write_raw(tmp_path / "raw", [0.05, 0.05], [True, True])
    wire = np.load(tmp_path / "raw" / "wire.npy")
    np.save(tmp_path / "raw" / "wire.npy", wire[:1])
    metrics = assemble(sc, tmp_path / "raw")["metrics"]
    assert metrics["real"]["wire"]["delivered_not_on_wire"] == 1
    assert metrics["frames_on_time"] == 1  # released 1.1 s after capture: late


def test_buffer_is_the_latency_less_the_links_base_delay():
    """Each link's librist buffer leaves the sim's budget: latency minus that link's one-way delay."""
    from bondlab.real.runner import buffer_ms

    sc = load_scenario(SCENARIOS / "seed-asymmetric.yaml")
    assert [buffer_ms(sc, i) for i in range(2)] == [800 - 30, 800 - 45]
