"""The bonding sender in real time inside the sender namespace: core's SenderLoop on CLOCK_MONOTONIC,
over librist.

`rr` / `dwrr`: one librist sender context per link (librist ignores a data block's peer, so a
per-packet link choice needs a context per link); core picks each packet's link and a frame's
share for one link is written in one C call (RistSender.write_burst builds the bonding headers).
`rist-weighted`: one context with a peer per link; librist splits the packets by peer weight and
core only sets those weights each stats interval (how stock librist bonds): no per-packet pick.

What the controller hears, per link: librist's peer stats (smoothed echo RTT, sent rate,
retransmissions; on librist's threads) and the receiver's reports, UDP datagrams sent by the
capture process over the link's reverse path (real/capture.py), read here on a thread of their
own so each report is stamped when it arrives, as the sim does.
"""

from __future__ import annotations

import json
import logging
import resource
import select
import signal
import socket
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bondlab.core.feedback import ReceiverReport, ReportTracker
from bondlab.core.sender_loop import Burst, SenderLoop
from bondlab.core.stats import PeerStats
from bondlab.real import librist
from bondlab.real.librist_context import RistPeer
from bondlab.real.librist_stats import PeerStats as LibristPeerStats
from bondlab.real.proc import signal_ready, start_process
from bondlab.real.protocol import RR_BASE_PORT, WARMUP_FRAME_ID, WARMUP_SEQ0, unpack_report
from bondlab.scenario import parse_scenario

log = logging.getLogger("bondlab.real.sender")

RIST_WEIGHTED = "rist-weighted"
HANDSHAKE_TIMEOUT_S = 20.0
WARMUP_PACKETS = 5
WARMUP_LEAD_S = 0.3  # the last warm-up this long before the first frame (one interval of margin)
LIBRIST_QUIET_INTERVALS = 3  # librist reports each live peer every interval; 3 missed = dead peer
# librist's smoothed RTT starts from 0 (eight_times_rtt += sample - eight_times_rtt / 8, see
# DEVELOPERS.md) and folds in one echo reply per RIST_PING_INTERVAL (100 ms): after n replies it
# reads (1 - (7/8)^n) of the RTT. The sim's smoother starts at its first sample; so that both
# worlds hand the estimator the same quantity, the real sender takes that factor back out
# (counting replies by the time since the first nonzero RTT). Left in, a real run's base RTT
# for its first 10 s was librist's still-rising value (84 ms on a 92 ms link): every P-frame's
# queue then read as 10-20 ms of standing delay and the slow link stopped probing for 6 s.
LIBRIST_RTT_EWMA = 1 / 8
LIBRIST_PING_INTERVAL_S = 0.1


def unbiased_rtt_ms(raw_ms: float, since_first_s: float) -> float:
    """librist's zero-started RTT EWMA with its start-up bias taken out."""
    replies = 1.0 + max(since_first_s, 0.0) / LIBRIST_PING_INTERVAL_S
    return raw_ms / (1.0 - (1.0 - LIBRIST_RTT_EWMA) ** replies)


class _LinkStats:
    """What librist reported for one link since the last tick (filled on librist threads)."""

    __slots__ = (
        "rtt_ms",
        "first_rtt_at",
        "bandwidth_bps",
        "sent",
        "retransmitted",
        "quality",
        "total_retransmitted",
    )

    def __init__(self) -> None:
        self.rtt_ms: float | None = None
        self.first_rtt_at: float | None = None  # CLOCK_MONOTONIC of librist's first nonzero RTT
        self.bandwidth_bps = 0.0
        self.sent = 0
        self.retransmitted = 0
        self.quality = 100.0
        self.total_retransmitted = 0


class RealTransport:
    """librist contexts + receiver-report sockets, behind core's Transport interface."""

    def __init__(self, config: dict[str, Any], n_links: int, names: list[str], interval_ms: int) -> None:
        self.weighted = config["scheduler"] == RIST_WEIGHTED
        self.names = names
        self.interval_ms = interval_ms
        self.t0 = 0.0  # CLOCK_MONOTONIC of loop time 0, set when the run starts
        self._lock = threading.Lock()
        self._stats = [_LinkStats() for _ in range(n_links)]
        self.trackers = [ReportTracker() for _ in range(n_links)]
        self.heard = [False] * n_links
        self._stats_at = [0.0] * n_links  # CLOCK_MONOTONIC of librist's last report for each link
        self._warmups = 0  # librist reported RTCP from this link's receiver (handshake done)
        self.senders: list[librist.RistSender] = []
        self.peers: list[RistPeer] = []
        self._sockets: list[socket.socket] = []
        self._stop = threading.Event()
        self._reader: threading.Thread | None = None
        self.config = config

    # -- set-up --------------------------------------------------------------------------------------
    def open(self) -> None:
        urls = self.config["peer_urls"]
        if self.weighted:
            tx = librist.RistSender(
                stats_callback=lambda s: self._on_stats(None, s), stats_interval_ms=self.interval_ms
            )
            self.senders.append(tx)
            self.peers.extend(tx.add_peer(url) for url in urls)
            tx.start()
        else:
            for i, url in enumerate(urls):
                tx = librist.RistSender(
                    stats_callback=lambda s, i=i: self._on_stats(i, s), stats_interval_ms=self.interval_ms
                )
                self.senders.append(tx)
                self.peers.append(tx.add_peer(url))
                tx.start()
        for i, ip in enumerate(self.config.get("report_ips", [])):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind((ip, RR_BASE_PORT + i))
            sock.setblocking(False)
            self._sockets.append(sock)
        self._reader = threading.Thread(target=self._read_reports, daemon=True, name="reports")
        self._reader.start()

    def close(self) -> None:
        self._stop.set()
        if self._reader is not None:
            self._reader.join(timeout=2.0)
        for sock in self._sockets:
            sock.close()
        for tx in self.senders:
            tx.close()

    # -- feedback ------------------------------------------------------------------------------------
    def _on_stats(self, link_hint: int | None, s: LibristPeerStats) -> None:
        # One context, a peer per link (rist-weighted): librist numbers main-profile peers 1, 2...
        # in the order they were added, which is link order.
        link = link_hint if link_hint is not None else s.peer_id - 1
        if not 0 <= link < len(self._stats):
            return
        with self._lock:
            self._stats_at[link] = time.monotonic()
            if s.received and s.cname:
                self.heard[link] = True
            st = self._stats[link]
            st.rtt_ms = float(s.rtt_ms)
            if st.rtt_ms and st.first_rtt_at is None:
                st.first_rtt_at = self._stats_at[link]
            st.bandwidth_bps = float(s.bandwidth_bps)
            st.sent += s.sent
            st.retransmitted += s.retransmitted
            st.total_retransmitted += s.retransmitted
            st.quality = float(s.quality)

    def _read_reports(self) -> None:
        """Stamp each receiver report with its arrival (loop time) and hand it to its tracker."""
        by_fd = {sock.fileno(): (i, sock) for i, sock in enumerate(self._sockets)}
        while not self._stop.is_set() and by_fd:
            ready, _, _ = select.select(list(by_fd), [], [], 0.1)
            for fd in ready:
                i, sock = by_fd[fd]
                while True:
                    try:
                        data = sock.recv(256)
                    except BlockingIOError:
                        break
                    try:
                        r = unpack_report(data)
                    except ValueError:
                        continue
                    report = ReceiverReport(
                        i, r.number, r.send_t, r.payload_bytes, r.packets, r.last_arrival_t
                    )
                    if self.t0 == 0.0:
                        continue  # before the run's time 0: nothing to date it against
                    with self._lock:
                        self.trackers[i].on_report(time.monotonic() - self.t0, report)

    def stats(self, t: float) -> list[PeerStats]:
        out = []
        now = time.monotonic()
        with self._lock:
            for st, tracker, stats_at in zip(self._stats, self.trackers, self._stats_at, strict=True):
                delivered, age = tracker.take(t)
                # librist stops reporting a peer it declared dead (nothing heard for its 250 ms
                # session timeout) and drops data written to it until the peer's next packet
                # revives it: until librist reports the link again it delivers nothing we send.
                silent = now - stats_at
                if silent > LIBRIST_QUIET_INTERVALS * self.interval_ms / 1000.0:
                    age = max(age or 0.0, silent)
                # librist reports rtt 0 until its first echo came back (its EWMA starts at zero).
                rtt = None
                if st.rtt_ms and st.first_rtt_at is not None:
                    rtt = unbiased_rtt_ms(st.rtt_ms, now - st.first_rtt_at)
                out.append(
                    PeerStats(
                        t=t,
                        rtt_ms=rtt,
                        bandwidth_bps=st.bandwidth_bps,
                        sent=st.sent,
                        retransmitted=st.retransmitted,
                        quality=st.quality,
                        delivered_bps=delivered,
                        evidence_age_s=age,
                        delivered_bytes=tracker.delivered_bytes,
                    )
                )
                st.sent = st.retransmitted = 0
        return out

    def wait_for_handshakes(self, timeout_s: float) -> bool:
        """Block until every link's receiver answered (librist drops data sent before that)."""
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            with self._lock:
                if all(self.heard):
                    return True
            time.sleep(0.02)
        return False

    def warm_up(self, packets: int = WARMUP_PACKETS, size: int = 200) -> None:
        """A few throw-away packets per context: librist's receiver drops the first packets of a
        flow (seen in the VM: a whole first frame on one link), so the run's first frame must not be."""
        for i in range(len(self.senders)):
            self._warm(i, packets, size)

    def revived(self, link: int) -> None:
        """The controller took `link` back after it was down: librist's receiver had let that flow
        die (no data for its buffer time), and the restarted flow loses its first packets (seen in
        the VM: a frame lost at the black hole's end), so they are throw-away ones again."""
        if not self.weighted:
            self._warm(link, WARMUP_PACKETS, 200)

    def _warm(self, i: int, packets: int, size: int) -> None:
        self._warmups += 1
        first = WARMUP_SEQ0 + self._warmups * packets  # a fresh range each time: never a duplicate
        self.senders[i].write_burst(
            list(range(first, first + packets)),
            list(range(packets)),
            [size] * packets,
            WARMUP_FRAME_ID,
            time.monotonic(),
            packets,
            False,
            255 if self.weighted else i,
            size * packets,
        )

    @property
    def retransmissions(self) -> int:
        with self._lock:
            return sum(st.total_retransmitted for st in self._stats)

    # -- data ----------------------------------------------------------------------------------------
    def frame(self, frame_id: int, capture_t: float, is_iframe: bool, n_packets: int, nbytes: int) -> None:
        """Nothing to announce: the bonding header carries the frame with every packet."""

    def send(self, link: int | None, burst: Burst) -> None:
        tx = self.senders[0] if link is None else self.senders[link]
        tx.write_burst(
            burst.seqs,
            burst.indices,
            burst.sizes,
            burst.frame_id,
            self.t0 + burst.capture_t,
            burst.n_packets,
            burst.is_iframe,
            255 if link is None else link,
            burst.frame_bytes,
        )

    def set_weights(self, weights: Sequence[float]) -> None:
        top = max(weights) or 1.0
        tx = self.senders[0]
        for peer, w in zip(self.peers, weights, strict=True):
            # librist weight 0 means "duplicate to this peer": a dead link gets the smallest weight instead.
            tx.set_weight(peer, max(1, round(100 * w / top)))

    def truth(self, t: float) -> dict[str, list[Any]]:
        return {}  # link state is the orchestrator's (shaping.json), joined in at assembly


class RealSender:
    def __init__(self, config: dict[str, Any]) -> None:
        sc = config["scenario"]
        self.scenario = parse_scenario(dict(sc), "run config", Path(sc["base_dir"]), sc["name"])
        names = [link.name for link in self.scenario.links]
        interval_ms = int(self.scenario.bonding.stats_interval_ms)
        self.transport = RealTransport(config, len(names), names, interval_ms)
        self.loop = SenderLoop(
            self.scenario, config["scheduler"], self.transport, weights_only=self.transport.weighted
        )
        self.config = config
        self.stop = False

    def run(self) -> dict[str, Any]:
        t0 = float(self.config["start_at"])
        self.transport.t0 = t0
        period = 1.0 / self.loop.encoder.fps
        # Warm the flows up again just before the first frame: 1.5 s after the first warm-up
        # librist's receiver had let a flow idle and dropped the run's very first packet (VM).
        for until, warm in ((t0 - WARMUP_LEAD_S, True), (t0, False)):
            while time.monotonic() < until and not self.stop:
                time.sleep(min(0.05, max(until - time.monotonic(), 0.0)))
            if warm and not self.stop:
                self.transport.warm_up()
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        wall0 = time.monotonic()
        late_frames = 0
        while not self.stop and (due := self.loop.next_due()) is not None:
            now = time.monotonic() - t0
            if due > now:
                time.sleep(due - now)
                now = time.monotonic() - t0
            frame_t = self.loop.next_frame_t()
            if frame_t is not None and now - frame_t > period:
                late_frames += 1  # this process fell behind real time: say so in the summary
            self.loop.step(now)
        wall = time.monotonic() - wall0
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
        summary = self.loop.record.as_dict()
        summary.pop("frames")  # frames.json
        return {
            **summary,
            "retransmissions": self.transport.retransmissions,
            "frames_behind_real_time": late_frames,
            "cpu_s": round(cpu, 3),
            "wall_s": round(wall, 3),
            "cpu_cores": round(cpu / wall, 3) if wall else None,
        }


def main(argv: list[str] | None = None) -> int:
    """`python -m bondlab.real.sender CONFIG.json OUT_DIR`: run, then write sender.json and frames."""
    args = sys.argv[1:] if argv is None else argv
    config, out = start_process(args, "sender")
    sender = RealSender(config)

    def _stop(signum: int, frame: object) -> None:
        sender.stop = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        return _run(sender, out)
    except Exception as exc:  # one line for the orchestrator, the traceback in sender.log
        log.exception("sender failed")
        print(f"error: sender: {exc}", file=sys.stderr)
        return 1


def _run(sender: RealSender, out: Path) -> int:
    config = sender.config
    # Start after librist's handshakes (data before them is dropped at the receiver; in the TCG VM
    # they take seconds), plus a margin; the orchestrator times link changes from this instant.
    try:
        sender.transport.open()
        if not sender.transport.wait_for_handshakes(HANDSHAKE_TIMEOUT_S):
            log.warning("not every link answered within %.0f s; starting anyway", HANDSHAKE_TIMEOUT_S)
        sender.transport.warm_up()
        sender.config["start_at"] = time.monotonic() + float(config.get("start_delay_s", 1.5))
        signal_ready(out / "sender.ready", repr(sender.config["start_at"]))
        summary = sender.run()
    finally:
        sender.transport.close()
    record = sender.loop.record
    names = [link.name for link in sender.scenario.links]
    ts = dict(record.timeseries)
    ts["link"] = [names[i] for i in ts.get("link", [])]
    (out / "frames.json").write_text(json.dumps(record.frames))
    (out / "sender-timeseries.json").write_text(json.dumps(ts))
    (out / "sender.json").write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
