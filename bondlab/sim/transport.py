"""The sim's transport under core's sender loop: links, ARQ, echoes and receiver reports in SimPy.

Everything the controller learns crosses a link: echo requests queue behind data on the uplink
and their replies come back over the reverse path; receiver reports (what arrived, by the
receiver's clock) come back the same way. Each can be delayed, reordered or lost, and a sample
is known only once its packet arrived. Link state is read here for the timeseries' truth
columns only (`truth`), never for a stats sample.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Sequence
from typing import Any

import simpy

from bondlab.core.feedback import ReceiverReport
from bondlab.core.receiver import BondedReceiver
from bondlab.core.stats import PeerStats
from bondlab.core.trains import MIN_TRAIN_PACKETS, train_span, train_sums
from bondlab.core.transport import Burst
from bondlab.scenario import Scenario
from bondlab.sim.arq import INF, REORDER_S, Arq, Gap
from bondlab.sim.link import SimLink
from bondlab.sim.rist_stats import RistStatsCounter
from bondlab.wire import ECHO_BYTES

# librist's sender sends an RTCP echo request to each peer at this interval (rist-private.h, see
# DEVELOPERS.md); the receiver's reports follow the stats interval.
ECHO_INTERVAL_S = 0.1
# librist's echo timer runs on its own thread from when the peer connected, so its phase against
# the encoder's frame clock is arbitrary, and a timer fires late, never early, so the phase walks.
# 100 ms is exactly three frames at 30 fps: echoes locked to the frame clock would each leave just
# behind (or just ahead of) a frame's burst and read it as a standing queue (+16 ms on a 10 Mbps
# link at 6 Mbps) or never see it. Up to this much late per echo walks through a frame period in
# a few seconds, as the real timer does.
ECHO_LATE_MAX_S = 0.002


class SimTransport:
    def __init__(
        self, env: simpy.Environment, scenario: Scenario, seed: int, receiver: BondedReceiver
    ) -> None:
        self.env = env
        self.scenario = scenario
        self.seed = seed
        self.interval = scenario.bonding.stats_interval_ms / 1000.0
        self.links = [SimLink(scenario, i, seed, self.interval) for i in range(len(scenario.links))]
        self.counters = [RistStatsCounter() for _ in self.links]
        self.receiver = receiver
        self.retransmissions = 0
        self.arq = Arq(self.links, self._rtt_s, self._after, self._resend, lambda: self.env.now)
        self._report_no = [0] * len(self.links)
        self._reported = [(0, 0)] * len(self.links)  # cumulative (payload bytes, packets) per link
        self._latest: list[tuple[float, int, int, int, float] | None] = [None] * len(self.links)
        # Feedback in flight back to the sender: (arrival, order, link, rtt_ms or report). The
        # sender's counters are its only readers, so each is applied, in arrival order, just
        # before a reader looks: the same outcome as an event per packet, without the events.
        self._inbox: list[tuple[float, int, int, Any]] = []
        self._sent_back = 0
        # Packet-train sums (core/trains.py) in each link's report bins, by the train's last
        # arrival (the receiver knows a train once all of it is in), and as reported so far.
        self._train_bins = [tuple([0.0] * len(link.rx_bytes) for _ in range(4)) for link in self.links]
        self._train_reported = [(0.0, 0.0, 0.0, 0.0)] * len(self.links)  # Sxx, Sxy, bytes, span

    def start(self) -> None:
        # Both ends were up before the stream (handshake, pings): an echo and a report baseline.
        for li in range(len(self.links)):
            self._echo(li, 0.0)
        self._report_all(0.0)
        self.env.process(self._echoes())
        self.env.process(self._reports())

    def _after(self, delay: float, fn: Callable[[], None]) -> None:
        self.env.timeout(delay).callbacks.append(lambda _e: fn())

    def _back(self, arrival: float, li: int, what: Any) -> None:
        self._sent_back += 1
        heapq.heappush(self._inbox, (arrival, self._sent_back, li, what))

    def _deliver(self, upto: float) -> None:
        """Apply the feedback that has arrived by `upto` (echo replies, receiver reports)."""
        inbox = self._inbox
        while inbox and inbox[0][0] <= upto:
            t, _, li, what = heapq.heappop(inbox)
            if isinstance(what, ReceiverReport):
                self.counters[li].reports.on_report(t, what)
            else:
                self.counters[li].on_echo_reply(what)

    def _rtt_s(self, li: int) -> float | None:
        self._deliver(self.env.now)
        rtt = self.counters[li].rtt.value
        return None if rtt is None else rtt / 1000.0

    # -- data --------------------------------------------------------------------------------------
    def frame(self, frame_id: int, capture_t: float, is_iframe: bool, n_packets: int, nbytes: int) -> None:
        self.receiver.register_frame(frame_id, capture_t, is_iframe, n_packets, nbytes)

    def send(self, link: int | None, burst: Burst) -> None:
        if link is None:
            raise ValueError("the sim has no weights-only transport: pick a link per packet")
        now = self.env.now
        sizes, seqs = burst.sizes, burst.seqs
        self.counters[link].on_send_burst(len(sizes), sum(sizes))
        sim_link = self.links[link]
        arrivals = sim_link.send_burst(now, sizes)
        if len(sizes) >= MIN_TRAIN_PACKETS:
            self._count_train(link, sizes, arrivals)
        arq = self.arq
        pending = arq.pending
        if not (sim_link.jittery and self._reorders(link)):
            # Packet by packet, a loss queues a gap and the next arrival on the link makes the
            # pending gaps visible; the receiver's bookkeeping does not depend on the ARQ's, so it
            # takes the burst's arrivals in one call (in the same order).
            if None not in arrivals:
                if pending[link]:
                    arq.arrived(link, arrivals[0])  # type: ignore[arg-type]
                self.receiver.on_burst(burst.frame_id, seqs, arrivals)  # type: ignore[arg-type]
                return
            got_seqs: list[int] = []
            got: list[float] = []
            for seq, size, arrival in zip(seqs, sizes, arrivals):
                if arrival is None:
                    arq.lost(link, Gap(seq, burst.frame_id, size, burst.deadline))
                    continue
                if pending[link]:
                    arq.arrived(link, arrival)
                got_seqs.append(seq)
                got.append(arrival)
            self.receiver.on_burst(burst.frame_id, got_seqs, got)
            return
        latest, on_packet = self._latest, self.receiver.on_packet
        for seq, size, arrival in zip(seqs, sizes, arrivals):
            if arrival is None:
                arq.lost(link, Gap(seq, burst.frame_id, size, burst.deadline))
                continue
            on_packet(seq, burst.frame_id, arrival)
            if pending[link]:
                arq.arrived(link, arrival)
            prev = latest[link]
            if prev is not None and prev[0] > arrival + REORDER_S:
                arq.overtaken(link, Gap(prev[1], prev[2], prev[3], prev[4], prev[0]), arrival)
            if prev is None or arrival > prev[0]:
                latest[link] = (arrival, seq, burst.frame_id, size, burst.deadline)

    def _count_train(self, li: int, sizes: Sequence[int], arrivals: Sequence[float | None]) -> None:
        """The burst's arrivals as the receiver times its trains: each first arrival, in send order."""
        if None in arrivals:
            got = [(s, a) for s, a in zip(sizes, arrivals) if a is not None]
            sizes, arrivals = [s for s, _ in got], [a for _, a in got]
        if len(arrivals) < MIN_TRAIN_PACKETS:
            return
        sxx, sxy = train_sums(sizes, arrivals)  # type: ignore[arg-type]
        if sxx > 0.0:
            k = int(max(arrivals) * self.links[li]._inv_interval)  # type: ignore[type-var]
            bins = self._train_bins[li]
            if k < len(bins[0]):
                nbytes, span = train_span(sizes, arrivals)  # type: ignore[arg-type]
                bins[0][k] += sxx
                bins[1][k] += sxy
                bins[2][k] += nbytes
                bins[3][k] += span

    def _reorders(self, li: int) -> bool:
        """Whether jitter on this link can exceed the receiver's reorder buffer (spurious NACKs)."""
        link = self.links[li]
        return 2 * link.state(self.env.now)["jitter_ms"] > REORDER_S * 1000 if link.jittery else False

    def _resend(self, li: int, gap: Gap) -> float | None:
        self.retransmissions += 1
        self.counters[li].on_send(gap.size, retransmission=True)
        link = self.links[li]
        arrival = link.send(self.env.now, gap.size)
        if arrival is not None:
            self.receiver.on_packet(gap.seq, gap.frame_id, arrival)
            if gap.repaired_at != INF:  # reports count first arrivals: the later copy is the duplicate
                link.uncount(max(arrival, gap.repaired_at), gap.size)
        return arrival

    # -- feedback ----------------------------------------------------------------------------------
    def _echoes(self):  # type: ignore[no-untyped-def]
        """librist's echo requests: queued behind data, lost like data; the reply carries the RTT.

        Each link's timer has its own phase and walks late (ECHO_LATE_MAX_S), seeded. The timers
        ran before the stream (librist pings from the handshake on): `start` sends the echo of
        t = 0 ahead of the first frame, so the base RTT is known before a queue exists."""
        env = self.env
        end = self.scenario.duration_s
        timers = [random.Random(f"{self.seed}:{li}:echo-timer") for li in range(len(self.links))]
        due = [rng.uniform(0.0, ECHO_INTERVAL_S) for rng in timers]
        while True:
            now = min(due)
            if now > end:
                return
            if now > env.now:
                yield env.timeout(now - env.now)
            li = due.index(now)
            self._echo(li, now)
            due[li] = now + ECHO_INTERVAL_S + timers[li].uniform(0.0, ECHO_LATE_MAX_S)

    def _echo(self, li: int, now: float) -> None:
        link = self.links[li]
        there = link.send_burst(now, (ECHO_BYTES,), data=False)[0]
        back = link.reverse(there) if there is not None else None
        if back is not None:
            self._back(back, li, (back - now) * 1000.0)

    def _reports(self):  # type: ignore[no-untyped-def]
        """The receiver's report per link every interval: cumulative arrivals, over the reverse path."""
        env = self.env
        end = self.scenario.duration_s
        k = 0
        while True:
            yield env.timeout(self.interval)
            k += 1
            if env.now > end + 1e-9:
                return
            for li, link in enumerate(self.links):
                nbytes, npkts = self._reported[li]
                self._reported[li] = (nbytes + link.rx_bytes[k - 1], npkts + link.rx_packets[k - 1])
                bins = self._train_bins[li]
                sxx, sxy, tbytes, tspan = self._train_reported[li]
                self._train_reported[li] = (
                    sxx + bins[0][k - 1],
                    sxy + bins[1][k - 1],
                    tbytes + bins[2][k - 1],
                    tspan + bins[3][k - 1],
                )
            self._report_all(env.now)

    def _report_all(self, now: float) -> None:
        """Send each link's cumulative report back over its reverse path."""
        for li, link in enumerate(self.links):
            nbytes, npkts = self._reported[li]
            self._report_no[li] += 1
            sxx, sxy, tbytes, tspan = self._train_reported[li]
            report = ReceiverReport(
                li, self._report_no[li], now, nbytes, npkts, 0.0, sxx, sxy, int(tbytes), tspan
            )
            back = link.reverse(now)
            if back is not None:
                self._back(back, li, report)

    # -- what the loop reads -------------------------------------------------------------------------
    def stats(self, t: float) -> list[PeerStats]:
        self._deliver(t)
        return [c.sample(t, self.interval) for c in self.counters]

    def set_weights(self, weights: Sequence[float]) -> None:
        raise ValueError("the sim has no weights-only transport")

    def truth(self, t: float) -> dict[str, list[Any]]:
        return {
            "capacity_bps": [link.capacity_bps(t) for link in self.links],
            "queue_bytes": [link.queued_bytes(t) for link in self.links],
            "up": [bool(link.state(t)["up"]) for link in self.links],
        }
