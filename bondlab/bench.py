"""Honest speed numbers: the simulator and raw SimPy measured side by side in one run, interleaved,
so the ratio survives a shared, noisy machine. Nothing here is tuned to a target."""

from __future__ import annotations

import random
import statistics
import time
from pathlib import Path
from typing import Any

import simpy

from bondlab.core.schedulers import make_scheduler
from bondlab.scenario import load_scenario
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
    """
    from bondlab.cluster import dask_client
    from bondlab.sweep.points import expand
    from bondlab.sweep.spec import SweepSpec

    duration_s = duration_s or (20.0 if quick else 30.0)
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
