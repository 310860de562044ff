"""The bonding sender, run in real time inside the sender namespace: core's encoder model, core's
BondingController and librist doing the sending.

`rr` / `dwrr`: one librist sender context per link (librist ignores a data block's peer, so a
per-packet link choice needs a context per link); each packet carries the bonding header.
`rist-weighted`: one context with a peer per link; librist splits packets by peer weight and core's
estimator only updates those weights each stats interval (how stock librist bonds).

Stats: librist calls back per peer per interval on its own threads; the main loop turns the latest
report of each link into core's PeerStats. A link whose peer sent nothing back (no RTT echo,
keepalive or NACK: `received` == 0) for SILENT_AFTER_INTERVALS intervals reports `rtt_ms=None`, as
the sim does when an echo is lost (librist's echoes are sparser than one per interval).
"""

from __future__ import annotations

import json
import logging
import resource
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bondlab.core.bonding import BondingController
from bondlab.core.encoder import EncoderModel
from bondlab.core.stats import PeerStats
from bondlab.real import librist
from bondlab.real.proc import signal_ready, start_process
from bondlab.real.protocol import BondHeader, pack
from bondlab.scenario import parse_scenario

log = logging.getLogger("bondlab.real.sender")

RIST_WEIGHTED = "rist-weighted"
SILENT_AFTER_INTERVALS = 3  # no librist report for this long also counts as silence


@dataclass
class _LinkStats:
    """What librist reported for one link since the last tick (filled on librist threads)."""

    rtt_ms: float | None = None
    bandwidth_bps: float = 0.0
    sent: int = 0
    retransmitted: int = 0
    received: int = 0
    quality: float = 100.0
    reports: int = 0
    last_report: float = 0.0
    total_retransmitted: int = 0
    total_sent: int = 0
    last_heard: float = 0.0  # monotonic time of the last report with something received from the peer


class RealSender:
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        sc = config["scenario"]
        self.scenario = parse_scenario(dict(sc), "run config", Path(sc["base_dir"]), sc["name"])
        self.scheduler = config["scheduler"]
        core_scheduler = "dwrr" if self.scheduler == RIST_WEIGHTED else self.scheduler
        self.controller = BondingController.from_scenario(self.scenario, core_scheduler)
        self.encoder = EncoderModel.from_scenario(self.scenario)
        self.n = len(self.scenario.links)
        self.interval_s = self.scenario.bonding.stats_interval_ms / 1000.0
        self._lock = threading.Lock()
        self._stats = [_LinkStats() for _ in range(self.n)]
        self._peer_link: dict[int, int] = {}
        self.senders: list[librist.RistSender] = []
        self.peers: list[librist.RistPeer] = []
        self.frames: list[list[Any]] = []
        self.rows: dict[str, list[Any]] = {}
        self.link_bytes = [0] * self.n
        self.packets_sent = 0
        self.dropped = 0
        self.stop = False

    # -- librist ----------------------------------------------------------------------------------
    def _on_stats(self, link_hint: int | None, s: librist.PeerStats) -> None:
        link = link_hint if link_hint is not None else self._peer_link.get(s.peer_id)
        if link is None:
            link = self._link_of_cname(s.cname)
            if link is None:
                return
            self._peer_link[s.peer_id] = link
        with self._lock:
            st = self._stats[link]
            st.rtt_ms = float(s.rtt_ms)
            st.bandwidth_bps = float(s.bandwidth_bps)
            st.sent += s.sent
            st.total_sent += s.sent
            st.retransmitted += s.retransmitted
            st.total_retransmitted += s.retransmitted
            st.received += s.received
            if s.received:
                st.last_heard = time.monotonic()
            st.quality = float(s.quality)
            st.reports += 1
            st.last_report = time.monotonic()

    def _link_of_cname(self, cname: str) -> int | None:
        names = [link.name for link in self.scenario.links]
        return names.index(cname) if cname in names else None

    def open(self) -> None:
        interval_ms = int(self.scenario.bonding.stats_interval_ms)
        urls = self.config["peer_urls"]
        if self.scheduler == RIST_WEIGHTED:
            tx = librist.RistSender(
                stats_callback=lambda s: self._on_stats(None, s), stats_interval_ms=interval_ms
            )
            self.senders.append(tx)
            for url in urls:
                self.peers.append(tx.add_peer(url))
            tx.start()
        else:
            for i, url in enumerate(urls):
                tx = librist.RistSender(
                    stats_callback=lambda s, i=i: self._on_stats(i, s), stats_interval_ms=interval_ms
                )
                self.senders.append(tx)
                self.peers.append(tx.add_peer(url))
                tx.start()

    def close(self) -> None:
        for tx in self.senders:
            tx.close()

    # -- the loop ------------------------------------------------------------------------------------
    def _samples(self, now: float, t: float) -> list[PeerStats]:
        out = []
        with self._lock:
            for st in self._stats:
                # librist's echoes and keepalives come every few hundred ms, not every interval:
                # silence means nothing heard from the peer for SILENT_AFTER_INTERVALS intervals.
                silent = (
                    st.last_heard == 0.0 or now - st.last_heard > SILENT_AFTER_INTERVALS * self.interval_s
                )
                out.append(
                    PeerStats(
                        t=t,
                        rtt_ms=None if silent else st.rtt_ms,
                        bandwidth_bps=st.bandwidth_bps,
                        sent=st.sent,
                        retransmitted=st.retransmitted,
                        quality=st.quality,
                    )
                )
                if st.reports:
                    st.sent = st.retransmitted = st.received = st.reports = 0
        return out

    def _tick(self, t: float) -> None:
        samples = self._samples(time.monotonic(), t)
        msg = self.controller.on_stats(t, samples)
        if msg is not None:
            self.encoder.request_bitrate(t, msg.recommended_bitrate)
        if self.scheduler == RIST_WEIGHTED:
            self._set_rist_weights()
        released, expired = self.controller.release_held(t)
        self.dropped += expired
        for link, (header, size) in released:
            self._write(link, header, size)
        for i, (view, s) in enumerate(zip(self.controller.view(), samples, strict=True)):
            for key, value in (
                ("t", round(t, 3)),
                ("link", self.scenario.links[i].name),
                ("est_capacity_bps", view.est_capacity_bps),
                ("health", view.health),
                ("weight", view.weight),
                ("credits_bytes", view.credits_bytes),
                ("rtt_ms", s.rtt_ms),
                ("sent_bps", s.bandwidth_bps),
                ("bitrate_bps", self.encoder.bitrate_bps),
            ):
                self.rows.setdefault(key, []).append(value)

    def _set_rist_weights(self) -> None:
        weights = self.controller.weights()
        top = max(weights) or 1.0
        tx = self.senders[0]
        for peer, w in zip(self.peers, weights, strict=True):
            # librist weight 0 means "duplicate to this peer": a dead link gets the smallest weight instead.
            tx.set_weight(peer, max(1, round(100 * w / top)))

    def _write(self, link: int, header: BondHeader, size: int) -> None:
        if self.scheduler == RIST_WEIGHTED:  # librist picks the peer; bytes per link come from its stats
            self.senders[0].write(pack(header, size, time.monotonic()))
        else:
            self.senders[link].write(pack(header, size, time.monotonic()))
            self.link_bytes[link] += size
        self.packets_sent += 1

    def _send_frame(self, t: float, t0: float, seq: int) -> int:
        frame = self.encoder.next_frame(t)
        capture = t0 + t
        self.frames.append([frame.frame_id, t, frame.is_iframe, len(frame.packet_sizes), frame.size_bytes])
        deadline = t + self.scenario.receiver.latency_ms / 1000.0
        for idx, size in enumerate(frame.packet_sizes):
            link = self.controller.pick(size)
            header = BondHeader(
                seq,
                frame.frame_id,
                capture,
                len(frame.packet_sizes),
                idx,
                frame.is_iframe,
                link if link is not None else 255,
                frame.size_bytes,
            )
            if link is None:
                self.controller.hold(size, (header, size), deadline)
            else:
                self._write(link, header, size)
            seq += 1
        return seq

    def run(self) -> dict[str, Any]:
        t0 = float(self.config["start_at"])
        duration = self.scenario.duration_s
        period = 1.0 / self.encoder.fps
        while time.monotonic() < t0:
            time.sleep(min(0.05, t0 - time.monotonic()))
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        wall0 = time.monotonic()
        next_frame, next_tick, seq, late_frames = 0.0, self.interval_s, 0, 0
        while not self.stop:
            now = time.monotonic() - t0
            if next_frame <= now and next_frame < duration:
                if now - next_frame > period:
                    late_frames += 1  # this process fell behind real time: say so in the summary
                seq = self._send_frame(next_frame, t0, seq)
                next_frame += period
                continue
            if next_tick <= now:
                self._tick(next_tick)
                next_tick += self.interval_s
                continue
            if next_frame >= duration and next_tick > duration:
                break
            time.sleep(max(0.0, min(next_frame if next_frame < duration else next_tick, next_tick) - now))
        wall = time.monotonic() - wall0
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
        with self._lock:
            retx = sum(st.total_retransmitted for st in self._stats)
            if self.scheduler == RIST_WEIGHTED:
                mean_size = sum(f[4] for f in self.frames) / max(self.packets_sent, 1)
                self.link_bytes = [round(st.total_sent * mean_size) for st in self._stats]
        return {
            "packets_sent": self.packets_sent,
            "dropped_at_sender": self.dropped,
            "retransmissions": retx,
            "link_bytes": self.link_bytes,
            "frames_behind_real_time": late_frames,
            "cpu_s": round(cpu, 3),
            "wall_s": round(wall, 3),
            "cpu_cores": round(cpu / wall, 3) if wall else None,
            "messages": [m.as_dict() for m in self.controller.messages],
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
    sender.open()
    # Start after librist's handshakes; the orchestrator times link changes from this instant.
    sender.config["start_at"] = time.monotonic() + float(config.get("start_delay_s", 1.5))
    signal_ready(out / "sender.ready", repr(sender.config["start_at"]))
    try:
        summary = sender.run()
    finally:
        sender.close()
    (out / "frames.json").write_text(json.dumps(sender.frames))
    (out / "sender-timeseries.json").write_text(json.dumps(sender.rows))
    (out / "sender.json").write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
