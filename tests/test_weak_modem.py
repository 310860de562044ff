"""Issue 8's weak-modem bound, across two scenario files (an `expect:` block judges only one).

"With a scheduler worth its name, adding the weak link costs <= 5 % goodput and <= 0.5 points of
on-time against the good links alone": weak-modem.yaml and weak-modem-swing.yaml against
weak-modem-baseline.yaml, every field scheduler at the scenarios' own seed. The table is printed
whatever happens. Where a scheduler misses a bound today the case is a strict xfail with the
measured reason, so a fix shows up as XPASS (and the list must be updated) and a regression of a
scheduler that meets it fails. The same bound after the first 5 s shows what the cold start costs.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import pytest

from bondlab.scenario import load_scenario
from bondlab.sim.runner import SimRun

from conftest import SCENARIOS

SCHEDULERS = ("rr", "dwrr", "minrtt", "edpf", "blest", "srtla")
BASELINE = "weak-modem-baseline"
WEAK = ("weak-modem", "weak-modem-swing")
MAX_GOODPUT_LOSS = 0.05
MAX_ON_TIME_DROP = 0.005
STARTUP_S = 5.0

# (scenario, scheduler, bound) pairs that miss today at the scenarios' seed (test_print_weak_modem_table
# shows the measured values); "steady" is the on-time bound over the frames after STARTUP_S.
# Since a backed-up link's packets go again on the others and the first copy to arrive counts,
# DWRR, minRTT, BLEST and srtla meet all three bounds in weak-modem and in weak-modem-swing.
MISSES = {
    ("weak-modem", "rr", "goodput"),
    ("weak-modem", "rr", "on_time"),
    ("weak-modem", "rr", "steady"),
    ("weak-modem-swing", "rr", "goodput"),
    ("weak-modem-swing", "rr", "on_time"),
    ("weak-modem-swing", "rr", "steady"),
    # A few packets of the cold start's I-frame wait on the weak link until it is backed up.
    ("weak-modem", "edpf", "on_time"),
    # Packets already on their way when a swing starts (a 550 ms jump, half the latency) are late.
    ("weak-modem-swing", "edpf", "on_time"),
    # EDPF keeps the stream on time by sending less: 8 % less goodput than on the good links alone.
    ("weak-modem", "edpf", "goodput"),
    ("weak-modem-swing", "edpf", "goodput"),
}


@dataclass(frozen=True)
class Outcome:
    goodput_bps: float
    on_time: float
    steady_on_time: float  # frames captured after STARTUP_S


@cache
def outcome(scenario: str, scheduler: str) -> Outcome:
    sc = load_scenario(SCENARIOS / f"{scenario}.yaml")
    run = SimRun(sc, scheduler)
    metrics = run.run().metrics
    rx = run.receiver
    late_ok = [
        rec.arrived == rec.n_packets and rec.complete_t <= rec.capture_t + rx.latency_s
        for rec in rx.frames.values()
        if rec.capture_t >= STARTUP_S
    ]
    return Outcome(metrics["goodput_bps"], metrics["on_time_ratio"], sum(late_ok) / len(late_ok))


def costs(scenario: str, scheduler: str) -> tuple[float, float, float]:
    """(goodput lost as a fraction, on-time drop, on-time drop after the start-up) vs the baseline."""
    base, weak = outcome(BASELINE, scheduler), outcome(scenario, scheduler)
    return (
        1 - weak.goodput_bps / base.goodput_bps,
        base.on_time - weak.on_time,
        base.steady_on_time - weak.steady_on_time,
    )


def missed(scenario: str, scheduler: str) -> set[str]:
    """The bounds this scheduler misses on this weak scenario, measured."""
    g, ot, st = costs(scenario, scheduler)
    checks = {
        "goodput": g <= MAX_GOODPUT_LOSS,
        "on_time": ot <= MAX_ON_TIME_DROP,
        "steady": st <= MAX_ON_TIME_DROP,
    }
    return {bound for bound, ok in checks.items() if not ok}


def test_print_weak_modem_table(capsys):
    """The whole picture, one row per scheduler and weak scenario (shown with -q too), with the
    bounds each row misses; those are exactly the strict xfails MISSES lists (a stale entry or an
    unlisted miss fails here, naming the row)."""
    rows = [
        "| scenario | scheduler | goodput base -> weak (Mbps) | cost | on time base -> weak | drop (pt) "
        "| drop after 5 s (pt) | misses |",
        "|---|---|---|---|---|---|---|---|",
    ]
    disagree = []
    for scenario in WEAK:
        for s in SCHEDULERS:
            b, w = outcome(BASELINE, s), outcome(scenario, s)
            g, ot, st = costs(scenario, s)
            miss = missed(scenario, s)
            rows.append(
                f"| {scenario} | {s} | {b.goodput_bps / 1e6:.2f} -> {w.goodput_bps / 1e6:.2f} "
                f"| {100 * g:+.1f} % "
                f"| {b.on_time:.3f} -> {w.on_time:.3f} | {100 * ot:.2f} | {100 * st:.2f} "
                f"| {', '.join(sorted(miss)) or '-'} |"
            )
            listed = {bound for sc, sched, bound in MISSES if (sc, sched) == (scenario, s)}
            if miss != listed:
                disagree.append(f"{scenario} {s}: misses {sorted(miss)}, MISSES lists {sorted(listed)}")
    with capsys.disabled():
        print("\n" + "\n".join(rows))
    assert disagree == []


def _cases() -> list:
    out = []
    for scenario in WEAK:
        for s in SCHEDULERS:
            for bound in ("goodput", "on_time", "steady"):
                marks = ()
                if (scenario, s, bound) in MISSES:
                    marks = pytest.mark.xfail(strict=True, reason="misses issue 8's bound today")
                out.append(pytest.param(scenario, s, bound, marks=marks, id=f"{scenario}-{s}-{bound}"))
    return out


@pytest.mark.parametrize("scenario, scheduler, bound", _cases())
def test_weak_link_costs_at_most_the_issue_bound(scenario, scheduler, bound):
    goodput_loss, on_time_drop, steady_drop = costs(scenario, scheduler)
    if bound == "goodput":
        assert goodput_loss <= MAX_GOODPUT_LOSS, (
            f"goodput {100 * goodput_loss:.1f} % lower than without the weak link"
        )
    elif bound == "on_time":
        assert on_time_drop <= MAX_ON_TIME_DROP, f"on time {100 * on_time_drop:.2f} points lower"
    else:
        assert steady_drop <= MAX_ON_TIME_DROP, (
            f"on time after {STARTUP_S:g} s {100 * steady_drop:.2f} points lower"
        )


def test_scenarios_differ_only_by_the_weak_link():
    """The comparison is fair only if everything but the weak link (and its swing) is the same."""
    base = load_scenario(SCENARIOS / f"{BASELINE}.yaml")
    for name in WEAK:
        sc = load_scenario(SCENARIOS / f"{name}.yaml")
        assert (sc.duration_s, sc.seed, sc.encoder, sc.receiver, sc.bonding) == (
            base.duration_s,
            base.seed,
            base.encoder,
            base.receiver,
            base.bonding,
        )
        assert sc.links[: len(base.links)] == base.links
        weak = sc.links[-1]
        assert weak.capacity_bps == 100_000 and weak.loss > 0
        assert all(e.link == [weak.name] or e.link == weak.name for e in sc.events)
