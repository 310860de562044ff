"""The bonding sender, once for both worlds: frames -> picks -> transport, stats -> controller -> encoder.

The loop owns no clock. A driver asks `next_due()` for the time of the next frame or stats tick,
waits for it in its own way (a SimPy timeout, or sleeping on CLOCK_MONOTONIC) and calls
`step(now)`, which does everything due by `now` in time order. What differs between the sim and a
real run is only the `Transport`: where packets go and where the per-link stats come from.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from bondlab.core.bonding import BondingController
from bondlab.core.encoder import EncoderModel, Frame
from bondlab.core.sender_record import SenderRecord
from bondlab.core.stats import PeerStats
from bondlab.core.transport import Burst, Transport

# A sender that fell behind its own clock (a CPU stall: frames due 60 ms ago leave now, in one
# burst) sees every link back up at once; that backlog is its own doing, not the links'. Two
# frame periods late is a stall; rate decisions then wait a second, while the catch-up drains
# (real runs in the TCG VM: a 0.3 s stall read as overload cut 7 Mbps to the 0.5 Mbps minimum).
STALL_S = 0.06
STALL_HOLD_S = 1.0


# Two report intervals without an arrival: a report lost now and then (1 % loss) is not silence.
SILENT_COPY_S = 0.2


class SenderLoop:
    """Encoder + BondingController + a transport, stepped by whatever clock drives it."""

    def __init__(
        self,
        scenario: Any,
        scheduler: str,
        transport: Transport,
        weights_only: bool = False,
        progress: Callable[[float], None] | None = None,
    ) -> None:
        self.transport = transport
        self.weights_only = weights_only
        self.controller = BondingController.from_scenario(scenario, "dwrr" if weights_only else scheduler)
        self.encoder = EncoderModel.from_scenario(scenario)
        self.n_links = len(scenario.links)
        self.duration = float(scenario.duration_s)
        self.latency_s = scenario.receiver.latency_ms / 1000.0
        self.interval = scenario.bonding.stats_interval_ms / 1000.0
        self.progress = progress
        self.record = SenderRecord(link_bytes=[0] * self.n_links)
        self._interval_bytes = [0] * self.n_links
        self._copied_at = [float("-inf")] * self.n_links  # when each link was last given copies
        self._was_up = [True] * self.n_links
        self._was_usable = [True] * self.n_links
        # Bursts still inside their playout deadline, per link: what a link that falls silent may
        # have swallowed, and what goes again on the others (as MPTCP reinjects a dead subflow's data).
        self._in_flight: list[deque[Burst]] = [deque() for _ in range(self.n_links)]
        # Payload bytes given to each link, and what its receiver reports last said arrived: a link
        # is a FIFO, so a burst that ended within the reported count got there (no copy needed).
        self._given = [0] * self.n_links
        self._reported = [0] * self.n_links
        self._n_frame = 0
        self._stall_until = float("-inf")
        self._n_tick = 1
        self._seq = 0

    # -- the clock's side ------------------------------------------------------------------------
    def next_frame_t(self) -> float | None:
        t = self._n_frame / self.encoder.fps
        return t if t < self.duration else None

    def next_tick_t(self) -> float | None:
        t = self._n_tick * self.interval
        return t if t <= self.duration + 1e-9 else None

    def next_due(self) -> float | None:
        """When the loop next has work (None: the run is over)."""
        tick, frame = self.next_tick_t(), self.next_frame_t()
        if tick is None:
            return frame
        return frame if frame is not None and frame < tick else tick  # min(tick, frame)

    def step(self, now: float) -> None:
        """Do everything due by `now`, oldest first; a stats tick goes before a frame of the same time."""
        # next_tick_t and next_frame_t inlined (a step per frame and tick): the same arithmetic.
        fps, interval, end = self.encoder.fps, self.interval, self.duration
        late = now + 1e-12
        while True:
            tick, frame = self._n_tick * interval, self._n_frame / fps
            framing = frame < end
            if tick <= end + 1e-9 and tick <= late and (not framing or tick <= frame + 1e-9):
                self._n_tick += 1
                self.on_tick(tick)
            elif framing and frame <= late:
                if now - frame > STALL_S:
                    self._stall_until = now + STALL_HOLD_S
                self._n_frame += 1
                self.on_frame(frame)
            else:
                return

    # -- frames -------------------------------------------------------------------------------------
    def on_frame(self, t: float) -> None:
        frame: Frame = self.encoder.next_frame(t)
        rec = self.record
        sizes = frame.packet_sizes
        n = len(sizes)
        fid, capture, iframe, nbytes = frame.frame_id, frame.capture_t, frame.is_iframe, frame.size_bytes
        rec.frames.append((fid, capture, iframe, n, nbytes))
        rec.frame_bitrates.append(self.encoder.bitrate_bps)
        self.transport.frame(fid, capture, iframe, n, nbytes)
        seq0 = self._seq
        self._seq += n
        deadline = t + self.latency_s
        head = (fid, capture, iframe, n, nbytes, deadline, seq0)  # each burst: Burst(*head, seqs, sizes)
        if self.weights_only:
            rec.packets_sent += n
            self.transport.send(None, Burst(*head, list(range(seq0, self._seq)), list(sizes)))
            return
        ctl = self.controller
        begin = ctl.begin_frame  # None for RR and DWRR
        dup = begin(t, deadline, iframe) if begin is not None else None
        many = ctl.pick_many  # the per-packet hot path: one pick each, in one call where it can
        links = many(sizes) if many is not None else list(map(ctl.pick, sizes))
        first = links[0]
        if first is not None and links.count(first) == n:  # common at low rates: one link
            self._send(first, Burst(*head, list(range(seq0, self._seq)), list(sizes)))
        else:
            # Each link's packets in frame order, in one pass; links sent to in index order.
            by_seq: list[list[int]] = [[] for _ in range(self.n_links)]
            by_size: list[list[int]] = [[] for _ in range(self.n_links)]
            for seq, size, li in zip(range(seq0, self._seq), sizes, links):
                if li is None:  # every link dead: hold it until one returns or its deadline passes
                    ctl.hold(size, Burst(*head, [seq], [size]), deadline)
                else:
                    by_seq[li].append(seq)
                    by_size[li].append(size)
            for li, seqs in enumerate(by_seq):
                if seqs:
                    self._send(li, Burst(*head, seqs, by_size[li]))
        if dup is not None:  # redundant sending: a copy of each packet the other links carry
            mine = [i for i, x in enumerate(links) if x is not None and x != dup]
            if mine:
                b = Burst(*head, [seq0 + i for i in mine], [sizes[i] for i in mine])
                self._send(dup, b, copy=True, duplicate=True)

    def _send(self, li: int, b: Burst, copy: bool = False, duplicate: bool = False) -> None:
        nbytes = sum(b.sizes)
        self.record.link_bytes[li] += nbytes
        self._given[li] += nbytes
        b.link_end = self._given[li]
        if duplicate:  # steady redundancy: load the link carries every GOP, so the estimator sees it
            self.record.duplicated += len(b.sizes)
            self.record.overhead_bytes += nbytes
            self._interval_bytes[li] += nbytes
        elif copy:  # a one-off catch-up, not load the estimator should read as this link's rate
            self.record.reinjected += len(b.sizes)
            self.record.overhead_bytes += nbytes
            self.controller.estimators[li].on_copies(nbytes)  # but it queues there all the same
        else:
            self._interval_bytes[li] += nbytes
            self.record.packets_sent += len(b.sizes)
        self._in_flight[li].append(b)
        self.transport.send(li, b)

    def _reinject(self, dead: int, now: float) -> None:
        """`dead` just lost its weight: what it was given that can still make its deadline goes again.

        The receiver's reports cannot say which packets a silent or backed-up link holds, only how
        many bytes arrived on it: a link is a FIFO, so the bursts that ended within that count got
        there, and every later one whose deadline is ahead is copied (the first copy to arrive
        counts, the receiver drops the other). Copying what already arrived would queue ahead of
        what did not: a black hole opened just after an I-frame then lost its GOP anyway. For a
        link that fails at an I-frame this is the difference between one GOP lost and none, and a
        weak modem's deep queue costs no frame.
        """
        pending = self._in_flight[dead]
        self._in_flight[dead] = deque()
        pick, begin = self.controller.pick, self.controller.begin_frame
        # A link that went silent (no report has shown an arrival for SILENT_COPY_S) holds what it
        # was given in a hole: copies are the only way it arrives, whatever the other links'
        # estimates say of their room (app-limited they ride 1.5x what they were given, about the
        # bitrate, so the VM's black hole never had "room" and lost its GOP in every run). A link
        # that is only backed up delivers its queue late: copies then need the others to carry
        # the stream with room to spare (their capacity estimates), else they queue ahead of
        # fresh frames and read as congestion (link-flap, rtt-spike goodput -30 %,
        # skew-short-buffer on time 0.97 -> 0.89 when copying regardless).
        others = [e for i, e in enumerate(self.controller.estimators) if i != dead and e.weight > 0]
        if not others:
            return
        est = self.controller.estimators[dead]
        silent = est.evidence_age_s >= SILENT_COPY_S
        # A live link backed up by another's copies is not failing: copying its data back would
        # send the same bytes round the bond (a cold start's copies went to and fro, both links
        # full, and lost the first GOPs). Only where copies count in the backlog (forecast).
        if not silent and est.p.count_copies and now - self._copied_at[dead] < self.latency_s:
            return
        if not silent and sum(e.capacity_bps * e.health for e in others) <= self.encoder.bitrate_bps:
            return
        arrived = self._reported[dead]
        for b in pending:
            if b.deadline <= now or b.link_end <= arrived:
                continue
            if begin is not None:  # the copies are copies already: never duplicated again
                begin(now, b.deadline, False)
            links = [pick(size) for size in b.sizes]
            for li in set(links) - {None}:
                mine = [i for i, x in enumerate(links) if x == li]
                copy = replace(b, seqs=[b.seqs[i] for i in mine], sizes=[b.sizes[i] for i in mine])
                self._send(li, copy, copy=True)  # type: ignore[arg-type]
                self._copied_at[li] = now  # type: ignore[index]

    # -- stats ticks -------------------------------------------------------------------------------
    def on_tick(self, t: float) -> None:
        samples = self.transport.stats(t)
        if not self.weights_only:  # what the loop handed each link this interval: only it knows
            for s, n in zip(samples, self._interval_bytes, strict=True):
                s.sent_bytes = n
        self._interval_bytes = [0] * self.n_links
        for i, s in enumerate(samples):
            if s.delivered_bytes is not None:
                self._reported[i] = s.delivered_bytes
        msg = self.controller.on_stats(t, samples, decide=t >= self._stall_until)
        revived = getattr(self.transport, "revived", None)
        warming = []
        for i, est in enumerate(self.controller.estimators):
            if est.up and not self._was_up[i] and revived is not None:
                revived(i)  # e.g. librist restarts a flow that was silent: warm it up first
                warming.append(i)
            # Weight 0: silent, or its backlog holds a new packet past half the playout latency, so
            # what it already holds may be late too. Waiting for the down verdict cost the real
            # black hole a GOP (the bond had lost its margin by then).
            usable = est.up and est.weight > 0
            if self._was_usable[i] and not usable and not self.weights_only:
                self._reinject(i, t)
            self._was_up[i] = est.up
            self._was_usable[i] = usable
            flight = self._in_flight[i]
            while flight and flight[0].deadline <= t:
                flight.popleft()
        if warming and not self.weights_only:
            # Data waits one interval behind the warm-up: librist's receiver dropped the first
            # packets of a restarted flow, warm-up and data alike when they came together (VM).
            weights = self.controller.weights()
            for i in warming:
                weights[i] = 0.0
            self.controller.scheduler.set_weights(weights)
        if msg is not None:
            self.encoder.request_bitrate(t, msg.recommended_bitrate)
            self.record.messages.append(msg.as_dict())
        if self.weights_only:
            self.transport.set_weights(self.controller.weights())
        else:
            released, expired = self.controller.release_held(t)
            self.record.dropped_at_sender += expired
            for li, b in released:
                self._send(li, b)
        self._record(t, samples)
        if self.progress is not None:
            self.progress(t)

    COLUMNS = (
        "t",
        "link",
        "est_capacity_bps",
        "counted_capacity_bps",
        "health",
        "weight",
        "est_up",
        "credits_bytes",
        "rtt_ms",
        "sent_bps",
        "delivered_bps",
        "bitrate_bps",
    )

    def _record(self, t: float, samples: Sequence[PeerStats]) -> None:
        rec = self.record
        truth = self.transport.truth(t)
        if not rec.columns:
            rec.columns = [*self.COLUMNS, *truth]
        t = round(t, 6)
        bitrate = self.encoder.bitrate_bps
        facts = list(zip(*truth.values())) if truth else [()] * self.n_links
        ctl = self.controller
        credits = ctl.scheduler.credits()
        # What the controller believes about each link this tick (its weights and counted capacity
        # as on_stats worked them out), beside the sample and the truth
        for i, (est, s, fact) in enumerate(zip(ctl.estimators, samples, facts, strict=True)):
            rec.rows.append(
                (
                    t,
                    i,
                    est.capacity_bps,
                    ctl.link_counted[i],
                    est.health,
                    ctl.link_weights[i],
                    est.up,
                    credits[i],
                    s.rtt_ms,
                    s.bandwidth_bps,
                    est.delivered.value,
                    bitrate,
                    *fact,
                )
            )
