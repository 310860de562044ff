"""From a spec to the list of points: every scenario resolved with its values, each with a stable key.

All points are resolved (and so validated) before anything runs, so a key that does not apply to
one scenario stops the sweep at once instead of failing half of it an hour later. A point's key
hashes what determines its result: the resolved scenario, the content of its traces, the
scheduler, the seed and bondlab's version. Results are stored under that key, which is what makes
a rerun skip finished points and never duplicate one.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from bondlab import __version__
from bondlab.scenario import Scenario, ScenarioError, apply_overrides, load_scenario, parse_scenario
from bondlab.sweep.spec import SpecError, SweepSpec

# Fields that do not change a run's result: where traces were found, the expectations of a
# regression run, the prose, and the file's own seed (a point always runs with an explicit seed).
KEY_EXCLUDE = {"base_dir", "expect", "description", "seed"}
_SOURCE = "\x00sweep"  # marks our own prefix in ScenarioError messages, so it can be cut off


@dataclass(frozen=True)
class Point:
    """One run of the sweep; `values` are the swept keys' values (the parameter columns)."""

    key: str
    scenario: Scenario
    scenario_path: str
    scheduler: str
    seed: int
    values: dict[str, Any] = field(default_factory=dict)


def render(value: Any) -> str:
    """A value as YAML text that `apply_overrides` reads back as exactly this value."""
    text = yaml.safe_dump(value, default_flow_style=True, width=1 << 30)
    return text.removesuffix("\n...\n").strip()


@lru_cache(maxsize=256)
def _file_digest(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def point_key(scenario: Scenario, scheduler: str, seed: int, version: str = __version__) -> str:
    """Short sha256 of everything that determines a run's result."""
    traces = sorted(
        {link.trace for link in scenario.links if link.trace}
        | {ev.trace for ev in scenario.events if ev.trace}
    )
    payload = {
        "scenario": scenario.model_dump(mode="json", exclude=KEY_EXCLUDE),
        "traces": {t: _file_digest(str(scenario.trace_path(t))) for t in traces},
        "scheduler": scheduler,
        "seed": seed,
        "bondlab": version,
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _detail(exc: ScenarioError) -> str:
    return str(exc).removeprefix(f"{_SOURCE}: ").removeprefix("--set ")


def with_values(base: dict[str, Any], base_dir: str, name: str, values: dict[str, Any]) -> Scenario:
    """`base` (a scenario's model_dump without base_dir) with the dotted keys set, validated."""
    data = apply_overrides(base, [f"{k}={render(v)}" for k, v in values.items()], source=_SOURCE)
    return parse_scenario(data, _SOURCE, Path(base_dir), name)


class _Base:
    """A scenario as the sweep sees it: its plain data, where it lives, and its fixed `set:` values."""

    def __init__(self, scenario: Scenario, path: str, label: str) -> None:
        data = scenario.model_dump(mode="json")
        self.base_dir = data.pop("base_dir")
        self.data, self.name, self.path, self.label = data, scenario.name, path, label

    def resolve(self, values: dict[str, Any]) -> Scenario:
        return with_values(self.data, self.base_dir, self.name, values)


def _check_keys(source: str, section: str, bases: list[_Base], trials: dict[str, list[Any]]) -> None:
    """Each key alone, then each value alone, on every scenario: errors that name one key."""
    for base in bases:
        for key, values in trials.items():
            for value in values:
                try:
                    base.resolve({key: value})
                except ScenarioError as exc:
                    detail = _detail(exc)
                    if _names_key(detail, key):
                        raise SpecError(f"{source}: {section}.{key}: unknown scenario key") from None
                    raise SpecError(
                        f"{source}: {section}.{key}: {render(value)} does not fit {base.label}: {detail}"
                    ) from None


def _names_key(detail: str, key: str) -> bool:
    """The error says `key` itself does not exist (not some field inside the value given)."""
    if detail.endswith(" is not a section"):
        return True
    field, sep, _ = detail.rpartition(": unknown field")
    return bool(sep) and field.split(".")[-1] == key.split(".")[-1]


def _combos(spec: SweepSpec) -> list[dict[str, Any]]:
    if spec.grid is not None:
        keys = list(spec.grid)
        return [dict(zip(keys, c)) for c in itertools.product(*(spec.grid[k] for k in keys))]
    if spec.sample is not None:
        return sample_values(spec)
    return [{}]


def sample_values(spec: SweepSpec) -> list[dict[str, Any]]:
    """n Latin-hypercube draws of the space: every dimension's range is covered evenly, reproducibly."""
    assert spec.sample is not None
    s = spec.sample
    rng = np.random.default_rng(s.seed)
    dims = list(s.space.items())
    u = np.empty((s.n, len(dims)))
    for j in range(len(dims)):
        u[:, j] = (rng.permutation(s.n) + rng.random(s.n)) / s.n
    return [{key: dim.draw(float(u[i, j])) for j, (key, dim) in enumerate(dims)} for i in range(s.n)]


def load_bases(spec: SweepSpec, source: str) -> list[_Base]:
    bases = []
    for i, path in enumerate(spec.scenarios):
        try:
            scenario = load_scenario(path)
        except ScenarioError as exc:
            raise SpecError(f"{source}: scenarios[{i}]: {exc}") from None
        bases.append(_Base(scenario, path, Path(path).name))
    return bases


def expand(spec: SweepSpec, source: str, bases: list[_Base] | None = None) -> list[Point]:
    """Every point of the spec, resolved and keyed; raises SpecError before anything runs.

    Points that resolve to the same key (a value equal to another after validation, a repeated
    sample) are kept once.
    """
    bases = load_bases(spec, source) if bases is None else bases
    if "duration_s" in spec.fixed:
        _cut(bases, spec.fixed["duration_s"])
    if spec.fixed:
        _check_keys(source, "set", bases, {k: [v] for k, v in spec.fixed.items()})
        fixed = spec.fixed
        for base in bases:
            sc = base.resolve(fixed)
            base.data = {k: v for k, v in sc.model_dump(mode="json").items() if k != "base_dir"}
    if spec.grid is not None:
        _check_keys(source, "grid", bases, spec.grid)
    elif spec.sample is not None:
        trials = {
            k: d.choices if d.choices is not None else [d.draw(0.0), d.draw(0.999999)]
            for k, d in spec.sample.space.items()
        }
        _check_keys(source, "sample.space", bases, trials)
    combos = _combos(spec)
    points: dict[str, Point] = {}
    for base in bases:
        for values in combos:
            try:
                scenario = base.resolve(values)
            except ScenarioError as exc:
                shown = ", ".join(f"{k}={render(v)}" for k, v in values.items())
                raise SpecError(f"{source}: {shown} does not fit {base.label}: {_detail(exc)}") from None
            for scheduler in spec.schedulers:
                for seed in spec.seeds or [_own_seed(base)]:
                    key = point_key(scenario, scheduler, seed)
                    points.setdefault(key, Point(key, scenario, base.path, scheduler, seed, values))
    return list(points.values())


def _cut(bases: list[_Base], duration_s: Any) -> None:
    """`set: {duration_s: X}` shortens each scenario as the API's `duration_s=` does: events from X
    on are dropped (they would lie past the end), so a quick sweep runs any scenario's start."""
    try:
        cut = float(duration_s)
    except (TypeError, ValueError):
        return  # not a number: validation says so, naming the key
    for base in bases:
        base.data["events"] = [ev for ev in base.data.get("events", []) if float(ev["at_s"]) < cut]


def _own_seed(base: _Base) -> int:
    return int(base.data.get("seed", 1))


def bases_from_scenarios(scenarios: list[Scenario | str | Path]) -> list[_Base]:
    """For the Python API: scenarios given as objects or paths (no spec file)."""
    out = []
    for item in scenarios:
        if isinstance(item, Scenario):
            out.append(_Base(item, "", item.name))
        else:
            out.append(_Base(load_scenario(item), str(Path(item).resolve()), Path(item).name))
    return out
