"""Run a sweep's missing points on dask workers and store each one as it finishes.

Only the main process writes, one whole file per point as its outcome arrives, so a worker that
dies never leaves half a result, and a sweep killed at any moment resumes from what is on disk.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from bondlab import __version__
from bondlab.cluster import Outcome, dask_client, default_workers, run_all
from bondlab.results import DEFAULT_RESULTS
from bondlab.scenario import Scenario
from bondlab.sweep.points import Point, bases_from_scenarios, expand
from bondlab.sweep.spec import SweepSpec, load_spec, parse_spec
from bondlab.sweep.store import load_points, remove_stale_temporaries, write_manifest, write_point


@dataclass
class SweepRun:
    """What a sweep did: the rows of its points, and how many ran now, were on disk, failed."""

    out: Path
    params: list[str]
    frame: pd.DataFrame
    total: int
    ran: int
    skipped: int
    failed: int


def run_point(point: Point) -> dict[str, Any]:
    """On a worker: simulate one point without writing run directories; its scalar metrics."""
    from bondlab.api import simulate

    metrics = simulate(point.scenario, point.scheduler, point.seed, results=None).metrics
    return {k: v for k, v in metrics.items() if not isinstance(v, dict | list)}


def make_row(point: Point, params: list[str], outcome: Outcome) -> dict[str, Any]:
    return {
        **{k: point.values.get(k) for k in params},
        "scenario": point.scenario.name,
        "scenario_path": point.scenario_path,
        "scheduler": point.scheduler,
        "seed": point.seed,
        **(outcome.result or {}),
        "point_key": point.key,
        "bondlab_version": __version__,
        "error": outcome.error,
        "seconds": round(outcome.seconds, 4),
    }


class _Interrupts:
    """Ctrl-C and SIGTERM stop a sweep the same way: KeyboardInterrupt, cluster shut down, finished
    points kept. While the cluster starts they wait: dask cannot stop a half-started LocalCluster
    cleanly (it leaves tracebacks and asyncio errors), so the interrupt is raised once it is up.
    """

    def __init__(self) -> None:
        self.deferring = False
        self.pending = False

    def handler(self, signum: int, frame: Any) -> None:
        if self.deferring:
            self.pending = True
            return
        self.deferring = True  # a second signal must not break the shutdown the first one started
        raise KeyboardInterrupt

    @contextmanager
    def installed(self) -> Iterator[_Interrupts]:
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        old = {
            sig: signal.signal(sig, self.handler)
            for sig in (signal.SIGINT, signal.SIGTERM)
            if signal.getsignal(sig) is not signal.SIG_IGN  # e.g. SIGINT of a background job
        }
        try:
            yield self
        finally:
            for sig, handler in old.items():
                signal.signal(sig, handler)

    @contextmanager
    def deferred(self) -> Iterator[None]:
        self.deferring = True
        try:
            yield
        finally:
            self.deferring = False
        if self.pending:
            raise KeyboardInterrupt


def _say(progress: bool, text: str) -> None:
    if progress:
        print(text, file=sys.stderr, flush=True)


def execute(
    points: list[Point],
    params: list[str],
    out: Path,
    workers: int | None = None,
    address: str | None = None,
    progress: bool = True,
    manifest: dict[str, Any] | None = None,
) -> SweepRun:
    """Run the points not yet stored under `out` (failed ones again), writing each as it finishes."""
    out = Path(out)
    keys = [p.key for p in points]
    write_manifest(out, {"params": params, "bondlab_version": __version__, **(manifest or {})})
    remove_stale_temporaries(out)
    stored = load_points(out, set(keys))
    done = set(stored.loc[stored["error"].isna(), "point_key"]) if len(stored) else set()
    todo = [p for p in points if p.key not in done]
    failed = 0
    if todo:
        n = min(workers or default_workers(), len(todo)) if address is None else None
        where = address or f"{n} local worker{'s' * (n != 1)}"
        _say(
            progress, f"sweep: {len(points)} points, {len(done)} already done, running {len(todo)} on {where}"
        )
        written = 0
        try:
            with _Interrupts().installed() as interrupts, ExitStack() as stack:
                with interrupts.deferred():
                    client = stack.enter_context(dask_client(n, address))
                for outcome in run_all(run_point, todo, client, desc="sweep", progress=progress):
                    write_point(out, make_row(outcome.item, params, outcome))
                    written += 1
                    failed += outcome.error is not None
        except KeyboardInterrupt:
            print(
                f"interrupted: {len(done) + written} of {len(points)} points stored in {out}; "
                "run the same sweep again to finish it",
                file=sys.stderr,
            )
            raise
    frame = load_points(out, set(keys))
    order = {k: i for i, k in enumerate(keys)}
    if len(frame):
        frame = frame.sort_values("point_key", key=lambda s: s.map(order)).reset_index(drop=True)
    frame.attrs["sweep"] = {"out": str(out), "params": params}
    return SweepRun(out, params, frame, len(points), len(todo), len(done), failed)


def default_out(name: str | None) -> Path:
    return DEFAULT_RESULTS / "sweeps" / (name or "sweep")


def run_spec(
    spec_or_path: SweepSpec | dict[str, Any] | str | Path,
    workers: int | None = None,
    address: str | None = None,
    out: str | Path | None = None,
    progress: bool = True,
) -> SweepRun:
    """Validate and expand the spec (every point, before any runs), then `execute` it."""
    if isinstance(spec_or_path, SweepSpec):
        spec, source = spec_or_path, spec_or_path.name or "sweep spec"
    elif isinstance(spec_or_path, dict):
        spec, source = parse_spec(spec_or_path, "sweep spec", Path.cwd()), "sweep spec"
    else:
        spec, source = load_spec(spec_or_path), str(spec_or_path)
    points = expand(spec, source)
    target = Path(out) if out is not None else default_out(spec.name)
    info = {"spec": source, "scenarios": spec.scenarios, "schedulers": spec.schedulers}
    return execute(points, spec.params(), target, workers, address, progress, info)


def run_sweep(
    spec_or_path: SweepSpec | dict[str, Any] | str | Path,
    workers: int | None = None,
    address: str | None = None,
    out: str | Path | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Run a sweep spec (a YAML file, a dict of its fields or a SweepSpec); one row per point.

    Points already stored under `out` (default `results/sweeps/<spec name>/`) are not run again,
    so calling this twice, or after an interruption, finishes the sweep. Columns: each swept
    dotted key, scenario, scenario_path, scheduler, seed, every scalar metric, point_key,
    bondlab_version, error (None, or why the point failed) and seconds.
    """
    return run_spec(spec_or_path, workers, address, out, progress).frame


def sweep_scenarios(
    scenarios: list[Scenario | str | Path],
    grid: dict[str, list[Any]],
    schedulers: list[str],
    seeds: list[int] | None,
    out: Path,
    workers: int | None = None,
    address: str | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """A grid over scenario objects or files, for `bondlab.api.sweep` (no spec file needed)."""
    bases = bases_from_scenarios(scenarios)
    data = {"scenarios": [b.label for b in bases], "schedulers": schedulers, "seeds": seeds, "grid": grid}
    spec = parse_spec({k: v for k, v in data.items() if v is not None}, "sweep", Path.cwd())
    points = expand(spec, "sweep", bases)
    return execute(points, spec.params(), out, workers, address, progress).frame
