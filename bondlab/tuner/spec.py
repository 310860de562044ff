"""The tuning spec: which scenarios train, which validate, what to search and what to maximise.

Validated with pydantic like a scenario file; every mistake is one line naming the spec file and
the field, raised before any simulation runs (space keys are tried on every scenario first).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bondlab.core.metrics import METRIC_KEYS
from bondlab.scenario import Scenario, ScenarioError, _UniqueKeyLoader, _yaml_error, load_scenario
from bondlab.tuner.points import GOODPUT_MBPS, current_value, truncate, with_values

KEY_EXCLUDE = {"base_dir", "description", "expect"}  # do not change a run's result
OBJECTIVE_METRICS = tuple(k for k in METRIC_KEYS if k != "links") + (GOODPUT_MBPS,)


class TuneSpecError(ScenarioError):
    """A tuning spec the user must fix; str() is one line naming the file and the field."""


class ParamSpec(BaseModel):
    """One searched key: a range {low, high, log?, step?} or a list of `choices`."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = Field(None, gt=0)
    choices: list[Any] | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _range_or_choices(self) -> ParamSpec:
        if self.choices is not None:
            if self.low is not None or self.high is not None or self.log or self.step is not None:
                raise ValueError("give either choices or low/high, not both")
            return self
        if self.low is None or self.high is None:
            raise ValueError("give low and high (or choices)")
        if not self.low < self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError("log: true needs low > 0")
        if self.log and self.step is not None:
            raise ValueError("give at most one of log and step")
        return self

    def probes(self) -> list[Any]:
        """Values tried on every scenario before the search: the ends and the middle, or every choice."""
        if self.choices is not None:
            return list(self.choices)
        assert self.low is not None and self.high is not None
        return [self.low, (self.low + self.high) / 2, self.high]


class TuneSpecModel(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    train: list[str] = Field(min_length=1)
    validate_: list[str] = Field(alias="validate", min_length=1)
    scheduler: str = "dwrr"
    seeds: list[int] = Field([1], min_length=1)
    trials: int = Field(30, ge=1, le=100_000)
    seed: int = Field(1, description="seed of the TPE sampler")
    space: dict[str, ParamSpec] = Field(min_length=1)
    objective: dict[str, float] = Field(default_factory=lambda: {"decodable_ratio": 1.0}, min_length=1)
    set: list[str] = Field(default_factory=list, description="KEY=VALUE overrides for every scenario")
    duration_s: float | None = Field(None, gt=0, description="simulate only each scenario's first seconds")

    @field_validator("scheduler")
    @classmethod
    def _known_scheduler(cls, value: str) -> str:
        from bondlab.schedulers import scheduler_names

        if value not in scheduler_names("sim"):
            raise ValueError(f"unknown scheduler {value!r} (choose from {', '.join(scheduler_names('sim'))})")
        return value

    @field_validator("objective")
    @classmethod
    def _known_metrics(cls, value: dict[str, float]) -> dict[str, float]:
        for key in value:
            if key not in OBJECTIVE_METRICS:
                raise ValueError(f"unknown metric {key!r} (choose from {', '.join(OBJECTIVE_METRICS)})")
        return value


@dataclass(frozen=True)
class TuneSpec:
    """A validated spec with its scenarios loaded (and shortened / overridden as the spec says)."""

    path: Path
    model: TuneSpecModel
    train: list[Scenario]
    validate: list[Scenario]

    @property
    def name(self) -> str:
        return self.path.stem

    def search_key(self) -> str:
        """Hash of what the search's scores depend on: a stored study may only continue under the same."""
        m = self.model
        text = json.dumps(
            {
                "train": [
                    {k: v for k, v in s.resolved().items() if k not in KEY_EXCLUDE} for s in self.train
                ],
                "scheduler": m.scheduler,
                "seeds": m.seeds,
                "space": {k: v.model_dump() for k, v in m.space.items()},
                "objective": m.objective,
            },
            sort_keys=True,
        )
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def defaults(self, scenario: Scenario) -> dict[str, Any]:
        """The scenario's own values of the searched keys."""
        return {key: current_value(scenario, key) for key in self.model.space}


def is_int(value: Any) -> bool:
    """An integer field (quantum_bytes, queue_bytes) is searched with integer values."""
    return isinstance(value, int) and not isinstance(value, bool)


def _error_line(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = ".".join("validate" if p == "validate_" else str(p) for p in err["loc"]) or "(top level)"
    msg = "unknown field" if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")
    return f"{loc}: {msg}"


def load_tune_spec(source: str | Path | dict[str, Any], base_dir: str | Path | None = None) -> TuneSpec:
    """Read and check a spec (a YAML file, or a dict whose paths are relative to `base_dir`)."""
    if isinstance(source, dict):
        path, data = Path(base_dir or ".") / "tune-spec.yaml", source
    else:
        path = Path(source)
        try:
            data = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
        except (OSError, UnicodeDecodeError) as exc:
            raise TuneSpecError(
                f"{path}: cannot read tuning spec: {getattr(exc, 'strerror', None) or exc}"
            ) from None
        except yaml.YAMLError as exc:
            raise TuneSpecError(f"{path}: {_yaml_error(exc)}") from None
    if not isinstance(data, dict):
        raise TuneSpecError(f"{path}: (top level): expected a mapping of tuning fields")
    try:
        model = TuneSpecModel.model_validate(data)
    except ValidationError as exc:
        raise TuneSpecError(f"{path}: {_error_line(exc)}") from None
    train = _scenarios(path, model, "train", model.train)
    validate = _scenarios(path, model, "validate", model.validate_)
    names = [s.name for s in train]
    for i, sc in enumerate(validate):
        if sc.name in names:
            raise TuneSpecError(f"{path}: validate[{i}]: scenario {sc.name} is also a train scenario")
    for sc in train + validate:
        _check_space(path, model, sc)
    return TuneSpec(path, model, train, validate)


def _scenario_file(spec: Path, name: str) -> Path:
    """A path relative to the spec, or a bare scenario name (no folder, no .yaml): `<name>.yaml`
    beside the spec, else in `../scenarios/` from it (the layout docs/many-runs.md's spec assumes)."""
    given = Path(name)
    if given.is_absolute():
        return given
    if given.suffix or len(given.parts) > 1:
        return spec.parent / given
    for candidate in (spec.parent / f"{name}.yaml", spec.parent.parent / "scenarios" / f"{name}.yaml"):
        if candidate.is_file():
            return candidate
    return spec.parent / f"{name}.yaml"  # missing: its error names where it was looked for first


def _scenarios(path: Path, model: TuneSpecModel, field: str, files: list[str]) -> list[Scenario]:
    out: list[Scenario] = []
    for i, name in enumerate(files):
        file = _scenario_file(path, name)
        try:
            sc = truncate(load_scenario(file, model.set), model.duration_s)
        except ScenarioError as exc:
            raise TuneSpecError(f"{path}: {field}[{i}]: {exc}") from None
        if sc.name in [s.name for s in out]:
            raise TuneSpecError(f"{path}: {field}[{i}]: scenario {sc.name} is listed twice")
        out.append(sc)
    return out


def _check_space(path: Path, model: TuneSpecModel, scenario: Scenario) -> None:
    """Every searched key must exist in every scenario and take the range's values there."""
    for key, param in model.space.items():
        try:
            current = current_value(scenario, key)
        except (KeyError, StopIteration, ValueError, IndexError, TypeError):
            raise TuneSpecError(f"{path}: space.{key}: scenario {scenario.name} has no such field") from None
        probes = param.probes()
        if is_int(current) and param.choices is None:
            probes = [round(v) for v in probes]
        for value in probes:
            try:
                with_values(scenario, {key: value})
            except ScenarioError as exc:
                raise TuneSpecError(f"{path}: space.{key}: {exc}") from None
