"""bondlab.real.capture and the receiver report format.

Unit part (no root): locating the bonding header behind librist's headers, the BPF program,
report pack/unpack. Host part (root, no netem): a two-link Testbed, UDP datagrams carrying a
bonding header sent from the sender namespace, the capture process in the receiver namespace;
wire times are checked against the send times and the reports are received by plain sockets.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import struct
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from bondlab.core.trains import train_rate_bps
from bondlab.real import capture
from bondlab.real.capture import WIRE_DTYPE, bpf_program, clock_offset
from bondlab.real.capture_batch import PacketBatch
from bondlab.real.protocol import (
    REPORT_BYTES,
    RR_BASE_PORT,
    WARMUP_FRAME_ID,
    WARMUP_SEQ0,
    BondHeader,
    ReceiverReport,
    find_header,
    pack,
    pack_report,
    unpack_report,
)

# librist 0.2.7 main profile in front of the payload: GRE 4 (0x88B6) + virtual ports 4 + RTP 12
LIBRIST_PREFIX = bytes.fromhex("000088b6") + bytes.fromhex("800007b1") + bytes(12)


def ip_udp(payload: bytes, dport: int = 6000) -> bytes:
    """An IPv4/UDP packet around `payload` (checksums left 0: nothing here checks them)."""
    total = 20 + 8 + len(payload)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 1, 0, 64, 17, 0, bytes(4), bytes(4))
    return ip + struct.pack("!HHHH", 40000, dport, 8 + len(payload), 0) + payload


def parse_packets(*packets: bytes, hint: int = -1) -> list[tuple | None]:
    """The C batch reader over packets sent through a datagram socketpair (the capture socket's
    SOCK_DGRAM view starts at the IP header too): per packet (seq, frame_id, capture_t, write_t,
    ip_len, payload bytes, header offset in the UDP payload), or None without a bonding header."""
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    with a, b:
        b.setblocking(False)
        for pkt in packets:
            a.send(pkt)
        batch = PacketBatch(size=len(packets) + 1)
        batch.hint = hint
        n = batch.drain(b)
        assert batch.drain(b) == 0  # drained
    out: list[tuple | None] = []
    for k in range(n):
        if batch.at[k] < 0:
            out.append(None)
            continue
        cols = (
            batch.seq,
            batch.frame_id,
            batch.capture_t,
            batch.write_t,
            batch.ip_len,
            batch.payload,
            batch.at,
        )
        out.append(tuple(col[k].item() for col in cols))
    return out


def test_header_found_behind_librists_headers() -> None:
    h = BondHeader(77, 5, 1.5, 3, 1, False, 1, 3948)
    payload = pack(h, 1316, write_t=2.25)
    pkt = ip_udp(LIBRIST_PREFIX + payload)
    assert find_header(LIBRIST_PREFIX + payload) == 20
    (got,) = parse_packets(pkt)  # the whole packet: C keeps the first SNAP_BYTES
    seq, fid, capture_t, write_t, ip_len, nbytes, at = got
    assert (seq, fid, capture_t, write_t, at) == (77, 5, 1.5, 2.25, 20)
    assert ip_len == 20 + 8 + 20 + 1316 and nbytes == 1316 and ip_len - nbytes == 48
    # a wrong hint falls back to the search; a right one is used
    assert parse_packets(pkt, hint=4)[0][6] == 20
    assert parse_packets(pkt, hint=20)[0][0] == 77
    # a 64-bit sequence number and the largest frame id survive
    big = pack(BondHeader(2**62 + 3, 2**32 - 1, -1.0, 1, 0, True, 0, 1), 200, write_t=0.5)
    assert parse_packets(ip_udp(LIBRIST_PREFIX + big))[0][:4] == (2**62 + 3, 2**32 - 1, -1.0, 0.5)


def test_foreign_or_truncated_packets_are_not_matched() -> None:
    rtcp = ip_udp(LIBRIST_PREFIX[:8] + bytes.fromhex("80c80006") + bytes(40))
    short = ip_udp(LIBRIST_PREFIX + pack(BondHeader(1, 1, 0.0, 1, 0, False, 0, 100), 100, 0.0))
    ours = ip_udp(LIBRIST_PREFIX + pack(BondHeader(9, 2, 0.0, 1, 0, False, 0, 100), 100, 0.0))
    got = parse_packets(rtcp, short[: 20 + 8 + 20 + 10], ours)  # the header cut by the snap length
    assert got[0] is None and got[1] is None and got[2][0] == 9
    assert find_header(b"x" * 200) == -1


def test_bpf_program_jumps_stay_inside_and_end_in_returns() -> None:
    prog = bpf_program(6000, 6003, 128)
    for i, (code, jt, jf, _k) in enumerate(prog):
        if code & 0x07 == 0x05:  # jumps
            assert i + 1 + max(jt, jf) < len(prog)
    assert prog[-1] == (0x06, 0, 0, 0) and prog[-2] == (0x06, 0, 0, 128)
    assert (0x35, 0, 2, 6000) in prog and (0x25, 1, 0, 6003) in prog


def test_report_round_trip_and_rejects() -> None:
    r = ReceiverReport(3, 17, 1234.5, 10_000_000_000, 123456, 1234.375, 3.25e12, 0.0078125, 987654, 0.5)
    data = pack_report(r)
    assert len(data) == REPORT_BYTES == struct.calcsize("!4sHIdQQdddQd")
    assert unpack_report(data) == r
    assert unpack_report(pack_report(ReceiverReport(0, 1, 1.0, 0, 0, 0.0))).train_sxx == 0.0
    with pytest.raises(ValueError):
        unpack_report(b"XXXX" + data[4:])
    with pytest.raises(ValueError):
        unpack_report(data[:-1])
    with pytest.raises(ValueError):
        unpack_report(pack(BondHeader(1, 1, 0.0, 1, 0, False, 0, 1), 100, 0.0)[:REPORT_BYTES])


class FakePacketSocket:
    """Stands for a capture packet socket: a datagram socketpair whose reading end the C batch
    reader drains; each packet's kernel timestamp (which a socketpair cannot fake) is replaced
    by the wire time it was pushed with, in order (see `stamped_drain`)."""

    def __init__(self) -> None:
        self._pair = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._pair[1].setblocking(False)
        self._pair[0].setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 22)
        self._pair[1].setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        self.stamps: list[int] = []

    def push(self, pkt: bytes, wire_t: float, offset: float) -> None:
        self.stamps.append(round((wire_t + offset) * 1e9))
        self._pair[0].send(pkt[: capture.SNAP_BYTES])

    def fileno(self) -> int:
        return self._pair[1].fileno()

    def close(self) -> None:
        for s in self._pair:
            s.close()


class FakeReportSocket:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def sendto(self, data: bytes, _addr: object) -> None:
        self.sent.append(data)

    def close(self) -> None:
        pass


@pytest.mark.parametrize("trains", [True, False], ids=["trains", "no-trains"])
def test_capture_reports_train_rates_from_jittered_reordered_arrivals(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, trains: bool
) -> None:
    """WireCapture's own drain/send_reports/save on packets from fake sockets: each link's trains
    (one frame's packets on it, leaving the bottleneck at the link's rate, each arrival moved by
    uniform +-5 ms so they reorder) come back in the reports as sums whose rate is the link's;
    warm-up packets and same-link duplicates feed no train; before any data the sums are 0. With
    `trains` off (a rate controller that reads none) the bytes are counted and no train is timed."""
    fakes = {"rx0": FakePacketSocket(), "rx1": FakePacketSocket()}
    monkeypatch.setattr(capture, "open_socket", lambda dev, _lo, _hi: fakes[dev])
    real_drain = PacketBatch.drain

    def stamped_drain(batch: PacketBatch, sock: FakePacketSocket) -> int:
        n = real_drain(batch, sock)
        batch.realtime_ns[:n] = sock.stamps[:n]
        del sock.stamps[:n]
        return n

    monkeypatch.setattr(PacketBatch, "drain", stamped_drain)
    links = [{"dev": d, "sender_ip": "127.0.0.1", "receiver_ip": "127.0.0.1"} for d in fakes]
    cap = capture.WireCapture(links, 6000, 6003, trains=trains)
    for s in cap.report_socks:
        s.close()
    cap.report_socks = [FakeReportSocket(), FakeReportSocket()]
    socks = list(fakes.values())

    def drain_and_report() -> list:
        for i in range(2):
            while cap.drain(i) == 256:
                pass
        cap.send_reports()
        return [unpack_report(rs.sent[-1]) for rs in cap.report_socks]

    def packet(seq: int, fid: int, link: int) -> bytes:
        return ip_udp(
            LIBRIST_PREFIX + pack(BondHeader(seq, fid, 0.0, 26, 0, False, link, 26 * 1316), 1316, 0.0)
        )

    assert all(r.train_sxx == r.train_sxy == 0.0 for r in drain_and_report())
    t0 = time.monotonic() - 100.0  # every wire time is in the past: a report's flush closes the last train
    # warm-up: a train's worth of packets on link 0, much faster than the link; then a report
    for k in range(12):
        socks[0].push(packet(WARMUP_SEQ0 + k, WARMUP_FRAME_ID, 0), t0 + 0.0001 * k, cap.offset)
    warm = drain_and_report()
    assert warm[0].packets == 12 and warm[0].payload_bytes == 0
    assert all(r.train_sxx == r.train_sxy == 0.0 for r in warm)
    # frames every 100 ms: 16 packets to link 0 at 10 Mbps, then 10 to link 1 at 4 Mbps
    rng = random.Random(3)
    rates, per_link, frames = (10e6, 4e6), (16, 10), 150
    seq = 0
    for f in range(frames):
        start = t0 + 1.0 + 0.1 * f
        for link in (0, 1):
            arrivals = []
            for k in range(per_link[link]):
                t = start + (k + 1) * 1316 * 8 / rates[link] + rng.uniform(-0.005, 0.005)
                arrivals.append((t, seq))
                seq += 1
            if f % 5 == 0 and link == 0:  # a spurious retransmission, during the train
                arrivals.append((start + 0.012, arrivals[0][1]))
            for t, s in sorted(arrivals):
                socks[link].push(packet(s, f, link), t, cap.offset)
    last = drain_and_report()
    if not trains:
        assert [r.payload_bytes for r in last] == [1316 * frames * n for n in per_link]
        assert all(r.train_sxx == r.train_bytes == 0 for r in last)
        assert [c.meter.trains for c in cap.counters] == [0, 0]
        cap.close()
        return
    for link in (0, 1):
        assert last[link].payload_bytes == 1316 * frames * per_link[link]
        assert cap.counters[link].meter.trains == frames
        got = train_rate_bps(
            last[link].train_sxx - warm[link].train_sxx, last[link].train_sxy - warm[link].train_sxy
        )
        assert got is not None and abs(got / rates[link] - 1) < 0.05, (link, got)
    assert cap.counters[0].duplicates == frames // 5
    monkeypatch.setattr(cap, "kernel_drops", lambda: [0, 0])
    capture.save(cap, tmp_path, 0.0, 1.0)
    assert json.loads((tmp_path / "wire.json").read_text())["trains"] == [frames, frames]
    cap.close()


def test_the_capture_times_trains_only_for_a_rate_controller_that_reads_them() -> None:
    from bondlab.real.runner import reads_trains
    from bondlab.scenario import load_scenario

    seed = ROOT / "scenarios" / "seed-asymmetric.yaml"
    assert reads_trains(load_scenario(seed, ["bonding.rate_controller=forecast"]))
    assert not reads_trains(load_scenario(seed))  # headroom, the default
    assert not reads_trains(load_scenario(seed, ["bonding.rate_control=false"]))


def test_clock_offset_is_realtime_minus_monotonic() -> None:
    off = clock_offset()
    assert abs(time.clock_gettime(time.CLOCK_REALTIME) - time.monotonic() - off) < 1e-3


# ---------------------------------------------------------------------------------------------
# Host test: capture in a real receiver namespace

ROOT = Path(__file__).resolve().parents[2]
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")


def _send_and_listen(ends: list[tuple[str, str]], n: int) -> tuple[list[tuple[int, int, float]], list[bytes]]:
    """In the sender namespace: listen for reports, send n bonded datagrams (plus one duplicate on
    its own link, a copy of seq 2 on the other link, one foreign datagram in range and one bonded
    datagram to a port outside it), then collect
    reports for a while. Returns ([(seq, link, send time)], [report datagrams])."""
    listeners = []
    for i, (sender_ip, _rx_ip) in enumerate(ends):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((sender_ip, RR_BASE_PORT + i))
        s.setblocking(False)
        listeners.append(s)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sent = []
    for seq in range(n):
        link = seq % 2
        t = time.monotonic()
        payload = LIBRIST_PREFIX + pack(BondHeader(seq, seq // 4, t, 4, seq % 4, False, link, 4000), 1000, t)
        tx.sendto(payload, (ends[link][1], 6000 + 2 * link))
        sent.append((seq, link, t))
        time.sleep(0.003)
    tx.sendto(
        LIBRIST_PREFIX + pack(BondHeader(3, 0, 0.0, 4, 3, False, 1, 4000), 1000, 0.0), (ends[1][1], 6002)
    )
    tx.sendto(  # a reinjected copy: seq 2 went on link 0, this one on link 1
        LIBRIST_PREFIX + pack(BondHeader(2, 0, 0.0, 4, 2, False, 1, 4000), 1000, 0.0), (ends[1][1], 6002)
    )
    tx.sendto(b"\x80" * 60, (ends[0][1], 6000))
    tx.sendto(
        LIBRIST_PREFIX + pack(BondHeader(10**6, 9, 0.0, 1, 0, False, 0, 1), 1000, 0.0), (ends[0][1], 6100)
    )
    got: list[bytes] = []
    end = time.monotonic() + 0.6
    while time.monotonic() < end:
        for s in listeners:
            try:
                got.append(s.recv(256))
            except BlockingIOError:
                pass
        time.sleep(0.005)
    return sent, got


@needs_root
def test_capture_matches_packets_times_them_and_reports_back(tmp_path: Path) -> None:
    from bondlab.real.netns import Testbed

    n = 200
    with Testbed(["a", "b"]) as tb:
        ends = [tb.links[x] for x in ("a", "b")]
        cfg = {
            "capture": {
                "links": [
                    {"dev": e.receiver_dev, "sender_ip": e.sender_ip, "receiver_ip": e.receiver_ip}
                    for e in ends
                ],
                "port_lo": 6000,
                "port_hi": 6003,
                "interval_s": 0.05,
            }
        }
        (tmp_path / "cfg.json").write_text(json.dumps(cfg))
        proc = tb.popen(
            "receiver",
            [sys.executable, "-m", "bondlab.real.capture", str(tmp_path / "cfg.json"), str(tmp_path)],
            cwd=ROOT,
        )
        deadline = time.monotonic() + 30
        while not (tmp_path / "capture.ready").exists():
            assert proc.poll() is None and time.monotonic() < deadline, "capture did not start"
            time.sleep(0.02)
        sent, reports = tb.call(
            "sender", _send_and_listen, [(e.sender_ip, e.receiver_ip) for e in ends], n, timeout=30
        )
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    wire = np.load(tmp_path / "wire.npy")
    info = json.loads((tmp_path / "wire.json").read_text())
    assert wire.dtype == np.dtype(WIRE_DTYPE)
    assert sorted(wire["seq"].tolist()) == list(range(n))  # nothing foreign, nothing out of range
    by_seq = {int(r["seq"]): r for r in wire}
    lags = []
    for seq, link, t in sent:
        r = by_seq[seq]
        assert r["link"] == link and r["frame_id"] == seq // 4 and r["write_t"] == r["capture_t"] == t
        assert r["ip_len"] == 20 + 8 + 20 + 1000 and r["payload"] == 1000
        lags.append(r["wire_t"] - t)
    assert min(lags) > -0.0005 and np.median(lags) < 0.002 and max(lags) < 0.01, lags
    assert info["duplicates"] == [0, 2] and info["other_packets"] == [1, 0]
    assert info["header_offsets"] == [20] and info["kernel_drops"] == [0, 0]
    assert info["trains"] == [n // 4, n // 4]  # two packets per frame on each link: a pair each
    # reports: every link, to its own sender address, cumulative and ending with all of it:
    # payload bytes of each packet's first arrival on that link (the copy of seq 2 counts on
    # link 1 too, the same-link duplicate does not), packets of any kind (the foreign one on
    # link 0, the duplicate and the copy on 1)
    parsed = [unpack_report(d) for d in reports]
    for link in (0, 1):
        mine = [r for r in parsed if r.link == link]
        assert len(mine) >= 3
        assert [r.number for r in mine] == sorted(r.number for r in mine)
        assert all(a.packets <= b.packets for a, b in zip(mine, mine[1:]))
        last = mine[-1]
        rows = wire[wire["link"] == link]
        assert len(rows) == n // 2 and last.packets == n // 2 + 1 + link
        assert last.payload_bytes == 1000 * (n // 2 + link) == info["payload_bytes"][link]
        assert 0 < last.last_arrival_t - rows["wire_t"].max() < 0.1  # the extra packet came last
        assert 0 < time.monotonic() - last.send_t < 30
        # each pair's second packet, in the reports up to the last (its last pair may still be open)
        assert 1000 * (n // 4 - 1) <= last.train_bytes <= 1000 * n // 4 and last.train_span_s > 0.0
