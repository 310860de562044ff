"""Honest speed numbers: the simulator and raw SimPy measured side by side in one run, interleaved,
so the ratio survives a shared, noisy machine. Nothing here is tuned to a target."""

from __future__ import annotations

import random
import resource
import statistics
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import simpy

from bondlab.scenario import load_scenario
from bondlab.schedulers import make_scheduler
from bondlab.sim.runner import SimRun

BENCH_SCENARIO = Path(__file__).resolve().parent.parent / "scenarios" / "seed-asymmetric.yaml"


def simpy_timeouts_per_s(n: int) -> float:
    """Raw SimPy event rate: one process yielding n zero-work timeouts."""
    env = simpy.Environment()

    def proc(env: simpy.Environment):  # type: ignore[no-untyped-def]
        for _ in range(n):
            yield env.timeout(1)

    env.process(proc(env))
    t0 = time.perf_counter()
    env.run()
    return n / (time.perf_counter() - t0)


def sim_packets_per_s(duration_s: float) -> float:
    """Packets (sent + retransmitted) simulated per wall-clock second on the seed scenario with DWRR."""
    sc = load_scenario(BENCH_SCENARIO, [f"duration_s={duration_s}"])
    run = SimRun(sc, "dwrr")
    t0 = time.perf_counter()
    run.run()
    elapsed = time.perf_counter() - t0
    return (run.packets_sent + run.retransmissions) / elapsed


def decision_cost_ns(name: str, picks: int, n_links: int = 4) -> float:
    """Mean ns per pick() with mixed packet sizes and realistic unequal weights."""
    rng = random.Random(7)
    sizes = [rng.choice((188, 700, 1316, 1316, 1316)) for _ in range(4096)]
    sched = make_scheduler(name, n_links)
    sched.set_weights([10e6, 2e6, 5e6, 0.5e6][:n_links])
    t0 = time.perf_counter_ns()
    for i in range(picks):
        sched.pick(sizes[i & 4095])
    return (time.perf_counter_ns() - t0) / picks


def run_bench(quick: bool = False, trials: int | None = None) -> dict[str, Any]:
    trials = trials or (3 if quick else 5)
    sim_s = 10.0 if quick else 30.0
    n_timeouts = 100_000 if quick else 300_000
    picks = 50_000 if quick else 200_000
    pps, tps, rr, dwrr = [], [], [], []
    for _ in range(trials):  # interleaved, so drifting machine load hits both sides alike
        pps.append(sim_packets_per_s(sim_s))
        tps.append(simpy_timeouts_per_s(n_timeouts))
        rr.append(decision_cost_ns("rr", picks))
        dwrr.append(decision_cost_ns("dwrr", picks))
    ratios = [p / t for p, t in zip(pps, tps, strict=True)]
    costs = [d / r for d, r in zip(dwrr, rr, strict=True)]
    return {
        "sim_packets_per_s": round(statistics.median(pps)),
        "simpy_timeouts_per_s": round(statistics.median(tps)),
        "ratio": round(statistics.median(ratios), 3),
        "ratio_goal": ">= 0.25",
        "rr_decision_ns": round(statistics.median(rr), 1),
        "dwrr_decision_ns": round(statistics.median(dwrr), 1),
        "dwrr_over_rr_decision_cost": round(statistics.median(costs), 3),
        "dwrr_over_rr_goal": "<= 2.0 (and DWRR under 10 us)",
        "trials": trials,
    }


# --- sweep scaling (`bondlab bench --sweep`) ---


def _warm_up_worker() -> None:
    """Imports and a one-second sim on a worker, so the timed rounds measure only the points."""
    from bondlab.api import simulate

    simulate(BENCH_SCENARIO, "dwrr", overrides=["duration_s=1"], results=None)


def _timed_round(client: Any, points: list[Any]) -> float:
    """Points per second for one pass of `points` through the sweep runner's own path."""
    from bondlab.cluster import run_all
    from bondlab.sweep.runner import run_point

    t0 = time.perf_counter()
    outcomes = list(run_all(run_point, points, client, progress=False))
    elapsed = time.perf_counter() - t0
    errors = [o.error for o in outcomes if o.error]
    if errors:
        raise RuntimeError(f"bench point failed: {errors[0]}")
    return len(points) / elapsed


def sweep_scaling(
    quick: bool = False, points: int = 8, duration_s: float | None = None, trials: int | None = None
) -> dict[str, Any]:
    """Sweep points/s on a 1-worker and a 2-worker LocalCluster, both up at once, rounds interleaved.

    The same `points` seeds of the seed scenario run on each; cluster start-up and worker warm-up
    are outside the timing. The ratio is the median of per-round ratios (goal >= 1.8 on 2 cores).
    Points are 200 simulated seconds (~1 s of CPU), the size of a real sweep point: at 30 s the
    per-task round trip through the scheduler, not the sim, set the figure.
    """
    from bondlab.cluster import dask_client
    from bondlab.sweep.points import expand
    from bondlab.sweep.spec import SweepSpec

    duration_s = duration_s or (60.0 if quick else 200.0)
    trials = trials or (2 if quick else 5)
    spec = SweepSpec.model_validate(
        {
            "scenarios": [str(BENCH_SCENARIO)],
            "seeds": list(range(1, points + 1)),
            "set": {"duration_s": duration_s},
        }
    )
    todo = expand(spec, "bench")
    one: list[float] = []
    two: list[float] = []
    with dask_client(1) as c1, dask_client(2) as c2:
        if c1 is None or c2 is None:
            raise RuntimeError(
                "the sweep benchmark measures worker processes, which cannot start here (see above)"
            )
        for client in (c1, c2):
            client.run(_warm_up_worker)
            _timed_round(client, todo[:2])  # the scheduler's first tasks, untimed
        for _ in range(trials):
            one.append(_timed_round(c1, todo))
            two.append(_timed_round(c2, todo))
    ratios = [b / a for a, b in zip(one, two, strict=True)]
    return {
        "sweep_points": len(todo),
        "sweep_point_sim_s": duration_s,
        "sweep_1_worker_points_per_s": round(statistics.median(one), 2),
        "sweep_2_workers_points_per_s": round(statistics.median(two), 2),
        "sweep_speedup": round(statistics.median(ratios), 3),
        "sweep_speedup_goal": ">= 1.8",
        "sweep_trials": trials,
    }


# --- one simulated hour (`bondlab bench --long`) ---

LONG_SCENARIO = BENCH_SCENARIO.parent / "cellular-traces.yaml"


def current_rss_mb() -> float:
    """Resident set size now (Linux /proc), or the peak where /proc is missing.

    Growth needs the current value: ru_maxrss only ever rises, so it would hide memory given back.
    """
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * resource.getpagesize() / 1e6
    except OSError:
        return peak_rss_mb()


def peak_rss_mb() -> float:
    """Peak resident set size of this process (ru_maxrss counts KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6


@dataclass
class Checkpoint:
    """The state of a long run at the end of one simulated window (a minute by default)."""

    sim_t: float
    wall_s: float  # since the run started
    cpu_s: float  # this process's CPU time since the run started: what a shared machine cannot inflate
    rss_mb: float
    traced_mb: float | None  # Python heap per tracemalloc, when the caller turned it on
    packets: int  # sent + retransmitted so far


def long_run(
    duration_s: float = 3600.0,
    scenario: Path = LONG_SCENARIO,
    scheduler: str = "dwrr",
    window_s: float = 60.0,
) -> dict[str, Any]:
    """One long sim run of `scenario` (traces loop), watched through the sender loop's progress.

    At every `window_s` of simulated time it notes wall time, RSS and (if tracemalloc is on) the
    traced heap. What it reports answers two questions: does memory stay bounded (growth per
    simulated minute after the first two, and the peak), and does a simulated second cost the
    same at the end as at the start (first window against last). Wall time is reported as asked,
    but CPU time is the honest cost on a shared machine (other jobs stretch wall time, not CPU),
    and cost per packet too, because the traces' load differs from minute to minute and a busier
    minute costs more for no other reason.
    """
    sc = load_scenario(scenario, [f"duration_s={duration_s}"])
    marks: list[Checkpoint] = []
    run: SimRun | None = None
    t0, c0 = time.perf_counter(), time.process_time()
    next_mark = [window_s]

    def progress(t: float) -> None:
        if t + 1e-9 < next_mark[0]:
            return
        next_mark[0] += window_s
        assert run is not None
        traced = tracemalloc.get_traced_memory()[0] / 1e6 if tracemalloc.is_tracing() else None
        packets = run.packets_sent + run.retransmissions
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        marks.append(Checkpoint(t, wall, cpu, current_rss_mb(), traced, packets))

    start = Checkpoint(0.0, 0.0, 0.0, current_rss_mb(), None, 0)
    run = SimRun(sc, scheduler, progress=progress)
    result = run.run()
    wall = time.perf_counter() - t0
    return summarize_long(start, marks, wall, duration_s, window_s) | {
        "scenario": sc.name,
        "scheduler": scheduler,
        "decodable_ratio": round(result.metrics["decodable_ratio"], 4),
        "frames_total": result.metrics["frames_total"],
    }


def _window_cost(a: Checkpoint, b: Checkpoint) -> tuple[float, float, float]:
    """(wall ms per simulated second, CPU ms per simulated second, CPU us per packet) from a to b."""
    sim = b.sim_t - a.sim_t
    cpu = b.cpu_s - a.cpu_s
    return (b.wall_s - a.wall_s) / sim * 1e3, cpu / sim * 1e3, cpu / max(b.packets - a.packets, 1) * 1e6


def summarize_long(
    start: Checkpoint, marks: list[Checkpoint], wall: float, duration_s: float, window_s: float
) -> dict[str, Any]:
    """The numbers `bench --long` prints, from the checkpoints of one run."""
    if len(marks) < 3:
        raise ValueError(f"a long run needs at least 3 windows of {window_s} s, got {len(marks)}")
    first_w, first_c, first_p = _window_cost(start, marks[0])
    last_w, last_c, last_p = _window_cost(marks[-2], marks[-1])
    base = marks[1]  # after two windows: imports, caches and the first allocations are done
    minutes = (marks[-1].sim_t - base.sim_t) / 60.0
    out: dict[str, Any] = {
        "sim_s": duration_s,
        "wall_s": round(wall, 2),
        "sim_s_per_wall_s": round(duration_s / wall, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "rss_start_mb": round(start.rss_mb, 1),
        "rss_end_mb": round(marks[-1].rss_mb, 1),
        "rss_growth_mb_per_sim_min": round((marks[-1].rss_mb - base.rss_mb) / minutes, 3),
        "first_window_wall_ms_per_sim_s": round(first_w, 2),
        "last_window_wall_ms_per_sim_s": round(last_w, 2),
        "wall_cost_ratio_last_over_first": round(last_w / first_w, 3),
        "first_window_cpu_ms_per_sim_s": round(first_c, 2),
        "last_window_cpu_ms_per_sim_s": round(last_c, 2),
        "cpu_cost_ratio_last_over_first": round(last_c / first_c, 3),
        "cpu_us_per_packet_first_last": [round(first_p, 2), round(last_p, 2)],
        "packet_cost_ratio_last_over_first": round(last_p / first_p, 3),
        "cost_ratio_goal": "<= 1.2 (flat)",
        "rss_by_window_mb": [round(m.rss_mb, 1) for m in marks],
    }
    if base.traced_mb is not None and marks[-1].traced_mb is not None:
        out["heap_growth_mb_per_sim_min"] = round((marks[-1].traced_mb - base.traced_mb) / minutes, 3)
    return out


# --- goals: met or not (`bondlab bench` says so and exits 1 when one is missed) ---

# Each "*_goal" key of a result, and the measured key it judges. A goal reads "<op> <number> ...".
GOAL_OF = {
    "ratio_goal": "ratio",
    "dwrr_over_rr_goal": "dwrr_over_rr_decision_cost",
    "sweep_speedup_goal": "sweep_speedup",
    "cost_ratio_goal": "cpu_cost_ratio_last_over_first",  # CPU: what other jobs cannot stretch
}
DWRR_DECISION_LIMIT_NS = 10_000.0  # "and DWRR under 10 us"


@dataclass(frozen=True)
class GoalCheck:
    name: str
    value: float
    goal: str
    met: bool

    def text(self) -> str:
        return f"{self.name} {self.value:g} (goal {self.goal}): {'met' if self.met else 'NOT MET'}"


def judge_goals(result: dict[str, Any]) -> list[GoalCheck]:
    """Every goal the result states, judged on its own measured value."""
    out = []
    for goal_key, measured in GOAL_OF.items():
        if goal_key not in result or measured not in result:
            continue
        op, bound = str(result[goal_key]).split()[:2]
        value, limit = float(result[measured]), float(bound)
        met = value >= limit if op == ">=" else value <= limit
        out.append(GoalCheck(measured, value, f"{op} {bound}", met))
    if "dwrr_decision_ns" in result:
        ns = float(result["dwrr_decision_ns"])
        out.append(
            GoalCheck("dwrr_decision_ns", ns, f"< {DWRR_DECISION_LIMIT_NS:g}", ns < DWRR_DECISION_LIMIT_NS)
        )
    return out
