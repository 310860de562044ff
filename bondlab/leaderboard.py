"""Leaderboard runs for `bondlab compare`: scenarios x schedulers x rate controllers x seeds.

Why here and not in the CLI: the plan (which runs, where each is stored) is what tests check,
and the runs may spread over worker processes. The oracle brings its own bitrate rule, so it
runs once per scenario and seed whatever the rate controllers; when it runs, the aggregated
single-link bound (bondlab/sim/single_link.py) runs beside it. With `--rate-controllers`, each
controller's runs are stored under RESULTS/rate-controllers/<name>/ (a run's directory names
only its scheduler and seed); the oracle's and the bound's under RESULTS itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from bondlab.core.rate_controllers import RATE_CONTROLLERS
from bondlab.scenario import Scenario
from bondlab.schedulers import scheduler_names

ALL = "all"
ORACLE = "oracle"
SINGLE_LINK = "single-link"


def _names(text: str, allowed: Sequence[str], option: str) -> list[str]:
    out: list[str] = []
    for name in (s.strip() for s in text.split(",")):
        if not name:
            continue
        expanded = list(allowed) if name == ALL else [name]
        for n in expanded:
            if n not in allowed:
                raise ValueError(f"{option}: unknown name {n!r} (choose from {ALL}, {', '.join(allowed)})")
            if n not in out:
                out.append(n)
    if not out:
        raise ValueError(f"{option}: give at least one name")
    return out


def expand_schedulers(text: str) -> list[str]:
    """Comma-separated names; `all` is every sim-capable registered scheduler, in registry order."""
    return _names(text, scheduler_names("sim"), "--schedulers")


def expand_rate_controllers(text: str | None) -> list[str | None]:
    """Comma-separated rate controllers (`all`: every one); None keeps each scenario's own."""
    if text is None:
        return [None]
    return list(_names(text, RATE_CONTROLLERS, "--rate-controllers"))


@dataclass(frozen=True)
class Job:
    """One run to make: `rate_controller` None means the scenario's own (or the oracle's rule)."""

    scenario: Scenario
    scheduler: str
    rate_controller: str | None
    seed: int

    @property
    def label(self) -> str:
        rc = f"+{self.rate_controller}" if self.rate_controller else ""
        return f"{self.scenario.name} {self.scheduler}{rc} seed={self.seed}"


def plan(
    scenarios: Sequence[Scenario],
    schedulers: Sequence[str],
    rate_controllers: Sequence[str | None],
    seeds: Sequence[int | None],
) -> list[Job]:
    jobs: list[Job] = []
    for sc in scenarios:
        for seed in seeds:
            s = sc.seed if seed is None else seed
            for rc in rate_controllers:
                jobs.extend(Job(sc, name, rc, s) for name in schedulers if name != ORACLE)
            if ORACLE in schedulers:
                jobs.append(Job(sc, ORACLE, None, s))
                jobs.append(Job(sc, SINGLE_LINK, None, s))
    return jobs


def results_root(results: Path, rate_controller: str | None) -> Path:
    return Path(results) if rate_controller is None else Path(results) / "rate-controllers" / rate_controller


def with_rate_controller(scenario: Scenario, rate_controller: str | None) -> Scenario:
    if rate_controller is None:
        return scenario
    bonding = scenario.bonding.model_copy(update={"rate_controller": rate_controller, "rate_control": True})
    return scenario.model_copy(update={"bonding": bonding})


def run_job(job: Job, results: Path) -> Path:
    """Make one run and store it; returns its directory."""
    from bondlab.api import simulate

    if job.scheduler == SINGLE_LINK:
        return run_single_link(job.scenario, job.seed, Path(results))
    sc = with_rate_controller(job.scenario, job.rate_controller)
    out = simulate(sc, job.scheduler, job.seed, results=results_root(results, job.rate_controller))
    return out.directory


def run_single_link(scenario: Scenario, seed: int, results: Path) -> Path:
    """The aggregated single-link bound, stored as RESULTS/<scenario>/single-link-<seed>/ the way
    `simulate` stores a run (staged, published when complete). Its merged trace is kept in the
    run directory, and run.json's scenario points there, so the run can be replayed."""
    from bondlab.api import run_log
    from bondlab.results import (
        begin_run,
        mark_incomplete,
        publish_run,
        run_dir,
        write_outputs,
        write_run_json,
    )
    from bondlab.reuse import digests_key, trace_digests
    from bondlab.sim.runner import run_sim
    from bondlab.sim.single_link import single_link_scenario

    final = run_dir(results, scenario, SINGLE_LINK, seed)
    staging = begin_run(final)
    try:
        one = single_link_scenario(scenario, seed, staging)  # the trace is read from here while running
        stored = one.model_copy(update={"base_dir": str(final)})  # ... and found there once published
        source = {"bound_of": scenario.resolved(), digests_key("bound_of"): trace_digests(scenario)}
        write_run_json(staging, stored, SINGLE_LINK, seed, "sim", source)
        with run_log(staging):
            result = run_sim(one, "dwrr", seed)
        write_outputs(staging, **result.outputs())
        publish_run(staging, final)
    except BaseException as exc:
        mark_incomplete(staging, f"{type(exc).__name__}: {exc}".strip().rstrip(":"))
        raise
    return final


def stored_run(job: Job, results: Path) -> Path | None:
    """The run `run_job` would make, if it is stored already and nothing deciding it changed
    (bondlab/reuse.py); None when it must run."""
    from bondlab.results import run_dir
    from bondlab.reuse import reusable

    if job.scheduler == SINGLE_LINK:
        where = run_dir(Path(results), job.scenario, SINGLE_LINK, job.seed)
        return where if reusable(where, job.scenario, SINGLE_LINK, job.seed, "bound_of") else None
    sc = with_rate_controller(job.scenario, job.rate_controller)
    where = run_dir(results_root(results, job.rate_controller), sc, job.scheduler, job.seed)
    return where if reusable(where, sc, job.scheduler, job.seed) else None


def run_jobs(
    jobs: Sequence[Job],
    results: Path,
    workers: int = 1,
    done: Callable[[int, Job, Path], None] | None = None,
    rerun: bool = False,
) -> tuple[list[Path], int]:
    """Run every job (in `workers` processes when > 1), reusing stored runs unless `rerun`;
    (directories in job order, how many were reused). `done(k, job, directory)` after each."""
    stored = [None if rerun else stored_run(job, results) for job in jobs]
    dirs: list[Path] = []
    if workers <= 1:
        for k, (job, have) in enumerate(zip(jobs, stored, strict=True), 1):
            dirs.append(have or run_job(job, results))
            if done is not None:
                done(k, job, dirs[-1])
        return dirs, sum(s is not None for s in stored)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [
            None if have else pool.submit(run_job, job, results)
            for job, have in zip(jobs, stored, strict=True)
        ]
        for k, (job, have, future) in enumerate(zip(jobs, stored, futures, strict=True), 1):
            dirs.append(have or future.result())  # type: ignore[union-attr]
            if done is not None:
                done(k, job, dirs[-1])
    return dirs, sum(s is not None for s in stored)
