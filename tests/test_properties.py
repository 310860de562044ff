"""Generated scenarios and feedback streams: invariants that must hold for every scheduler.

Hypothesis builds scenarios (1-6 links; constant, stepped and trace capacities; delay, jitter,
loss, Gilbert-Elliott, queue sizes; flaps, all links down, `loss: 1.0` while up, events at the
same instant) and raw feedback streams fed straight to core. The default profile keeps CI fast
(fixed examples); `pytest -m property --hypothesis-profile=long` runs the campaign (docs/testing.md):
10,000 generated scenarios split across the schedulers, 10,000 mutant files, and smaller counts for
the determinism and feedback-stream tests. Add `--hypothesis-show-statistics` for per-test counts;
the session ends with the totals each kind of test ran (conftest.PROPERTY_RUNS).
"""

from __future__ import annotations

import copy
import math
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bondlab.core.bonding import BondingController
from bondlab.core.stats import PeerStats
from bondlab.scenario import ScenarioError, parse_scenario
from bondlab.schedulers import SCHEDULERS
from bondlab.sim.runner import SimRun

from conftest import PROPERTY_RUNS, SCENARIOS

pytestmark = pytest.mark.property

SIM_SCHEDULERS = sorted(n for n, i in SCHEDULERS.items() if "sim" in i.backends)
# Schedulers that promise to follow the controller's weights: a link it believes dead gets nothing
# while another may take the packet; every one but round-robin, the blind baseline by definition.
WEIGHT_FOLLOWING = {n for n in SIM_SCHEDULERS if n != "rr"}
# Schedulers that keep DWRR byte credits (redundant's non-copied packets go by DWRR): capped at
# max_credit_quanta quanta. The others keep no credits; the check names only these.
CREDIT_CAPPED = {"dwrr", "redundant", "redundant-all"}
TRACES = sorted((SCENARIOS / "traces").glob("*.up"))


# The campaign (`--hypothesis-profile=long`): what each test runs. The scenario test is parametrized
# by scheduler, so its 10,000 generated scenarios are split evenly: every scheduler gets its share.
CAMPAIGN = settings.default.max_examples >= 1000
CAMPAIGN_SCENARIOS = 10_000
CAMPAIGN_MUTANTS = 10_000
PER_SCHEDULER = math.ceil(CAMPAIGN_SCENARIOS / len(SIM_SCHEDULERS))


def examples(n: int, long: int, replay: bool = True) -> settings:
    """`n` examples in the default profile; `long` when the campaign profile is loaded."""
    campaign = CAMPAIGN
    return settings(
        max_examples=long if campaign else n,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        derandomize=not campaign,  # CI checks the same examples every run; the campaign explores
        **({} if replay else {"database": None}),
    )


# -- scenario strategies -------------------------------------------------------------------------

MBPS = st.floats(0.05, 100.0).map(lambda m: round(m * 1e6))


@st.composite
def link_specs(draw: Any, name: str) -> dict[str, Any]:
    link: dict[str, Any] = {"name": name}
    if TRACES and draw(st.integers(0, 4)) == 0:
        link["trace"] = str(draw(st.sampled_from(TRACES)))
        link["trace_offset_s"] = draw(st.floats(0, 30))
    else:
        link["capacity_bps"] = draw(MBPS)
    link["delay_ms"] = draw(st.floats(0, 400))
    link["jitter_ms"] = draw(st.floats(0, 60))
    link["loss"] = draw(st.one_of(st.just(0.0), st.floats(0, 0.3), st.just(1.0)))
    if draw(st.booleans()):
        link["gilbert"] = {
            "p_good_bad": draw(st.floats(0, 0.2)),
            "p_bad_good": draw(st.floats(0.01, 1.0)),
            "loss_bad": draw(st.floats(0, 1)),
        }
    link["queue_bytes"] = draw(st.integers(1500, 2_000_000))
    return link


@st.composite
def events(draw: Any, names: list[str], duration: float) -> list[dict[str, Any]]:
    out = []
    for _ in range(draw(st.integers(0, 5))):
        at = draw(st.one_of(st.just(duration / 2), st.floats(0, duration - 0.01)))  # same instants too
        who: Any = draw(st.sampled_from([*names, names]))  # one link, or all at once
        change = draw(
            st.sampled_from(
                [
                    {"up": False},
                    {"loss": 1.0},
                    {"capacity_bps": draw(MBPS)},
                    {"delay_ms": draw(st.floats(0, 1500))},
                    {"jitter_ms": draw(st.floats(0, 100))},
                ]
            )
        )
        event = {"at_s": at, "link": who, **change}
        if draw(st.booleans()):
            event["for_s"] = draw(st.floats(0.05, 3.0))
        out.append(event)
    return out


@st.composite
def scenarios(draw: Any, max_links: int = 6) -> Any:
    n = draw(st.integers(1, max_links))
    names = [f"l{i}" for i in range(n)]
    duration = draw(st.floats(1.0, 4.0))
    lo = draw(st.integers(100_000, 4_000_000))
    hi = draw(st.integers(lo, 20_000_000))
    data = {
        "name": "generated",
        "duration_s": duration,
        "seed": draw(st.integers(0, 2**16)),
        "encoder": {
            "min_bitrate_bps": lo,
            "max_bitrate_bps": hi,
            "start_bitrate_bps": draw(st.integers(lo, hi)),
            "gop_frames": draw(st.integers(1, 90)),
        },
        "receiver": {"latency_ms": draw(st.floats(50, 2000))},
        "bonding": {"rate_control": draw(st.booleans()), "headroom": draw(st.floats(1.0, 2.0))},
        "links": [draw(link_specs(name)) for name in names],
        "events": draw(events(names, duration)),
    }
    return parse_scenario(data, "generated.yaml", SCENARIOS, "generated")


# -- one instrumented run ---------------------------------------------------------------------------


class Watch:
    """Records, as the run goes, what the invariants need (never changes what the run does)."""

    def __init__(self, run: SimRun, scheduler: str) -> None:
        self.run, self.scheduler = run, scheduler
        self.dead_sends = 0
        self.credit_excess = 0.0
        self.arrivals: dict[int, float] = {}
        self.link_handed: list[int] = [0] * len(run.transport.links)
        send, on_packet, on_burst = run.transport.send, run.receiver.on_packet, run.receiver.on_burst

        def watched_send(link: int | None, burst: Any) -> None:
            weights = run.controller.weights()
            if link is not None and weights[link] <= 0 and any(w > 0 for w in weights):
                self.dead_sends += len(burst.seqs)
            if link is not None:
                self.link_handed[link] += len(burst.seqs)
            send(link, burst)

        def first(seq: int, t: float) -> None:
            self.arrivals[seq] = min(t, self.arrivals.get(seq, math.inf))

        def watched_packet(seq: int, frame_id: int, t: float) -> None:
            first(seq, t)
            on_packet(seq, frame_id, t)

        def watched_burst(frame_id: int, seqs: list[int], ts: list[float]) -> None:
            for seq, t in zip(seqs, ts, strict=True):
                first(seq, t)
            on_burst(frame_id, seqs, ts)

        run.transport.send = watched_send  # type: ignore[method-assign]
        run.receiver.on_packet = watched_packet  # type: ignore[method-assign]
        run.receiver.on_burst = watched_burst  # type: ignore[method-assign]
        sched = run.controller.scheduler
        credited = sched if hasattr(sched, "_cap") else getattr(sched, "inner", None)  # redundant: its DWRR
        self.credit_checked = credited is not None and hasattr(credited, "_cap")
        if self.credit_checked:
            on_tick = run.loop.on_tick

            def watched_tick(t: float) -> None:
                on_tick(t)
                for credit, cap in zip(credited.credits(), credited._cap, strict=True):
                    self.credit_excess = max(self.credit_excess, credit - cap)

            run.loop.on_tick = watched_tick  # type: ignore[method-assign]


def run_watched(scenario: Any, scheduler: str) -> tuple[dict[str, Any], Watch]:
    run = SimRun(scenario, scheduler)
    watch = Watch(run, scheduler)
    return run.run().metrics, watch


def check_invariants(scenario: Any, scheduler: str) -> None:
    metrics, w = run_watched(scenario, scheduler)
    run, record, enc = w.run, w.run.loop.record, scenario.encoder
    # the viewer's numbers are ratios of frames, in order
    assert 0.0 <= metrics["decodable_ratio"] <= metrics["on_time_ratio"] <= 1.0
    assert metrics["frames_total"] == len(record.frames)
    # the encoder stays within its limits
    assert all(enc.min_bitrate_bps <= b <= enc.max_bitrate_bps for b in record.frame_bitrates)
    # every packet the encoder made left the sender, expired there, or still waits in the hold
    made = sum(n for _, _, _, n, _ in record.frames)
    held = len(run.controller._held)
    assert record.packets_sent + record.dropped_at_sender + held == made
    # per link: what the loop handed over is what the link was given (originals and copies)
    copies = record.reinjected + getattr(record, "duplicated", 0)
    assert sum(w.link_handed) == record.packets_sent + copies
    # a frame counts as on time only if each of its packets arrived by capture + latency
    latency = scenario.receiver.latency_ms / 1000.0
    seq = 0
    on_time = 0
    for _fid, capture, _i, n, _b in record.frames:
        ok = all(w.arrivals.get(s, math.inf) <= capture + latency + 1e-9 for s in range(seq, seq + n))
        on_time += ok
        seq += n
    assert metrics["frames_on_time"] <= on_time
    # schedulers that follow weights never feed a link believed dead while another may take it
    if scheduler in WEIGHT_FOLLOWING:
        assert w.dead_sends == 0
    # byte credits never exceed their cap, for the schedulers that keep credits (and only those)
    assert w.credit_checked == (scheduler in CREDIT_CAPPED)
    assert w.credit_excess <= 1e-6


@pytest.mark.parametrize("scheduler", SIM_SCHEDULERS)
@examples(12, long=PER_SCHEDULER)
@given(scenario=scenarios())
def test_generated_scenarios_keep_every_invariant(scheduler: str, scenario: Any) -> None:
    PROPERTY_RUNS[f"generated scenario, invariants checked: {scheduler}"] += 1
    check_invariants(scenario, scheduler)


@pytest.mark.parametrize("scheduler", SIM_SCHEDULERS)
@examples(4, long=100)
@given(scenario=scenarios(max_links=3))
def test_same_seed_same_metrics(scheduler: str, scenario: Any) -> None:
    PROPERTY_RUNS["generated scenario run twice (same seed)"] += 1
    assert SimRun(scenario, scheduler).run().metrics == SimRun(scenario, scheduler).run().metrics


# -- raw feedback streams straight into core ---------------------------------------------------------

FINITE = {"allow_nan": False, "allow_infinity": False}


@st.composite
def samples(draw: Any, t: float) -> PeerStats:
    return PeerStats(
        t=t,
        rtt_ms=draw(st.one_of(st.none(), st.floats(0, 1e5, **FINITE))),
        bandwidth_bps=draw(st.floats(0, 1e10, **FINITE)),
        sent=draw(st.integers(0, 10**6)),
        retransmitted=draw(st.integers(0, 10**6)),
        quality=draw(st.floats(0, 100, **FINITE)),
        delivered_bps=draw(st.one_of(st.none(), st.floats(0, 1e10, **FINITE))),
        sent_bytes=draw(st.integers(0, 10**8)),
        evidence_age_s=draw(st.one_of(st.none(), st.floats(0, 100, **FINITE))),
    )


@st.composite
def feedback_streams(draw: Any) -> tuple[int, list[tuple[float, list[PeerStats]]]]:
    n = draw(st.integers(1, 6))
    ticks = []
    t = 0.0
    for _ in range(draw(st.integers(1, 60))):
        t += draw(st.sampled_from([0.1, 0.1, 0.1, 0.0, 0.05, 2.0]))  # gaps, repeats, bursts
        row = [draw(samples(t + draw(st.sampled_from([0.0, -0.3, 0.2])))) for _ in range(n)]
        if draw(st.booleans()):  # one link silent for a while
            row[0] = replace(row[0], delivered_bps=0.0, rtt_ms=None, evidence_age_s=draw(st.floats(0, 10)))
        ticks.append((t, row))
    return n, ticks


@pytest.mark.parametrize("scheduler", SIM_SCHEDULERS)
@examples(60, long=1_000)
@given(stream=feedback_streams(), sizes=st.lists(st.integers(1, 1400), min_size=1, max_size=40))
def test_feedback_streams_never_break_core(scheduler: str, stream: Any, sizes: list[int]) -> None:
    """Any feedback (zeros, extremes, gaps, stale or reordered stamps, silence): no exception,
    finite non-negative weights, bitrate advice within the encoder's range, picks obey weights."""
    PROPERTY_RUNS["feedback stream fed to core"] += 1
    from bondlab.scenario import load_scenario

    n, ticks = stream
    sc = load_scenario(SCENARIOS / "seed-asymmetric.yaml")
    sc = sc.model_copy(update={"links": [sc.links[0].model_copy(update={"name": f"l{i}"}) for i in range(n)]})
    ctl = BondingController.from_scenario(sc, scheduler)
    enc = sc.encoder
    for t, row in ticks:
        msg = ctl.on_stats(t, row)
        weights = ctl.weights()
        assert all(math.isfinite(w) and w >= 0 for w in weights)
        if msg is not None:
            assert enc.min_bitrate_bps <= msg.recommended_bitrate <= enc.max_bitrate_bps
        for size in sizes:
            link = ctl.pick(size)
            if scheduler in WEIGHT_FOLLOWING and link is not None:
                assert weights[link] > 0


# -- mutated scenario files ----------------------------------------------------------------------------

BUNDLED = sorted(SCENARIOS.glob("*.yaml"))
ODD_VALUES = [
    None,
    -1,
    0,
    1e308,
    -1e308,
    float("nan"),
    float("inf"),
    "x",
    "ü名",
    [],
    {},
    [[[[1]]]],
    True,
    2**70,
]


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


def _set(node: Any, path: tuple[Any, ...], value: Any, drop: bool) -> None:
    for key in path[:-1]:
        node = node[key]
    if drop:
        del node[path[-1]]
    else:
        node[path[-1]] = value


@examples(
    150, long=CAMPAIGN_MUTANTS, replay=False
)  # draws follow the files' content: replays across edits mean nothing
@given(data=st.data())
def test_mutated_scenario_files_load_or_fail_in_one_line(data: Any, tmp_path_factory: Any) -> None:
    """Every mutant of a bundled file either loads or is refused with one line naming the file."""
    import yaml

    from bondlab.scenario import load_scenario

    src = data.draw(st.sampled_from(BUNDLED))
    doc = yaml.safe_load(src.read_text())
    for _ in range(data.draw(st.integers(1, 3))):
        paths = _paths(doc)
        if not paths:
            break
        path = data.draw(st.sampled_from(paths))
        odd = copy.deepcopy(data.draw(st.sampled_from(ODD_VALUES)))  # never the shared object: no cycles
        _set(doc, path, odd, drop=data.draw(st.booleans()))
    text = yaml.safe_dump(doc, allow_unicode=True)
    PROPERTY_RUNS["mutant scenario file loaded"] += 1
    if data.draw(st.booleans()):  # a key given twice
        text += "\nduration_s: 5\nduration_s: 6\n"
    out = tmp_path_factory.mktemp("mutant") / src.name
    out.write_text(text)
    try:
        load_scenario(out)
    except ScenarioError as exc:
        line = str(exc)
        assert "\n" not in line and (str(out) in line or out.name in line), line
