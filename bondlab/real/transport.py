"""The real backend's Transport for core's SenderLoop: librist sender contexts and the receiver's
reports, in the sender namespace.

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

import select
import socket
import threading
import time
from collections.abc import Sequence
from typing import Any

from bondlab.core.feedback import ReceiverReport, ReportTracker
from bondlab.core.stats import PeerStats
from bondlab.core.transport import Burst
from bondlab.real import librist
from bondlab.real.librist_context import RistPeer
from bondlab.real.librist_stats import PeerStats as LibristPeerStats
from bondlab.real.protocol import RR_BASE_PORT, WARMUP_FRAME_ID, WARMUP_SEQ0, unpack_report

RIST_WEIGHTED = "rist-weighted"
HANDSHAKE_TIMEOUT_S = 20.0
WARMUP_PACKETS = 5  # per flow at the run's start (blocking: the run has not begun)
REVIVAL_WARMUP_PACKETS = 3  # per revived flow, within the loop's one-interval hold-off
# librist's receiver starts a new flow at whichever packet arrives first; a packet of the flow
# with a lower sequence number arriving after it lands behind the flow's output position. In
# 0.2.7 that packet is lost and moves the position back, opening a hole that is NACKed in vain;
# a late retransmission of it can then reset the flow and discard a buffer's worth of data
# (0.75 s at the real black hole's end; DEVELOPERS.md has the librist lines). Warm-up packets
# written this far apart cannot swap places under jitter up to +-15 ms, so the first to arrive
# is the lowest and the flow starts in order.
WARMUP_SPACING_S = 0.03
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
        self._warmups = 0  # warm-up packets written so far (each gets its own sequence number)
        self._warm_due: list[tuple[float, int]] = []  # (CLOCK_MONOTONIC, link) of warm-ups to come
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
                        i,
                        r.number,
                        r.send_t,
                        r.payload_bytes,
                        r.packets,
                        r.last_arrival_t,
                        train_sxx=r.train_sxx,
                        train_sxy=r.train_sxy,
                        train_bytes=r.train_bytes,
                        train_span_s=r.train_span_s,
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
                        train_bps=tracker.train_bps,
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

    def warm_up(self, packets: int = WARMUP_PACKETS) -> None:
        """A few throw-away packets per context, WARMUP_SPACING_S apart: librist's receiver starts
        a flow at its first packet to arrive and loses any of lower number that come after (seen
        in the VM: a whole first frame on one link), so the run's first frame must not be first."""
        for k in range(packets):
            if k:
                time.sleep(WARMUP_SPACING_S)
            for i in range(len(self.senders)):
                self._warm(i)

    def revived(self, link: int) -> None:
        """The controller took `link` back after it was down: librist's receiver had let that flow
        die (no packet for 2 s), so the flow starts again, from its first packet to arrive. The
        first warm-up goes now, the others a spacing apart, written at the loop's next frames."""
        if not self.weighted:
            self._warm(link)
            now = time.monotonic()
            self._warm_due += [(now + k * WARMUP_SPACING_S, link) for k in range(1, REVIVAL_WARMUP_PACKETS)]
            self._warm_due.sort()

    def _warm_pending(self) -> None:
        """Write the revival warm-ups that are due (from the loop's own thread, as data is)."""
        now = time.monotonic()
        while self._warm_due and self._warm_due[0][0] <= now:
            self._warm(self._warm_due.pop(0)[1])

    def _warm(self, i: int, size: int = 200) -> None:
        self._warmups += 1
        seq = WARMUP_SEQ0 + self._warmups  # a fresh number each time: never a duplicate
        link = 255 if self.weighted else i
        self.senders[i].write_burst(
            [seq], [0], [size], WARMUP_FRAME_ID, time.monotonic(), 1, False, link, size
        )

    @property
    def retransmissions(self) -> int:
        with self._lock:
            return sum(st.total_retransmitted for st in self._stats)

    # -- data ----------------------------------------------------------------------------------------
    def frame(self, frame_id: int, capture_t: float, is_iframe: bool, n_packets: int, nbytes: int) -> None:
        """Nothing to announce (the bonding header carries the frame with every packet); a frame
        period is the warm-ups' clock."""
        if self._warm_due:
            self._warm_pending()

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
