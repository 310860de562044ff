"""The sweep spec: YAML in, validated pydantic out, every mistake one line naming the file and field.

A spec names scenario files (relative to the spec), schedulers, seeds and either a `grid` of
dotted scenario keys (as `bondlab run --set` takes them) or a random `sample` of a space. Whether
each key and value really applies to each scenario is checked by `points.expand`, before any run.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bondlab.scenario import ScenarioError, _UniqueKeyLoader, _yaml_error
from bondlab.schedulers import scheduler_names

# Keys a grid may not sweep: the point's own seed comes from `seeds:`, the rest is bookkeeping.
RESERVED_KEYS = {"seed", "base_dir", "expect"}


class SpecError(ScenarioError):
    """A sweep spec the user must fix; str() is one line naming the spec file and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, populate_by_name=True)


class Dimension(_Strict):
    """One sampled parameter: uniform (or log-uniform) in [low, high], or one of `choices`."""

    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = Field(False, alias="int")
    choices: list[Any] | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _range(self) -> Dimension:
        if self.choices is not None:
            if self.low is not None or self.high is not None:
                raise ValueError("give either choices or low/high, not both")
            return self
        if self.low is None or self.high is None:
            raise ValueError("give low and high (or choices)")
        if self.low > self.high:
            raise ValueError(f"low {self.low} is above high {self.high}")
        if self.log and self.low <= 0:
            raise ValueError("log: true needs low > 0")
        return self

    def draw(self, u: float) -> Any:
        """The value at quantile `u` in [0, 1): the sampler only supplies uniform numbers."""
        if self.choices is not None:
            return self.choices[min(int(u * len(self.choices)), len(self.choices) - 1)]
        assert self.low is not None and self.high is not None
        if self.log:
            value = math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        else:
            value = self.low + u * (self.high - self.low)
        if self.integer:
            return int(round(value))
        return float(f"{value:.6g}")  # short, stable values: readable columns, keys that repeat


class SampleSpec(_Strict):
    n: int = Field(gt=0, le=1_000_000)
    seed: int = 0
    space: dict[str, Dimension] = Field(min_length=1)


class SweepSpec(_Strict):
    """What to run. Scenario paths are relative to the spec file (absolute after `load_spec`)."""

    name: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]+$")
    scenarios: list[str] = Field(min_length=1)
    schedulers: list[str] = Field(default_factory=lambda: ["dwrr"], min_length=1)
    seeds: list[int] | None = Field(None, min_length=1, description="default: each scenario's own seed")
    fixed: dict[str, Any] = Field(default_factory=dict, alias="set", description="applied to every point")
    grid: dict[str, list[Any]] | None = None
    sample: SampleSpec | None = None

    @field_validator("fixed", mode="before")
    @classmethod
    def _set_as_list(cls, value: Any) -> Any:
        """`set:` also takes `--set` strings, `[bonding.alpha=0.2, ...]`, as the tuner's spec does."""
        if not isinstance(value, list):
            return value
        out: dict[str, Any] = {}
        for item in value:
            key, sep, raw = str(item).partition("=")
            if not sep or not key:
                raise ValueError(f"{item!r}: expected dotted.key=value")
            out[key] = yaml.safe_load(raw)
        return out

    @field_validator("schedulers")
    @classmethod
    def _known_schedulers(cls, names: list[str]) -> list[str]:
        allowed = scheduler_names("sim")
        for name in names:
            if name not in allowed:
                raise ValueError(f"unknown scheduler {name!r} (choose from {', '.join(allowed)})")
        return _unique(names)

    @field_validator("seeds", "scenarios")
    @classmethod
    def _no_repeats(cls, values: list[Any] | None) -> list[Any] | None:
        return None if values is None else _unique(values)

    @field_validator("grid")
    @classmethod
    def _grid_lists(cls, grid: dict[str, list[Any]] | None) -> dict[str, list[Any]] | None:
        for key, values in (grid or {}).items():
            if not values:
                raise ValueError(f"{key}: give at least one value")
        return grid

    @model_validator(mode="after")
    def _grid_or_sample(self) -> SweepSpec:
        if self.grid is not None and self.sample is not None:
            raise ValueError("give grid or sample, not both")
        for key in self.params():
            if key.split(".")[0] in RESERVED_KEYS:
                raise ValueError(f"{key}: cannot be swept (use seeds: for seeds)")
            if key in self.fixed:
                raise ValueError(f"{key}: swept and also fixed in set:")
        return self

    def params(self) -> list[str]:
        """The swept dotted keys, in spec order (the parameter columns of the results)."""
        if self.grid is not None:
            return list(self.grid)
        return list(self.sample.space) if self.sample is not None else []


def _unique(values: list[Any]) -> list[Any]:
    for i, value in enumerate(values):
        if value in values[:i]:
            raise ValueError(f"{value!r} is listed twice")
    return values


def _field(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not str(part).startswith("function-"):
            out += ("." if out else "") + str(part)
    return out


def parse_spec(data: Any, source: str, base_dir: Path) -> SweepSpec:
    """Validate a raw mapping; scenario paths become absolute (relative to `base_dir`)."""
    if not isinstance(data, dict):
        raise SpecError(f"{source}: (top level): expected a mapping with scenarios: and grid: or sample:")
    try:
        spec = SweepSpec.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        msg = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
        where = _field(err["loc"])
        raise SpecError(
            f"{source}: {where + ': ' if where else ''}{msg.removeprefix('Value error, ')}"
        ) from None
    spec.scenarios = [str((base_dir / p).resolve()) for p in spec.scenarios]
    return spec


def load_spec(path: str | Path) -> SweepSpec:
    """Read and validate a spec file; raises SpecError with a one-line message."""
    path = Path(path)
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except OSError as exc:
        raise SpecError(f"{path}: cannot read sweep spec: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise SpecError(f"{path}: cannot read sweep spec: not UTF-8") from None
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: {_yaml_error(exc)}") from None
    spec = parse_spec(data, str(path), path.parent)
    if spec.name is None:
        spec.name = path.stem
    return spec
