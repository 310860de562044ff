"""Regression runs: simulate every scenario that carries an `expect:` block and judge its bounds.

A scenario file states the behaviour it exists to show (`expect:`); `bondlab regress` runs it once
per scheduler its expectations name (and per seed of `expect.seeds`, judging their mean), on the
same dask runner as sweeps, and turns each bound into a PASS/FAIL row and a JUnit testcase, so CI
fails when a change breaks what a scenario shows.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bondlab.cluster import Outcome, dask_client, default_workers, run_all
from bondlab.expect import Expectation, judge, mean_metrics, parse_expect, parse_seeds
from bondlab.scenario import Scenario, ScenarioError, load_scenario, yaml_files


class RegressInputError(ValueError):
    """A path or file regress cannot use; str() is one line, the command exits 2."""


@dataclass(frozen=True)
class Spec:
    """One scenario file with its expectations, in file order."""

    path: Path
    scenario: Scenario
    expectations: list[Expectation]

    @property
    def schedulers(self) -> list[str]:
        """Every scheduler an expectation reads, compare-only ones included, in first-use order."""
        return list(dict.fromkeys(s for exp in self.expectations for s in exp.schedulers))

    @property
    def seeds(self) -> list[int]:
        """The seeds judged: `expect.seeds` (bounds apply to the mean), else the scenario's own."""
        assert self.scenario.expect is not None
        return parse_seeds(self.scenario.expect) or [self.scenario.seed]


@dataclass(frozen=True)
class Row:
    """One judged expectation: a table line and a JUnit testcase."""

    scenario: str
    path: str
    key: str
    scheduler: str
    metric: str
    bound: str
    measured: str
    passed: bool
    detail: str
    seconds: float = 0.0


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    runs: int = 0
    seconds: float = 0.0
    skipped: list[Path] = field(default_factory=list)
    reused: int = 0  # runs read from the results directory instead of simulated

    @property
    def failed(self) -> list[Row]:
        return [r for r in self.rows if not r.passed]

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0


def _yaml_files(paths: Iterable[str | Path]) -> Iterator[tuple[Path, bool]]:
    """scenario.yaml_files, refusing a path that is neither a file nor a folder."""
    for path, explicit in yaml_files(paths):
        if explicit and not path.is_file():
            raise RegressInputError(f"{path}: no such file or folder")
        yield path, explicit


def collect(paths: Sequence[str | Path]) -> tuple[list[Spec], list[Path], list[str]]:
    """Load every scenario before anything runs: (specs, files without expect:, error lines)."""
    specs: list[Spec] = []
    skipped: list[Path] = []
    errors: list[str] = []
    for path, explicit in _yaml_files(paths):
        try:
            scenario = load_scenario(path)
        except ScenarioError as exc:
            errors.append(str(exc))
            continue
        if scenario.expect is None:
            if explicit:
                skipped.append(path)
            continue
        specs.append(Spec(path, scenario, parse_expect(scenario.expect)))
    return specs, skipped, errors


def run_point(item: tuple[Any, ...]) -> dict[str, Any]:
    """Runs on a dask worker: one scenario, scheduler and seed; its scalar metrics. With a results
    directory (the item's fifth field) the run is stored there."""
    from bondlab.api import simulate

    _, scheduler, seed, scenario = item[:4]
    results = item[4] if len(item) > 4 and item[4] is not None else None
    metrics = simulate(
        scenario, scheduler, seed=seed, results=None if results is None else Path(results)
    ).metrics
    return {k: v for k, v in metrics.items() if not isinstance(v, dict)}


def _stored(item: tuple[Any, ...], results: Path) -> dict[str, Any] | None:
    """The scalar metrics of a stored run this item would reproduce (bondlab/reuse.py), else None.
    Decided here, in the process that plans the runs: the workers need not see the results."""
    from bondlab.results import load_run, run_dir
    from bondlab.reuse import reusable

    _, scheduler, seed, scenario = item[:4]
    the_seed = seed if seed is not None else scenario.seed
    where = run_dir(results, scenario, scheduler, the_seed)
    if not reusable(where, scenario, scheduler, the_seed):
        return None
    return {k: v for k, v in load_run(where).metrics.items() if not isinstance(v, dict)}


def _items(specs: Sequence[Spec], results: Path | None) -> list[tuple[Any, ...]]:
    """One item per spec, scheduler and seed: (spec index, scheduler, seed, scenario, results)."""
    store = None if results is None else str(results)
    return [
        (i, s, seed, spec.scenario, store)
        for i, spec in enumerate(specs)
        for s in spec.schedulers
        for seed in spec.seeds
    ]


def _reusable(
    items: Sequence[tuple[Any, ...]], results: Path | None, rerun: bool
) -> dict[int, dict[str, Any]]:
    """The stored runs the items would reproduce, by item index (none without results or with rerun)."""
    if results is None or rerun:
        return {}
    return {k: m for k, item in enumerate(items) if (m := _stored(item, Path(results))) is not None}


def run_specs(
    specs: Sequence[Spec],
    client: Any | None,
    progress: bool = True,
    results: Path | None = None,
    rerun: bool = False,
    stored: dict[int, dict[str, Any]] | None = None,
) -> Report:
    """Run each spec once per scheduler it names and seed it is judged over (inline if client is
    None) and judge every bound, on the mean over the seeds where there are several. With
    `results`, runs are stored there and stored ones reused (`stored`: already looked up, by
    item index, as `_reusable` gives them)."""
    start = time.perf_counter()
    items = _items(specs, results)
    if stored is None:
        stored = _reusable(items, results, rerun)
    todo = [item for k, item in enumerate(items) if k not in stored]
    outcomes = [Outcome(items[k], m) for k, m in stored.items()]
    runs: dict[tuple[int, str], list[dict[str, Any]]] = {}
    errors: dict[tuple[int, str], str] = {}
    seconds: dict[tuple[int, str], float] = {}
    for out in [*outcomes, *run_all(run_point, todo, client, desc="regress", progress=progress)]:
        i, s, seed = out.item[:3]
        key = (i, s)
        seconds[key] = seconds.get(key, 0.0) + out.seconds
        if out.error is not None:
            errors.setdefault(key, f"seed {seed}: {out.error}" if len(specs[i].seeds) > 1 else out.error)
        else:
            runs.setdefault(key, []).append(out.result)
    metrics = {key: mean_metrics(r) for key, r in runs.items() if key not in errors}
    report = Report(runs=len(items), seconds=time.perf_counter() - start, reused=len(stored))
    for i, spec in enumerate(specs):
        report.rows += [_row(spec, i, exp, metrics, errors, seconds) for exp in spec.expectations]
    return report


def _row(
    spec: Spec,
    i: int,
    exp: Expectation,
    metrics: dict[tuple[int, str], dict[str, Any]],
    errors: dict[tuple[int, str], str],
    seconds: dict[tuple[int, str], float],
) -> Row:
    scheds = exp.schedulers
    who = "compare" if exp.is_compare else scheds[0]
    metric = "/".join(exp.metrics)
    took = sum(seconds.get((i, s), 0.0) for s in scheds)
    failed = [(s, errors[(i, s)]) for s in scheds if (i, s) in errors]
    common = (spec.scenario.name, str(spec.path), exp.key, who, metric, exp.text)
    if failed:
        s, line = failed[0]
        return Row(*common, "error", False, f"{s} run failed: {line}", took)
    verdict = judge(exp, {s: metrics[(i, s)] for s in scheds})
    seeds = spec.seeds
    detail = verdict.detail if len(seeds) == 1 else f"{verdict.detail} (mean over seeds {seeds})"
    return Row(*common, verdict.measured, verdict.passed, detail, took)


def regress(
    paths: Sequence[str | Path],
    workers: int | None = None,
    address: str | None = None,
    progress: bool = True,
    results: Path | None = None,
    rerun: bool = False,
) -> Report:
    """Collect, then run on a dask cluster (local `workers` processes, or the one at `address`).
    `results`: store the runs there and reuse stored ones of the same inputs and code (`rerun`:
    never); None stores nothing."""
    specs, skipped, errors = collect(paths)
    if errors:
        raise RegressInputError("\n".join(errors))
    if not specs:
        raise RegressInputError(f"no scenario with an expect: block in {' '.join(map(str, paths))}")
    stored = _reusable(_items(specs, results), results, rerun)  # looked up once, here
    runs = sum(len(spec.schedulers) * len(spec.seeds) for spec in specs) - len(stored)
    n = min(workers or default_workers(), runs) if address is None else None
    if runs == 0 or n == 1:  # nothing to run, or one worker: this process, no cluster to start
        return replace(run_specs(specs, None, progress, results, rerun, stored), skipped=skipped)
    with dask_client(n, address) as client:
        report = run_specs(specs, client, progress, results, rerun, stored)
    report.skipped = skipped
    return report


def format_table(report: Report, only_failures: bool = False) -> str:
    """Fixed-width pass/fail table, the measured value beside each bound, then a summary line."""
    head = ("scenario", "scheduler", "metric", "bound", "measured", "result")
    rows = [r for r in report.rows if not (only_failures and r.passed)]
    cells = [
        (r.scenario, r.scheduler, r.metric, r.bound, r.measured, "PASS" if r.passed else "FAIL") for r in rows
    ]
    widths = [max(len(c[k]) for c in [head, *cells]) for k in range(len(head))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in [head, *cells]
    ]
    if cells:
        lines.insert(1, "  ".join("-" * w for w in widths))
    else:
        lines = []
    lines += [f"FAIL {r.key}: {r.detail}" for r in rows if not r.passed]
    n_failed = len(report.failed)
    scenarios = len({r.path for r in report.rows})
    lines.append(
        f"{len(report.rows)} expectations, {len(report.rows) - n_failed} passed, {n_failed} failed "
        f"({scenarios} scenarios, {report.runs} runs, {report.seconds:.1f} s)"
    )
    return "\n".join(lines)


def write_junit(report: Report, path: str | Path) -> Path:
    """JUnit XML: a testsuite per scenario, a testcase per expectation, failures say measured vs bound."""
    root = ET.Element("testsuites", name="bondlab regress", tests=str(len(report.rows)))
    root.set("failures", str(len(report.failed)))
    root.set("time", f"{report.seconds:.3f}")
    suites: dict[str, ET.Element] = {}
    for row in report.rows:
        suite = suites.get(row.path)
        if suite is None:
            suite = suites[row.path] = ET.SubElement(root, "testsuite", name=row.scenario, file=row.path)
        case = ET.SubElement(
            suite, "testcase", classname=f"regress.{row.scenario}", name=f"{row.key} {row.bound}"
        )
        case.set("file", row.path)
        case.set("time", f"{row.seconds:.3f}")
        if not row.passed:
            failure = ET.SubElement(case, "failure", message=row.detail, type="ExpectationFailed")
            failure.text = f"{row.key}: {row.detail}"
    for suite in suites.values():
        cases = suite.findall("testcase")
        suite.set("tests", str(len(cases)))
        suite.set("failures", str(sum(1 for c in cases if c.find("failure") is not None)))
        suite.set("errors", "0")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(out, encoding="utf-8", xml_declaration=True)
    return out
