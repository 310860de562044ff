"""One tuning point (scenario x scheduler x seed x parameter values) and how it is scored.

`run_point` is what the dask workers execute: top-level and picklable, it gets a whole Scenario
object, so a worker never reads the spec or the scenario files.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bondlab.scenario import Scenario, ScenarioError, apply_overrides, parse_scenario

GOODPUT_MBPS = "goodput_mbps"  # goodput_bps / 1e6: weights of order 0.1 then mean something


@dataclass(frozen=True)
class Point:
    scenario: Scenario
    scheduler: str
    seed: int
    params: dict[str, Any] = field(default_factory=dict)
    tag: Any = None  # which trial or setting the point belongs to; never read by the worker


def with_values(scenario: Scenario, values: Mapping[str, Any], source: str | None = None) -> Scenario:
    """The scenario with dotted keys set, exactly as `bondlab run --set KEY=VALUE` would set them."""
    if not values:
        return scenario
    data = scenario.model_dump(mode="json")
    base_dir = Path(data.pop("base_dir"))
    where = source or f"{scenario.name} (tune)"
    sets = [f"{k}={v!r}" if isinstance(v, str) else f"{k}={_yaml_scalar(v)}" for k, v in values.items()]
    data = apply_overrides(data, sets, source=where)
    return parse_scenario(data, where, base_dir, scenario.name)


def _yaml_scalar(value: Any) -> str:
    value = value.item() if hasattr(value, "item") else value  # numpy scalars from DataFrames
    return ("true" if value else "false") if isinstance(value, bool) else repr(value)


def truncate(scenario: Scenario, duration_s: float | None) -> Scenario:
    """The first `duration_s` seconds of a scenario (later events dropped): for quick looks and tests."""
    if duration_s is None or duration_s >= scenario.duration_s:
        return scenario
    events = [ev for ev in scenario.events if ev.at_s < duration_s]
    return scenario.model_copy(update={"duration_s": float(duration_s), "events": events})


def current_value(scenario: Scenario, key: str) -> Any:
    """What the scenario itself sets at a dotted key (list items by index or `name`); KeyError if absent."""
    node: Any = scenario.model_dump(mode="json")
    for part in key.split("."):
        if isinstance(node, list):
            node = node[int(part)] if part.isdigit() else next(x for x in node if x.get("name") == part)
        else:
            node = node[part]
    return node


def scalar_metrics(metrics: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in metrics.items() if not isinstance(v, dict | list)}
    if out.get("goodput_bps") is not None:
        out[GOODPUT_MBPS] = out["goodput_bps"] / 1e6
    return out


def run_point(point: Point) -> dict[str, Any]:
    """Simulate one point on a worker (nothing stored) and return its scalar metrics."""
    from bondlab.api import simulate

    scenario = with_values(point.scenario, point.params)
    return scalar_metrics(simulate(scenario, point.scheduler, point.seed, results=None).metrics)


def score(metrics: Mapping[str, Any], weights: Mapping[str, float]) -> float:
    """The weighted sum the tuner maximises; a weighted metric that is missing is an error, not 0."""
    total = 0.0
    for key, weight in weights.items():
        value = metrics.get(key)
        if value is None:
            raise ScenarioError(f"objective: metric {key} has no value in this run")
        total += weight * float(value)
    return total


def mean_score(runs: Sequence[Mapping[str, Any]], weights: Mapping[str, float]) -> float:
    """One scenario's score: the mean over its seeds."""
    return sum(score(m, weights) for m in runs) / len(runs)
