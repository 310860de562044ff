"""The one entry point the CLI, notebooks, sweeps and regressions share to run a scenario."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from bondlab.results import DEFAULT_RESULTS, StoredRun, load_run, run_dir, write_outputs, write_run_json
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
    """Run one simulation; unless results is None, store it in results/<scenario>/<scheduler>-<seed>/."""
    sc = as_scenario(scenario, overrides)
    seed = sc.seed if seed is None else seed
    directory = run_dir(results, sc, scheduler, seed) if results is not None else Path()
    if results is not None:
        write_run_json(directory, sc, scheduler, seed, "sim")
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
            with run_log(directory):
                result = run_sim(sc, scheduler, seed, tick)
            write_outputs(directory, result.metrics, result.timeseries, result.messages, result.delays_ms)
        else:
            result = run_sim(sc, scheduler, seed, tick)
    finally:
        bar.close()
    return SimRunOutput(directory, result)


def sweep(
    scenario: Scenario | str | Path,
    grid: dict[str, Iterable[Any]],
    schedulers: Sequence[str] = ("dwrr",),
    seeds: Sequence[int] = (1,),
    results: Path | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Run every combination of `grid` (dotted scenario keys -> values) x schedulers x seeds.

    Returns one row per run: the grid values, scheduler, seed and the scalar metrics, ready to plot.
    """
    base = as_scenario(scenario)
    keys = list(grid)
    combos = list(itertools.product(*(list(grid[k]) for k in keys)))
    rows = []
    total = len(combos) * len(schedulers) * len(seeds)
    with tqdm(total=total, desc="sweep", disable=not progress) as bar:
        for values in combos:
            sc = _with_values(base, dict(zip(keys, values, strict=True)))
            for scheduler in schedulers:
                for seed in seeds:
                    out = simulate(sc, scheduler, seed, results=results)
                    scalars = {k: v for k, v in out.metrics.items() if not isinstance(v, dict)}
                    rows.append(
                        {
                            **dict(zip(keys, values, strict=True)),
                            "scheduler": scheduler,
                            "seed": seed,
                            **scalars,
                        }
                    )
                    bar.update(1)
    return pd.DataFrame(rows)


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
