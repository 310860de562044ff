"""Reuse a stored run instead of simulating it again, when nothing that decides its result changed.

`compare` (and the leaderboard it writes) asks `reusable(directory, scenario, scheduler, seed)`
before each run. A stored run is reused only when it is complete and its run.json records the same
scenario (every field that changes a result, resolved), the same content of every trace it reads
(sha256), the same scheduler and seed, and the same code: bondlab's version and a clean git
revision equal to the running one. A checkout with uncommitted changes never reuses (its revision
does not say what code ran); `--rerun` never does either.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Any

import bondlab
from bondlab.scenario import Scenario

RESULT_EXCLUDE = {
    "base_dir",
    "expect",
    "description",
    "name",
    "seed",
}  # never change a result (seed: the run's own counts)


def trace_digests(scenario: Scenario) -> dict[str, str]:
    """sha256 of each trace file the scenario reads, by the name the scenario gives it."""
    names = {link.trace for link in scenario.links if link.trace} | {
        ev.trace for ev in scenario.events if ev.trace
    }
    return {t: _digest(scenario.trace_path(t)) for t in sorted(names)}


def _digest(path: Path) -> str:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return "missing"


def digests_key(scenario_key: str) -> str:
    """The run.json field with the trace digests of the scenario recorded under `scenario_key`."""
    return "trace_sha256" if scenario_key == "scenario" else f"{scenario_key}_trace_sha256"


@functools.cache
def _running_revision() -> str:
    from bondlab.results import git_revision

    return git_revision()


def _same_scenario(stored: dict[str, Any] | None, scenario: Scenario) -> bool:
    if not isinstance(stored, dict):
        return False
    now = scenario.model_dump(mode="json", exclude=RESULT_EXCLUDE)
    then = {k: v for k, v in stored.items() if k not in RESULT_EXCLUDE}
    return json.dumps(now, sort_keys=True) == json.dumps(then, sort_keys=True)


def reusable(
    directory: Path, scenario: Scenario, scheduler: str, seed: int, scenario_key: str = "scenario"
) -> bool:
    """True when the complete run in `directory` is what running (scenario, scheduler, seed) now
    would produce. `scenario_key`: the run.json field holding the scenario it stands for (the
    single-link bound records its source scenario as `bound_of`)."""
    from bondlab.results import MARKER

    revision = _running_revision()
    if revision.endswith("-dirty") or revision == "unknown" or not (Path(directory) / MARKER).is_file():
        return False
    try:
        meta = json.loads((Path(directory) / "run.json").read_text())
    except (OSError, ValueError):
        return False
    return (
        meta.get("bondlab_version") == bondlab.__version__
        and meta.get("git_revision") == revision
        and meta.get("scheduler") == scheduler
        and meta.get("seed") == seed
        and meta.get(digests_key(scenario_key)) == trace_digests(scenario)
        and _same_scenario(meta.get(scenario_key), scenario)
    )
