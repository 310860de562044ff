"""The one entry point the CLI, notebooks, sweeps and regressions share to run a scenario."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from bondlab.results import (
    DEFAULT_RESULTS,
    StoredRun,
    begin_run,
    load_run,
    mark_incomplete,
    publish_run,
    run_dir,
    write_outputs,
    write_run_json,
)
from bondlab.scenario import Scenario, load_scenario
from bondlab.sim.runner import RunResult, run_sim


@dataclass(frozen=True)
class SimRunOutput:
    directory: Path
    result: RunResult

    @property
    def metrics(self) -> dict[str, Any]:
        return self.result.metrics


@contextmanager
def run_log(directory: Path):  # type: ignore[no-untyped-def]
    """Send bondlab's INFO log (congestion-control, `Adjusting bitrate`) to <run>/run.log."""
    handler = logging.FileHandler(directory / "run.log", mode="w")
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    handler.setLevel(logging.INFO)
    root = logging.getLogger("bondlab")
    old_level = root.level
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > logging.INFO:
        root.setLevel(logging.INFO)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        handler.close()


def as_scenario(scenario: Scenario | str | Path, overrides: Sequence[str] = ()) -> Scenario:
    if isinstance(scenario, Scenario):
        if overrides:
            raise ValueError("overrides apply to scenario files; use Scenario.model_copy(update=...) instead")
        return scenario
    return load_scenario(scenario, list(overrides))


def simulate(
    scenario: Scenario | str | Path,
    scheduler: str = "dwrr",
    seed: int | None = None,
    overrides: Sequence[str] = (),
    results: Path | None = DEFAULT_RESULTS,
    progress: bool = False,
) -> SimRunOutput:
    """Run one simulation; unless results is None, store it in results/<scenario>/<scheduler>-<seed>/.

    The run is built in a hidden staging directory beside that one (run.json first, run.log while it
    runs, outputs, the completion marker last) and swapped in only when complete: an interrupted run
    never replaces or mixes with a stored one (bondlab.results)."""
    sc = as_scenario(scenario, overrides)
    seed = sc.seed if seed is None else seed
    directory = run_dir(results, sc, scheduler, seed) if results is not None else Path()
    staging = begin_run(directory) if results is not None else Path()
    if results is not None:
        write_run_json(staging, sc, scheduler, seed, "sim")
    bar = tqdm(
        total=round(sc.duration_s, 1),
        unit="sim-s",
        desc=f"{sc.name} {scheduler}",
        leave=False,
        disable=not progress,
        bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} sim-s",
    )

    def tick(t: float) -> None:
        bar.update(round(t, 1) - bar.n)

    try:
        if results is not None:
            with run_log(staging):
                result = run_sim(sc, scheduler, seed, tick)
            write_outputs(staging, **result.outputs())
            publish_run(staging, directory)
        else:
            result = run_sim(sc, scheduler, seed, tick)
    except BaseException as exc:
        if results is not None:  # kept for its run.log, marked; removed once this process is gone
            mark_incomplete(staging, f"{type(exc).__name__}: {exc}".strip().rstrip(":"))
        raise
    finally:
        bar.close()
    return SimRunOutput(directory, result)


def sweep(
    scenario: Scenario | str | Path | Sequence[Scenario | str | Path],
    grid: dict[str, Iterable[Any]],
    schedulers: Sequence[str] = ("dwrr",),
    seeds: Sequence[int] = (1,),
    results: Path | None = None,
    progress: bool = True,
    workers: int | None = None,
    address: str | None = None,
    out: Path | None = None,
) -> pd.DataFrame:
    """Run every combination of `grid` (dotted scenario keys -> values) x schedulers x seeds.

    Points run in parallel on dask workers (`bondlab.sweep`: `workers` local processes, default
    one per core, or the scheduler at `address`). With `out` (or `results`: then
    results/sweeps/<scenario>/) each point is stored as it finishes and a rerun skips finished
    points; otherwise they go to a temporary directory. Returns one row per run: the grid values,
    scenario, scheduler, seed and the scalar metrics (`error` says why a point failed), ready to plot.
    """
    import tempfile

    from bondlab.sweep.runner import sweep_scenarios

    scenarios = list(scenario) if isinstance(scenario, list | tuple) else [scenario]
    plain_grid = {k: list(v) for k, v in grid.items()}
    args = (scenarios, plain_grid, list(schedulers), list(seeds))
    if out is None and results is not None:
        first = scenarios[0]
        out = Path(results) / "sweeps" / (first.name if isinstance(first, Scenario) else Path(first).stem)
    if out is not None:
        return sweep_scenarios(*args, Path(out), workers, address, progress)
    with tempfile.TemporaryDirectory(prefix="bondlab-sweep-") as tmp:
        return sweep_scenarios(*args, Path(tmp), workers, address, progress)


def _with_values(scenario: Scenario, values: dict[str, Any]) -> Scenario:
    from bondlab.scenario import apply_overrides, parse_scenario

    data = scenario.model_dump(mode="json")
    base_dir = Path(data.pop("base_dir"))
    data = apply_overrides(
        data,
        [f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}" for k, v in values.items()],
        source=f"{scenario.name} (sweep)",
    )
    return parse_scenario(data, f"{scenario.name} (sweep)", base_dir, scenario.name)


def load(directory: Path) -> StoredRun:
    return load_run(directory)
