"""Wire capture in the receiver namespace: when each data packet first reached the receiver, on
which link, and receiver reports back to the sender over every link.

One AF_PACKET socket per receiver-side veth (SOCK_DGRAM, ETH_P_IP, bound to that interface) sees
every IP packet arriving there, before librist's receiver does. A classic BPF filter keeps only
incoming (PACKET_HOST) unfragmented UDP to the librist ports and trims each packet to SNAP_BYTES,
so the kernel copies ~128 bytes per data packet and nothing else wakes this process. The bonding
header (protocol.py, magic b"BLB2") sits after librist's own headers in the UDP payload; its
offset is measured on the first packet and checked on each one (searched again if it moves).
Packets are read and parsed in batches by C (real/capture_batch.py: recvmmsg), counted per batch
here: the TCG VM has no CPU for a Python recvmsg and parse per packet.

Timestamps: SO_TIMESTAMPNS gives the kernel's receive time of each packet (stamped when the veth
hands it to the stack, i.e. after the uplink's netem and htb), on CLOCK_REALTIME. The bonding
header's capture_t/write_t and librist's output times are CLOCK_MONOTONIC of the same kernel
(namespaces share the clocks). Both clocks advance from the same timekeeping core at the same
NTP-adjusted rate, so realtime - monotonic is a constant offset that changes only when someone
steps the wall clock (settimeofday/adjtimex, never during a run in the VM). `clock_offset()`
measures it as the tightest of a few realtime/monotonic/realtime brackets (error < 1 us on the
host); it is re-measured every report interval and the latest value converts each stamp.

Receiver reports (protocol.pack_report): every stats interval, one UDP datagram per link from
the link's receiver address to its sender address, port RR_BASE_PORT + link index: cumulative
distinct bonding payload bytes, packets of any kind that reached librist's port on that link
(data, retransmissions, librist's control packets: a link the scheduler gives no data still
proves it is alive, as in the sim), the wire time of the latest of them, and the link's
packet-train dispersion sums: one `core.trains.TrainMeter` per link is fed each data packet
counted in the payload bytes (first arrival on the link, not warm-up) with its wire time, and
flushed before each report so the last train before a pause counts too. They leave by the
link's own veth, so the reverse netem delays, loses and blacks them out as it does librist's
NACKs and echoes. Values are cumulative, so a lost report only costs freshness.

`python -m bondlab.real.capture CONFIG.json OUT_DIR` (in the receiver namespace) runs until SIGTERM
and writes OUT_DIR/wire.npy (first arrival per bonding seq, WIRE_DTYPE) and wire.json (per-link
duplicates, packets without a bonding header, packet trains counted, kernel drops, reports sent,
own CPU use), each atomically (tmp + rename).
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import resource
import select
import signal
import socket
import struct
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bondlab.core.trains import TrainMeter
from bondlab.real.capture_batch import SNAP_BYTES, PacketBatch
from bondlab.real.protocol import RR_BASE_PORT, WARMUP_FRAME_ID, ReceiverReport, pack_report

log = logging.getLogger("bondlab.real.capture")

WIRE_DTYPE = [
    ("seq", "i8"),
    ("frame_id", "i8"),
    ("link", "i2"),
    ("wire_t", "f8"),  # CLOCK_MONOTONIC s, first arrival on the wire
    ("capture_t", "f8"),  # the frame's capture time (bonding header, CLOCK_MONOTONIC)
    ("write_t", "f8"),  # sender's CLOCK_MONOTONIC when it handed the packet to librist
    ("ip_len", "i4"),  # IP total length of that first arrival
    ("payload", "i4"),  # bonding payload bytes (UDP payload less librist's headers)
]
ETH_P_IP = 0x0800
SOL_PACKET = 263
PACKET_STATISTICS = 6
SO_TIMESTAMPNS = 35  # SO_TIMESTAMPNS_OLD: struct timespec of 64-bit fields on x86-64
SO_ATTACH_FILTER = 26
RCVBUF_BYTES = 4 << 20
_SKF_AD_PKTTYPE = -0x1000 + 4  # SKF_AD_OFF + SKF_AD_PKTTYPE (as an unsigned 32-bit offset below)


def bpf_program(port_lo: int, port_hi: int, snap: int = SNAP_BYTES) -> list[tuple[int, int, int, int]]:
    """Classic BPF (code, jt, jf, k): incoming, unfragmented IPv4 UDP to port_lo..port_hi; keep
    the first `snap` bytes. On a SOCK_DGRAM packet socket offset 0 is the IP header."""
    ret_drop = (0x06, 0, 0, 0)
    return [
        (0x20, 0, 0, _SKF_AD_PKTTYPE & 0xFFFFFFFF),  # ld pkttype
        (0x15, 0, 9, 0),  # jeq PACKET_HOST else drop
        (0x30, 0, 0, 9),  # ldb [9] (protocol)
        (0x15, 0, 7, 17),  # jeq UDP else drop
        (0x28, 0, 0, 6),  # ldh [6] (flags, fragment offset)
        (0x45, 5, 0, 0x3FFF),  # jset MF|offset -> drop
        (0xB1, 0, 0, 0),  # ldxb 4*([0]&0xf)
        (0x48, 0, 0, 2),  # ldh [x+2] (UDP destination port)
        (0x35, 0, 2, port_lo),  # jge port_lo else drop
        (0x25, 1, 0, port_hi),  # jgt port_hi -> drop
        (0x06, 0, 0, snap),  # ret snap
        ret_drop,
    ]


def attach_filter(sock: socket.socket, program: list[tuple[int, int, int, int]]) -> None:
    raw = b"".join(struct.pack("HBBI", *ins) for ins in program)
    buf = ctypes.create_string_buffer(raw, len(raw))
    fprog = struct.pack("HL", len(program), ctypes.addressof(buf))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)


def open_socket(dev: str, port_lo: int, port_hi: int) -> socket.socket:
    """A non-blocking packet socket on `dev` with kernel receive timestamps and the BPF filter."""
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_IP))
    attach_filter(sock, bpf_program(port_lo, port_hi))
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF_BYTES)
    sock.bind((dev, ETH_P_IP))
    sock.setblocking(False)
    return sock


def clock_offset(tries: int = 5) -> float:
    """CLOCK_REALTIME - CLOCK_MONOTONIC, from the tightest realtime/monotonic/realtime bracket."""
    best = (float("inf"), 0.0)
    for _ in range(tries):
        a = time.clock_gettime_ns(time.CLOCK_REALTIME)
        m = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        b = time.clock_gettime_ns(time.CLOCK_REALTIME)
        best = min(best, (b - a, ((a + b) / 2 - m) / 1e9))
    return best[1]


@dataclass
class LinkCounters:
    # What the link delivered, for the receiver reports: each data packet the first time it arrives
    # on this link, even if a copy came first on another (a reinjected copy, a duplicate). The
    # sender counts what it gave each link; a link's late originals left out of its count would
    # read as a backlog that never drains (a real run kept a 2 Mbps link idle for 9 s that way).
    packets: int = 0
    payload_bytes: int = 0  # their bonding payload bytes
    seen: set[int] = field(default_factory=set, repr=False)
    arrivals: int = 0  # every packet to librist's port: data, duplicates, control (for reports)
    last_t: float = 0.0  # wire time of the latest of those
    duplicates: int = 0
    other: int = 0  # matched the filter but carry no bonding header (librist control, keepalives)
    other_bytes: int = 0
    reports: int = 0
    # the same packets, by frame, with their wire times: the packet-train sums of the reports
    meter: TrainMeter = field(default_factory=TrainMeter, repr=False)


class WireCapture:
    """Capture on every receiver-side veth; `links`: dicts with dev, sender_ip, receiver_ip."""

    def __init__(
        self,
        links: list[dict[str, Any]],
        port_lo: int,
        port_hi: int,
        report_port: int = RR_BASE_PORT,
        trains: bool = True,
    ) -> None:
        """`trains`: time packet trains for the reports (only the forecast rule reads them, and the
        TCG VM's capture has no CPU to spare for what nobody reads)."""
        self.links = links
        self.trains = trains
        self.socks = [open_socket(link["dev"], port_lo, port_hi) for link in links]
        self.report_socks = []
        for link in links:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((link["receiver_ip"], 0))
            s.setblocking(False)
            self.report_socks.append(s)
        self.report_port = report_port
        self.by_fd = {s.fileno(): i for i, s in enumerate(self.socks)}
        self.counters = [LinkCounters() for _ in links]
        self.rows: list[tuple[int, int, int, float, float, float, int, int]] = []
        self.seen: set[int] = set()
        self.offset = clock_offset()
        self.offsets = [self.offset]
        self.header_offsets: set[int] = set()
        self.batch = PacketBatch()
        self.poller = select.poll()
        for s in self.socks:
            self.poller.register(s.fileno(), select.POLLIN)

    def drain(self, link: int, limit: int = 256) -> int:
        """Read what is queued on one link's socket (at most `limit` packets, one C call)."""
        batch = self.batch
        if batch.size != limit:
            batch = self.batch = PacketBatch(limit)
        n = batch.drain(self.socks[link])
        if n:
            self.take(link, batch, n)
        return n

    def take(self, link: int, b: PacketBatch, n: int) -> None:
        """Count a batch of packets read on one link: arrivals, first arrivals (wire rows),
        per-link distinct payload (the reports) and their trains."""
        c = self.counters[link]
        stamped = b.realtime_ns[:n]
        wire_t = np.where(stamped >= 0, stamped * 1e-9 - self.offset, time.monotonic())
        c.arrivals += n
        c.last_t = max(c.last_t, float(wire_t.max()))
        ours = b.at[:n] >= 0
        if not ours.all():
            c.other += int((~ours).sum())
            c.other_bytes += int(b.ip_len[:n][~ours].sum())
        if not ours.any():
            return
        idx = np.flatnonzero(ours)
        offsets = np.unique(b.at[idx])
        self.header_offsets.update(offsets.tolist())
        seen, rows, cseen = self.seen, self.rows, c.seen
        on_packet = c.meter.on_packet if self.trains else None
        for seq, fid, t, cap_t, write_t, ip_len, payload in zip(
            b.seq[idx].tolist(),
            b.frame_id[idx].tolist(),
            wire_t[idx].tolist(),
            b.capture_t[idx].tolist(),
            b.write_t[idx].tolist(),
            b.ip_len[idx].tolist(),
            b.payload[idx].tolist(),
        ):
            if seq not in cseen and fid != WARMUP_FRAME_ID:  # warm-up: proof of life, not payload
                cseen.add(seq)
                c.packets += 1
                c.payload_bytes += payload
                if on_packet is not None:
                    on_packet(fid, seq, payload, t)
            if seq in seen:
                c.duplicates += 1
                continue
            seen.add(seq)
            rows.append((seq, fid, link, t, cap_t, write_t, ip_len, payload))

    def poll(self, timeout_s: float) -> None:
        for fd, _ev in self.poller.poll(max(timeout_s, 0.0) * 1000.0):
            self.drain(self.by_fd[fd])

    def send_reports(self) -> None:
        """One cumulative report per link to its sender address; re-measure the clock offset."""
        now = time.monotonic()
        for i, (link, c) in enumerate(zip(self.links, self.counters, strict=True)):
            c.reports += 1
            meter = c.meter
            meter.flush(now)  # the last train before a pause: nothing closes it otherwise
            data = pack_report(
                ReceiverReport(
                    i,
                    c.reports,
                    now,
                    c.payload_bytes,
                    c.arrivals,
                    c.last_t,
                    meter.sxx,
                    meter.sxy,
                    meter.span_bytes,
                    meter.span_s,
                )
            )
            try:
                self.report_socks[i].sendto(data, (link["sender_ip"], self.report_port + i))
            except OSError as exc:  # a full socket buffer or an ICMP error: the next report has it all
                log.debug("report on link %d not sent: %s", i, exc)
        self.offset = clock_offset()
        self.offsets.append(self.offset)

    def run(self, interval_s: float, stop: Any) -> None:
        """Capture and report until `stop()` is true (checked at least every interval)."""
        next_report = time.monotonic() + interval_s
        while not stop():
            self.poll(next_report - time.monotonic())
            now = time.monotonic()
            if now >= next_report:
                self.send_reports()
                next_report += interval_s
                if next_report < now:  # fell behind (a slow VM): skip, do not burst
                    next_report = now + interval_s
        for i in range(len(self.socks)):  # what is queued already arrived before the stop
            while self.drain(i) == 256:
                pass

    def wire(self) -> np.ndarray:
        return np.array(self.rows, dtype=WIRE_DTYPE)

    def kernel_drops(self) -> list[int]:
        out = []
        for s in self.socks:
            _packets, drops = struct.unpack("II", s.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8))
            out.append(drops)
        return out

    def close(self) -> None:
        for s in self.socks + self.report_socks:
            s.close()


def _atomic(path: Path, write: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        write(fh)
    os.replace(tmp, path)


def save(cap: WireCapture, out: Path, cpu_s: float, wall_s: float) -> None:
    drops = cap.kernel_drops()  # reading PACKET_STATISTICS resets them: once
    summary = {
        "packets": [c.packets for c in cap.counters],
        "arrivals": [c.arrivals for c in cap.counters],
        "payload_bytes": [c.payload_bytes for c in cap.counters],
        "duplicates": [c.duplicates for c in cap.counters],
        "trains": [c.meter.trains for c in cap.counters],
        "other_packets": [c.other for c in cap.counters],
        "other_bytes": [c.other_bytes for c in cap.counters],
        "reports_sent": [c.reports for c in cap.counters],
        "kernel_drops": drops,
        "header_offsets": sorted(cap.header_offsets),
        "clock_offset_spread_us": round((max(cap.offsets) - min(cap.offsets)) * 1e6, 3),
        "cpu_s": round(cpu_s, 3),
        "wall_s": round(wall_s, 3),
        "cpu_cores": round(cpu_s / wall_s, 4) if wall_s > 0 else None,
    }
    _atomic(out / "wire.npy", lambda fh: np.save(fh, cap.wire()))
    _atomic(out / "wire.json", lambda fh: fh.write(json.dumps(summary, indent=1).encode()))


def main(argv: list[str] | None = None) -> int:
    """`python -m bondlab.real.capture CONFIG.json OUT_DIR`: capture until SIGTERM, then write wire.*."""
    args = sys.argv[1:] if argv is None else argv
    config = json.loads(Path(args[0]).read_text())
    out = Path(args[1])
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        handlers=[logging.FileHandler(out / "capture.log")],
    )
    cfg = config["capture"]
    stopped = []
    signal.signal(signal.SIGTERM, lambda *_: stopped.append(1))
    signal.signal(signal.SIGINT, lambda *_: stopped.append(1))
    try:
        cap = WireCapture(
            cfg["links"],
            cfg["port_lo"],
            cfg["port_hi"],
            cfg.get("report_port", RR_BASE_PORT),
            cfg.get("trains", True),
        )
    except OSError as exc:  # one line for the orchestrator, the traceback in capture.log
        log.exception("capture could not start")
        print(f"error: capture: {exc}", file=sys.stderr)
        return 1
    wall0, ru0 = time.monotonic(), resource.getrusage(resource.RUSAGE_SELF)
    tmp = out / "capture.ready.tmp"
    tmp.write_text("ok\n")
    os.replace(tmp, out / "capture.ready")
    cap.run(cfg["interval_s"], lambda: bool(stopped))
    ru = resource.getrusage(resource.RUSAGE_SELF)
    cpu = ru.ru_utime + ru.ru_stime - ru0.ru_utime - ru0.ru_stime
    save(cap, out, cpu, time.monotonic() - wall0)
    cap.close()
    log.info("capture done: %d distinct packets", len(cap.rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
