"""The Python API behind `bondlab.run`, `compare`, `sweep`, `tune` and `load_results`: DataFrames in
the shapes notebooks plot directly, one row per run (scenario, scheduler, seed, scalar metrics).

Thin on purpose: runs go through bondlab.api.simulate, sweeps through bondlab.sweeps, tuning
through bondlab.tuner, so the CLI and the notebooks cannot disagree.
"""

from __future__ import annotations

import importlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from bondlab.scenario import Scenario, load_scenario
from bondlab.tuner.points import scalar_metrics, truncate

ScenarioLike = Scenario | str | Path
KEY_COLUMNS = ["scenario", "scheduler", "seed"]


def _scenario(scenario: ScenarioLike, overrides: Sequence[str], duration_s: float | None) -> Scenario:
    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario, list(overrides))
    if isinstance(scenario, Scenario) and overrides:
        raise ValueError("overrides apply to scenario files; pass a path")
    return truncate(sc, duration_s)


def _scenario_list(scenarios: ScenarioLike | Sequence[ScenarioLike]) -> list[ScenarioLike]:
    """A file, a folder (its *.yaml files) or a list of either."""
    items = [scenarios] if isinstance(scenarios, str | Path | Scenario) else list(scenarios)
    out: list[ScenarioLike] = []
    for item in items:
        out.extend(
            sorted(Path(item).glob("*.yaml"))
            if not isinstance(item, Scenario) and Path(item).is_dir()
            else [item]
        )
    return out


def run(
    scenario: ScenarioLike,
    scheduler: str = "dwrr",
    seed: int | None = None,
    overrides: Sequence[str] = (),
    duration_s: float | None = None,
    results: str | Path | None = None,
    timeseries: bool = False,
) -> pd.DataFrame:
    """Simulate one scenario; one row: scenario, scheduler, seed and every scalar metric.

    `overrides` are `--set` strings ("bonding.alpha=0.2"); `duration_s` keeps only the first seconds
    (later events dropped). Nothing is stored unless `results` names a directory (then `path` says
    where). With `timeseries=True` the per-interval, per-link timeseries is returned instead, with
    the same key columns, ready for plotting.
    """
    from bondlab.api import simulate

    sc = _scenario(scenario, overrides, duration_s)
    out = simulate(sc, scheduler, seed, results=Path(results) if results is not None else None)
    keys = {"scenario": sc.name, "scheduler": scheduler, "seed": sc.seed if seed is None else seed}
    if timeseries:
        return out.result.timeseries.assign(**keys)
    row = {**keys, **scalar_metrics(out.metrics)}
    if results is not None:
        row["path"] = str(out.directory)
    return pd.DataFrame([row])


def compare(
    scenarios: ScenarioLike | Sequence[ScenarioLike],
    schedulers: Sequence[str] = ("rr", "dwrr"),
    seeds: Sequence[int] | None = None,
    overrides: Sequence[str] = (),
    duration_s: float | None = None,
    results: str | Path | None = None,
) -> pd.DataFrame:
    """Every scenario (files, folders or Scenario objects) x scheduler x seed; one row per run.

    Seeds default to each scenario's own. Scenarios are all validated before the first run.
    """
    loaded = [_scenario(s, overrides, duration_s) for s in _scenario_list(scenarios)]
    frames = [
        run(sc, scheduler, seed, results=results)
        for sc in loaded
        for scheduler in schedulers
        for seed in (seeds or [sc.seed])
    ]
    return pd.concat(frames, ignore_index=True)


def sweep(
    spec: str | Path | dict[str, Any],
    workers: int | None = None,
    address: str | None = None,
    out: str | Path | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Run a sweep spec (as `bondlab sweep` does: parallel, resumable); one row per point."""
    try:
        module = importlib.import_module("bondlab.sweeps")
    except ModuleNotFoundError:
        module = importlib.import_module("bondlab.sweep")
    return module.run_sweep(spec, workers=workers, address=address, out=out, progress=progress)


def tune(
    spec: str | Path | dict[str, Any],
    trials: int | None = None,
    workers: int | None = None,
    address: str | None = None,
    out: str | Path | None = None,
    progress: bool = True,
    base_dir: str | Path | None = None,
) -> pd.DataFrame:
    """Run the tuner on a spec (as `bondlab tune` does); the train / validation summary table.

    Rows: each scenario (split train or validate) with the defaults' and the tuned score and the
    change, then the means and the gap. `.attrs` holds `best_params`, `out_dir` and `trials`
    (every trial's parameters and value). A dict spec's paths are relative to `base_dir`.
    """
    from bondlab.tuner import tune as run_tuner

    result = run_tuner(spec, trials, workers, address, out, progress, base_dir)
    table = result.summary.copy()
    table.attrs = {"best_params": result.best_params, "out_dir": str(result.out_dir), "trials": result.trials}
    return table


def load_results(path: str | Path) -> pd.DataFrame:
    """Whatever bondlab wrote under `path`, as rows.

    A results directory or one run directory: a row per run (key columns, backend, path, scalar
    metrics). A sweep directory (parquet dataset): its rows. A tuning directory: its summary.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such results directory")
    if (path / "summary.csv").is_file() and (path / "study.db").is_file():
        return pd.read_csv(path / "summary.csv")
    runs, candidates = _complete_runs(path)
    if runs:
        return pd.DataFrame([_run_row(d) for d in runs])
    if candidates:
        raise FileNotFoundError(f"{path}: no complete runs ({candidates} incomplete, skipped)")
    if (path / "points").is_dir() and any((path / "points").rglob("*.parquet")):
        return pd.read_parquet(path / "points")  # a sweep's --out folder: its report/ is not data
    if any(path.rglob("*.parquet")):
        return pd.read_parquet(path)
    raise FileNotFoundError(f"{path}: no runs, sweep or tuning results found")


def save_scenario(scenario: Scenario, path: str | Path) -> Path:
    """Write a scenario (say, a truncated one) as a file that loads back the same; traces by absolute path.

    For the tools that take scenario files (sweeps, regressions, the CLI).
    """
    data = scenario.resolved()
    data.pop("base_dir")
    for item in [*data["links"], *data["events"]]:
        if item.get("trace"):
            item["trace"] = str(scenario.trace_path(item["trace"]).resolve())
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _complete_runs(path: Path) -> tuple[list[Path], int]:
    """Run directories at or below `path` that are complete results; the rest (no completion
    marker: interrupted, failed or being written) are skipped with a logged note, and hidden
    staging directories are not looked at. Also returns how many run directories were found."""
    from bondlab.results import incomplete_reason

    found = set()
    for name in ("run.json", "metrics.json"):
        for p in path.rglob(name):
            if not any(part.startswith(".") for part in p.relative_to(path).parts[:-1]):
                found.add(p.parent)
    runs = []
    for directory in sorted(found):
        why = incomplete_reason(directory)
        if why is None:
            runs.append(directory)
        else:
            logging.getLogger("bondlab.results").warning("note: skipping %s: %s", directory, why)
    return runs, len(found)


def _run_row(directory: Path) -> dict[str, Any]:
    meta = json.loads((directory / "run.json").read_text())
    metrics = json.loads((directory / "metrics.json").read_text())
    return {
        "scenario": meta["scenario_name"],
        "scheduler": meta["scheduler"],
        "seed": meta["seed"],
        "backend": meta.get("backend", "sim"),
        "path": str(directory),
        **scalar_metrics(metrics),
    }
