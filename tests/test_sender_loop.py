"""The one sender loop both worlds run: driven by any clock, talking to any transport."""

from dataclasses import replace

import pytest

from bondlab.core.sender_loop import SenderLoop
from bondlab.core.stats import PeerStats
from bondlab.scenario import load_scenario

from conftest import SCENARIOS


class FakeTransport:
    """Feedback scripted by `alive(t)`; records what the loop sends and sets."""

    def __init__(
        self, n, alive=lambda t: True, link_alive=lambda i, t: True, delivered_bps=3e6, sent_bps=1e6
    ):
        self.n, self.alive, self.link_alive = n, alive, link_alive
        self.delivered_bps, self.sent_bps = delivered_bps, sent_bps
        self.sent, self.weights, self.frames, self.now = [], [], 0, 0.0

    def frame(self, *args):
        self.frames += 1

    def send(self, link, burst):
        self.sent.append((link, list(burst.seqs), burst.deadline, self.now))

    def stats(self, t):
        def age(i):
            return 0.0 if self.alive(t) and self.link_alive(i, t) else t

        return [
            PeerStats(t, 50.0, self.sent_bps, 10, 0, delivered_bps=self.delivered_bps, evidence_age_s=age(i))
            for i in range(self.n)
        ]

    def set_weights(self, weights):
        self.weights.append(list(weights))

    def truth(self, t):
        return {}


def seed(*overrides):
    return load_scenario(SCENARIOS / "seed-asymmetric.yaml", ["duration_s=3", *overrides])


def run(loop, until):
    while (due := loop.next_due()) is not None and due <= until:
        loop.transport.now = due
        loop.step(due)


def test_ticks_and_frames_in_time_order():
    sc = seed()
    tr = FakeTransport(2)
    loop = SenderLoop(sc, "dwrr", tr)
    run(loop, 1.0)
    assert tr.frames == 31  # frames at 0, 1/30, ..., 1.0
    assert loop.record.rows[-1][0] == pytest.approx(1.0)  # the tick at 1.0 ran too
    seqs = [s for _, burst, _, _ in tr.sent for s in burst]
    assert sorted(seqs) == list(range(len(seqs)))  # every packet once


def test_weights_only_mode_never_picks_a_link(monkeypatch):
    """rist-weighted: librist splits the packets; the loop only sets weights, once per interval."""
    sc = seed()
    tr = FakeTransport(2)
    loop = SenderLoop(sc, "rist-weighted", tr, weights_only=True)
    monkeypatch.setattr(loop.controller, "pick", lambda size: pytest.fail("picked a link"))
    monkeypatch.setattr(loop.controller.scheduler, "pick", lambda size: pytest.fail("picked a link"))
    run(loop, 1.0)
    assert tr.sent and all(link is None for link, _, _, _ in tr.sent)
    assert len(tr.weights) == 10


def test_packets_are_held_while_every_link_is_dead_and_released_after():
    """No proof of life on any link from 0.5 s to 1.5 s: once both are down nothing is sent;
    packets wait and go out oldest first when a link returns; those past their deadline are
    dropped at the sender instead."""
    sc = seed("receiver.latency_ms=600")
    tr = FakeTransport(2, alive=lambda t: not 0.5 <= t < 1.5)
    loop = SenderLoop(sc, "dwrr", tr)
    run(loop, 3.0)
    assert not [s for s in tr.sent if 1.2 <= s[3] < 1.5]  # both links down: nothing leaves
    at_return = [s for s in tr.sent if s[3] == pytest.approx(1.5)]
    released = [s for s in at_return if len(s[1]) == 1]  # held packets go one at a time ...
    assert released and at_return[: len(released)] == released  # ... before the new frame
    assert [s[1][0] for s in released] == sorted(s[1][0] for s in released)
    assert all(s[2] > 1.5 for s in released)  # only those that can still make their deadline
    assert loop.record.dropped_at_sender > 0


def test_transport_hears_when_a_link_is_taken_back():
    """A link back from the dead is announced once (the real transport warms librist's flow up)."""
    sc = seed()
    tr = FakeTransport(2, alive=lambda t: not 0.5 <= t < 1.5)
    tr.revived_at = []
    tr.revived = lambda link: tr.revived_at.append((link, tr.now))
    loop = SenderLoop(sc, "dwrr", tr)
    run(loop, 3.0)
    assert sorted(link for link, _ in tr.revived_at) == [0, 1]
    assert all(t == pytest.approx(1.5) for _, t in tr.revived_at)


def _silent_link_run(start_bitrate):
    """Three links; link 0 stops answering at 2.0 s (so it is down at once): what goes where."""
    over = [
        "duration_s=3",
        "events=[]",
        "receiver.latency_ms=800",
        "encoder.max_bitrate_bps=20000000",
        f"encoder.start_bitrate_bps={start_bitrate}",
    ]
    sc = load_scenario(SCENARIOS / "black-hole.yaml", over)
    tr = FakeTransport(3, link_alive=lambda i, t: i > 0 or t < 2.0)
    loop = SenderLoop(sc, "dwrr", tr)
    run(loop, 3.0)
    assert not loop.controller.estimators[0].up
    return tr, loop


def test_a_link_that_goes_silent_has_its_live_packets_copied_to_the_others():
    """Reinjection: what the silent link was given that can still make its deadline goes again on
    a live link at once, once; expired packets and packets of the live link are not copied."""
    tr, loop = _silent_link_run(1_000_000)  # the live link has room to spare
    first = {}
    for link, seqs, deadline, now in tr.sent:
        for seq in seqs:
            first.setdefault(seq, (link, deadline, now))
    copies = [(seq, now) for link, seqs, _, now in tr.sent for seq in seqs if first[seq][2] != now]
    assert copies, "nothing was copied when link 0 went silent"
    (when,) = {now for _, now in copies}  # all in one go, at the tick that declared it down
    assert all(first[seq][0] == 0 and first[seq][1] > when for seq, _ in copies)
    assert all(
        link in (1, 2) for link, seqs, _, now in tr.sent if now == when and set(seqs) & dict(copies).keys()
    )
    missed = [
        s for s, (link, dl, sent_t) in first.items() if link == 0 and dl > when and s not in dict(copies)
    ]
    assert not missed, "a packet the silent link swallowed, still in time, was not copied"
    assert loop.record.reinjected == len(copies)
    assert len({s for s, _ in copies}) == len(copies)  # once each


class ReportingTransport(FakeTransport):
    """Link 0's receiver reports count every byte it was given until `arrived_until`, then none
    (the link swallows the rest): what a FIFO link that fell into a black hole reports."""

    def __init__(self, n, arrived_until, **kw):
        super().__init__(n, **kw)
        self.arrived_until, self.given = arrived_until, [0] * n
        self.counted = 0

    def send(self, link, burst):
        super().send(link, burst)
        self.given[link] += sum(burst.sizes)
        if link == 0 and self.now < self.arrived_until:
            self.counted = self.given[0]

    def stats(self, t):
        return [
            replace(s, delivered_bytes=self.counted) if i == 0 else s for i, s in enumerate(super().stats(t))
        ]


def test_bursts_the_reports_show_arrived_are_not_copied():
    """A link is a FIFO: what its receiver reported arrived needs no copy; everything it was given
    after that, still in time, is copied."""
    sc = load_scenario(
        SCENARIOS / "black-hole.yaml",
        [
            "duration_s=3",
            "events=[]",
            "receiver.latency_ms=800",
            "encoder.max_bitrate_bps=20000000",
            "encoder.start_bitrate_bps=1000000",
        ],
    )
    tr = ReportingTransport(3, arrived_until=1.7, link_alive=lambda i, t: i > 0 or t < 2.0)
    loop = SenderLoop(sc, "dwrr", tr)
    run(loop, 3.0)
    first = {}
    for link, seqs, deadline, now in tr.sent:
        for seq in seqs:
            first.setdefault(seq, (link, deadline, now))
    copied = {seq for link, seqs, _, now in tr.sent for seq in seqs if first[seq][2] != now}
    when = min(now for link, seqs, _, now in tr.sent for seq in seqs if seq in copied)
    swallowed = {s for s, (link, dl, t) in first.items() if link == 0 and t >= 1.7 and dl > when}
    assert swallowed and copied == swallowed
    assert loop.record.reinjected == len(copied)


def test_a_revived_link_gets_data_one_interval_after_its_warm_up():
    """A transport that must warm a returning flow up (librist drops a restarted flow's first
    packets) is told at the tick that takes the link back; data follows from the next tick on."""
    over = ["duration_s=3", "events=[]", "receiver.latency_ms=800", "encoder.start_bitrate_bps=1000000"]
    sc = load_scenario(SCENARIOS / "black-hole.yaml", over)
    tr = FakeTransport(3, link_alive=lambda i, t: i > 0 or not 1.0 <= t < 2.0)
    tr.warmed = []
    tr.revived = lambda link: tr.warmed.append((link, tr.now))
    loop = SenderLoop(sc, "dwrr", tr)
    run(loop, 3.0)
    ((link, back),) = tr.warmed
    assert link == 0 and back >= 2.0
    data = [now for li, _, _, now in tr.sent if li == 0 and now >= back]
    assert data, "the link was never used again"
    assert min(data) >= back + loop.interval - 1e-9


def _decisions(stall):
    """Which ticks the loop let the controller decide the bitrate at; with `stall` the loop was
    driven 0.3 s late at 2.5 s (as a starved CPU does), so its next reports show its own backlog."""
    sc = load_scenario(SCENARIOS / "black-hole.yaml", ["duration_s=5", "events=[]"])
    tr = FakeTransport(3)
    loop = SenderLoop(sc, "dwrr", tr)
    seen = []
    on_stats = loop.controller.on_stats

    def spy(t, samples, decide=True):
        seen.append((round(t, 3), decide))
        return on_stats(t, samples, decide)

    loop.controller.on_stats = spy
    run(loop, 2.5)
    if stall:
        tr.now = 2.8
        loop.step(2.8)
    run(loop, 5.0)
    return seen


def test_a_stalled_sender_does_not_decide_the_bitrate_on_its_own_backlog():
    """Rate decisions pause for STALL_HOLD_S after the loop ran late by more than STALL_S, and
    only then: a sender that kept time decides at every tick."""
    from bondlab.core.sender_loop import STALL_HOLD_S

    assert all(decide for _, decide in _decisions(stall=False))
    paused = [t for t, decide in _decisions(stall=True) if not decide]
    assert paused and min(paused) >= 2.6 and max(paused) < 2.8 + STALL_HOLD_S
    assert max(paused) >= 2.8 + STALL_HOLD_S - 0.1 - 1e-6


def test_a_controller_told_not_to_decide_sends_no_message():
    """The same collapse of every link's evidence cuts when the controller may decide, not otherwise."""
    from bondlab.core.bonding import BondingController

    sc = load_scenario(SCENARIOS / "black-hole.yaml", ["duration_s=5", "events=[]"])
    dead = [PeerStats(3.0, 50.0, 1e5, 10, 0, delivered_bps=1e5, evidence_age_s=2.0) for _ in range(3)]
    cut = BondingController.from_scenario(sc, "dwrr").on_stats(3.0, dead)
    assert cut is not None and cut.reason == "congestion"
    assert BondingController.from_scenario(sc, "dwrr").on_stats(3.0, dead, decide=False) is None


def test_black_hole_copies_go_out_once_the_silent_link_is_zeroed_not_only_when_down():
    """Seed 2 of the black hole: by the time lte-a is declared down the bond has lost its margin
    for copies; reinjecting when its weight fell to 0 keeps every GOP (0.93 when copies wait for
    the down verdict)."""
    from bondlab.sim.runner import run_sim

    m = run_sim(load_scenario(SCENARIOS / "black-hole.yaml"), "dwrr", seed=2).metrics
    assert m["reinjected_packets"] > 0
    assert m["decodable_ratio"] >= 0.99


def test_a_held_packet_no_link_can_take_does_not_block_those_behind_it():
    """A deadline-aware scheduler may refuse one held packet (no link delivers it in time) and take
    the next; a weight-only one refuses all once it refuses one (no live link), so it stops."""
    from bondlab.core.bonding import BondingController

    sc = load_scenario(SCENARIOS / "black-hole.yaml", ["duration_s=5", "events=[]"])

    class Picky:  # refuses 999-byte packets, takes the rest on link 1
        n_links = 3

        def set_weights(self, weights):
            pass

        def pick(self, size):
            return None if size == 999 else 1

        def credits(self):
            return [0.0] * 3

    for aware in (True, False):
        ctl = BondingController.from_scenario(sc, "dwrr")
        ctl.scheduler = Picky()
        ctl.begin_frame = (lambda now, deadline, iframe: None) if aware else None
        for size, item in ((999, "hopeless"), (500, "fresh"), (400, "next")):
            ctl.hold(size, item, deadline=2.0)
        released, expired = ctl.release_held(1.0)
        assert expired == 0
        if aware:
            assert released == [(1, "fresh"), (1, "next")]
            assert [item for _, _, item in ctl._held] == ["hopeless"]
        else:
            assert released == [] and len(ctl._held) == 3
