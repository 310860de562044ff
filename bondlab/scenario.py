"""One scenario model for sim, real, CLI, sweeps and notebooks: YAML in, validated pydantic out."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bondlab.expect import parse_expect
from bondlab.traces import load_trace


class ScenarioError(ValueError):
    """A scenario the user must fix; str() is one line naming the file and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class EncoderSpec(_Strict):
    """Live encoder model: constant-rate frames, an I-frame every `gop_frames`."""

    fps: float = Field(30.0, gt=0, le=240)
    gop_frames: int = Field(60, ge=1)
    iframe_ratio: float = Field(4.0, ge=1.0, description="I-frame size / P-frame size")
    start_bitrate_bps: int = Field(6_000_000, gt=0)
    min_bitrate_bps: int = Field(500_000, gt=0)
    max_bitrate_bps: int = Field(12_000_000, gt=0)
    packet_bytes: int = Field(1316, ge=188, le=1400)
    reaction_delay_ms: float = Field(300.0, ge=0, description="time for a new set-point to take effect")

    @model_validator(mode="after")
    def _bitrate_order(self) -> EncoderSpec:
        if not self.min_bitrate_bps <= self.max_bitrate_bps:
            raise ValueError("min_bitrate_bps must be <= max_bitrate_bps")
        if not self.min_bitrate_bps <= self.start_bitrate_bps <= self.max_bitrate_bps:
            raise ValueError("start_bitrate_bps must lie within [min_bitrate_bps, max_bitrate_bps]")
        return self


class ReceiverSpec(_Strict):
    latency_ms: float = Field(800.0, gt=0, description="playout deadline after frame capture")


class BondingSpec(_Strict):
    """Parameters of core's estimator, health, DWRR and rate controller (the knobs users sweep)."""

    alpha: float = Field(0.125, gt=0, le=1)
    headroom: float = Field(1.1, ge=1.0)
    rtt_limit_ms: float = Field(1000.0, gt=0)
    loss_limit: float = Field(0.2, gt=0, le=1)
    stats_interval_ms: float = Field(100.0, gt=0)
    rate_control: bool = True
    quantum_bytes: int = Field(1500, ge=188, description="DWRR quantum of the lightest link per round")
    max_credit_quanta: float = Field(
        2.0, ge=1.0, description="credit cap, in quanta, so idle links cannot burst"
    )
    probe_gain: float = Field(
        0.25, ge=0, description="fractional growth per interval of an app-limited estimate"
    )
    raise_hold_s: float = Field(
        1.0, ge=0, description="capacity must stay high this long before raising bitrate"
    )
    raise_step: float = Field(0.25, gt=0, le=1, description="fraction of bitrate added per raise")
    rate_controller: Literal["headroom", "forecast", "ladder", "aimd", "none"] = Field(
        "headroom",
        description="encoder bitrate rule (core/rate_controllers.py); rate_control=false is none",
    )


class GilbertSpec(_Strict):
    """Gilbert-Elliott two-state burst loss, transitions evaluated per packet."""

    p_good_bad: float = Field(ge=0, le=1)
    p_bad_good: float = Field(gt=0, le=1)
    loss_bad: float = Field(0.5, ge=0, le=1)
    loss_good: float = Field(0.0, ge=0, le=1)


class _LinkFields(_Strict):
    capacity_bps: float | None = Field(None, gt=0)
    trace: str | None = None
    trace_offset_s: float | None = Field(None, ge=0)
    delay_ms: float | None = Field(None, ge=0)
    jitter_ms: float | None = Field(None, ge=0)
    loss: float | None = Field(None, ge=0, le=1)
    gilbert: GilbertSpec | None = None
    queue_bytes: int | None = Field(None, ge=1500)
    up: bool | None = None


class LinkSpec(_LinkFields):
    """One bonded link; capacity comes from `capacity_bps` or a mahimahi `trace`, never both."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    trace_offset_s: float = Field(0.0, ge=0)
    delay_ms: float = Field(30.0, ge=0)
    jitter_ms: float = Field(0.0, ge=0)
    loss: float = Field(0.0, ge=0, le=1)
    queue_bytes: int = Field(250_000, ge=1500)
    up: bool = True

    @model_validator(mode="after")
    def _one_capacity_source(self) -> LinkSpec:
        if (self.capacity_bps is None) == (self.trace is None):
            raise ValueError("give exactly one of capacity_bps or trace")
        return self


class EventSpec(_LinkFields):
    """At `at_s`, set the given fields on one or several links (several = correlated fading).

    `for_s` reverts the change after that long, which expresses a handover blackout in one line.
    """

    at_s: float = Field(ge=0)
    link: str | list[str]
    for_s: float | None = Field(None, gt=0)

    @field_validator("link", mode="before")
    @classmethod
    def _link_names(cls, value: Any) -> Any:
        if value == []:
            raise ValueError("give at least one link name")
        if isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            return value
        raise ValueError("expected a link name or a list of link names")

    @property
    def links(self) -> list[str]:
        return [self.link] if isinstance(self.link, str) else list(self.link)

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude={"at_s", "link", "for_s"}, exclude_none=True)

    @model_validator(mode="after")
    def _changes_something(self) -> EventSpec:
        if not self.changes():
            raise ValueError("event changes no link field")
        if self.capacity_bps is not None and self.trace is not None:
            raise ValueError("give at most one of capacity_bps or trace")
        return self


class Scenario(_Strict):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    duration_s: float = Field(gt=0, le=3600)
    seed: int = 1
    encoder: EncoderSpec = Field(default_factory=EncoderSpec)
    receiver: ReceiverSpec = Field(default_factory=ReceiverSpec)
    bonding: BondingSpec = Field(default_factory=BondingSpec)
    links: list[LinkSpec] = Field(min_length=1, max_length=16)
    events: list[EventSpec] = Field(default_factory=list)
    base_dir: str = Field(".", description="directory that relative trace paths are resolved against")
    # What `bondlab regress` checks. No run reads it, and it is left out of dumps (run.json, sweep
    # point keys): editing a bound must neither change nor re-key a run.
    expect: dict[str, Any] | None = Field(None, exclude=True)

    @field_validator("name")
    @classmethod
    def _name_is_a_folder(cls, value: str) -> str:
        # The name is the run's folder under the results directory: "." and ".." would put it
        # elsewhere, and a leading dot hides it (staging folders are hidden, readers skip them).
        if value.startswith("."):
            raise ValueError(
                "must not start with a dot (it names the run's folder under the results directory)"
            )
        return value

    @field_validator("expect", mode="before")
    @classmethod
    def _parse_expect(cls, value: Any) -> Any:
        if value is not None:
            parse_expect(value)
        return value

    @model_validator(mode="after")
    def _cross_checks(self) -> Scenario:
        names = [link.name for link in self.links]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise ValueError(f"links[{i}].name: duplicate link name {name!r}")
        for i, ev in enumerate(self.events):
            for name in ev.links:
                if name not in names:
                    raise ValueError(f"events[{i}].link: unknown link {name!r} (links: {', '.join(names)})")
            if ev.at_s >= self.duration_s:
                raise ValueError(f"events[{i}].at_s: {ev.at_s} is not before duration_s {self.duration_s}")
        return self

    def link(self, name: str) -> LinkSpec:
        return next(link for link in self.links if link.name == name)

    def trace_path(self, trace: str) -> Path:
        path = Path(trace)
        return path if path.is_absolute() else Path(self.base_dir) / path

    def resolved(self) -> dict[str, Any]:
        """Plain dict of the scenario with every default filled in (what run.json records)."""
        return self.model_dump(mode="json")


def _field_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


_UNION = object()  # marks a field typed as a union of several types


def _child_type(tp: Any, part: Any) -> Any:
    """Type found at `part` inside `tp` (a model field or a list item), _UNION, or None if unknown."""
    if isinstance(part, int):
        return get_args(tp)[0] if get_origin(tp) is list else None
    if not (isinstance(tp, type) and issubclass(tp, BaseModel) and part in tp.model_fields):
        return None
    field_type = tp.model_fields[part].annotation
    if get_origin(field_type) not in (Union, UnionType):
        return field_type
    members = [m for m in get_args(field_type) if m is not type(None)]
    return members[0] if len(members) == 1 else _UNION


def _strip_union_tags(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """Drop the member label pydantic puts after a union-typed field (`events.0.link.str`)."""
    out: list[Any] = []
    tp: Any = Scenario
    for part in loc:
        if tp is _UNION and isinstance(part, str):
            tp = None  # the label; what lies below it is kept as it is
            continue
        out.append(part)
        tp = _child_type(tp, part)
    return tuple(out)


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = _strip_union_tags(err["loc"])
    loc = tuple(p for p in loc if not (isinstance(p, str) and p.startswith("function-after")))
    msg = err["msg"].removeprefix("Value error, ")
    if msg.startswith(("events[", "links[", "expect.", "expect:")):
        return msg
    if err["type"] == "extra_forbidden":
        msg = "unknown field"
    return f"{_field_path(loc)}: {msg}"


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that rejects a key given twice in one mapping, instead of keeping the last."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *base` keys may be overridden, as YAML allows
            key = self.construct_object(key_node, deep=deep)
            try:
                twice = key in seen
                seen.add(key)
            except TypeError:
                continue  # an unhashable key: the base class reports it
            if twice:
                raise yaml.constructor.ConstructorError(
                    problem=f"duplicate key {key!r}", problem_mark=key_node.start_mark
                )
        return super().construct_mapping(node, deep)


def _yaml_error(exc: yaml.YAMLError) -> str:
    """`invalid YAML at line N: <problem>`, one line."""
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}" if mark is not None else ""
    return f"invalid YAML{where}: {getattr(exc, 'problem', None) or type(exc).__name__}"


def apply_overrides(data: dict[str, Any], overrides: list[str], source: str | None = None) -> dict[str, Any]:
    """Apply `section.key=value` strings (values parsed as YAML) to a raw scenario dict.

    Errors start with `source` (the scenario file) when it is given.
    """
    data = copy.deepcopy(data)
    for item in overrides:
        where = f"{source}: --set {item}" if source else f"--set {item}"
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ScenarioError(f"{where}: expected dotted.key=value")
        parts = key.split(".")
        node = _override_parent(data, parts, where)
        try:
            node[parts[-1]] = yaml.load(raw, Loader=_UniqueKeyLoader)
        except yaml.YAMLError as exc:
            raise ScenarioError(f"{where}: {_yaml_error(exc)}") from None
    return data


def _override_parent(data: dict[str, Any], parts: list[str], where: str) -> dict[str, Any]:
    """The mapping `parts[-1]` is set in: sections by key, list items by index or by `name`."""
    node: Any = data
    for depth, part in enumerate(parts[:-1]):
        if isinstance(node, list):
            noun = parts[depth - 1].removesuffix("s")
            if part.isdigit():
                if int(part) >= len(node):
                    raise ScenarioError(f"{where}: no {noun} at index {part} ({len(node)} {noun}s)")
                node = node[int(part)]
            else:
                node = next((x for x in node if isinstance(x, dict) and x.get("name") == part), None)
                if node is None:
                    raise ScenarioError(f"{where}: no {noun} named {part!r}")
        else:
            node = node.setdefault(part, {})
        if not isinstance(node, dict | list):
            raise ScenarioError(f"{where}: {'.'.join(parts[: depth + 1])} is not a section")
    if isinstance(node, list):
        raise ScenarioError(f"{where}: cannot set an item of a list")
    return node


def parse_scenario(data: Any, source: str, base_dir: Path, default_name: str) -> Scenario:
    """Validate a raw mapping; every failure becomes one ScenarioError line naming `source` and the field."""
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: (top level): expected a mapping of scenario fields")
    data = dict(data)
    data.setdefault("name", default_name)
    data["base_dir"] = str(base_dir)
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(f"{source}: {_name_link(_first_error(exc), data)}") from None
    try:
        _check_traces(scenario, source)
    except ScenarioError as exc:
        raise ScenarioError(_name_link(str(exc), data)) from None
    return scenario


def _name_link(message: str, data: dict[str, Any]) -> str:
    """`links[1].capacity_bps: ...` names the link too, as the user wrote it: `... (link lte-b)`."""
    m = re.search(r"\blinks\[(\d+)\]", message)
    links = data.get("links")
    if m is None or not isinstance(links, list) or int(m.group(1)) >= len(links):
        return message
    item = links[int(m.group(1))]
    name = item.get("name") if isinstance(item, dict) else None
    return f"{message} (link {name!r})" if isinstance(name, str) and name else message


def _check_traces(scenario: Scenario, source: str) -> None:
    for i, link in enumerate(scenario.links):
        if link.trace is not None:
            _check_one_trace(scenario, link.trace, f"links[{i}].trace", source)
    for i, ev in enumerate(scenario.events):
        if ev.trace is not None:
            _check_one_trace(scenario, ev.trace, f"events[{i}].trace", source)


def _check_one_trace(scenario: Scenario, trace: str, field: str, source: str) -> None:
    path = scenario.trace_path(trace)
    try:
        load_trace(path)
    except (OSError, ValueError) as exc:
        raise ScenarioError(f"{source}: {field}: {exc}") from None


def yaml_files(paths: Iterable[str | Path]) -> Iterator[tuple[Path, bool]]:
    """(file, named explicitly) for every path; a folder gives the *.yaml directly inside it, in
    name order. A path that is not a folder is given back as named, to be read (and its error
    told) by whoever loads it."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            yield from ((p, False) for p in sorted(path.glob("*.yaml")) if p.is_file())
        else:
            yield path, True


def load_scenario(path: str | Path, overrides: list[str] | None = None) -> Scenario:
    """Read, override and validate a scenario file; raises ScenarioError with a one-line message."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read scenario: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        bad = f"byte 0x{exc.object[exc.start]:02x} at offset {exc.start}"
        raise ScenarioError(f"{path}: cannot read scenario: not UTF-8 ({bad})") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: {_yaml_error(exc)}") from None
    if overrides:
        if not isinstance(data, dict):
            raise ScenarioError(f"{path}: (top level): expected a mapping of scenario fields")
        raw, data = data, apply_overrides(data, overrides, str(path))
        try:
            return parse_scenario(data, str(path), path.parent, path.stem)
        except ScenarioError as exc:
            try:
                parse_scenario(raw, str(path), path.parent, path.stem)
            except ScenarioError:
                raise exc from None  # the file itself is wrong: its own message
            raise ScenarioError(
                _blame_override(str(exc).removeprefix(f"{path}: "), overrides, path)
            ) from None
    return parse_scenario(data, str(path), path.parent, path.stem)


def _blame_override(message: str, overrides: list[str], path: Path) -> str:
    """The file is valid without the overrides: name the `--set` whose key the failing field is
    (or lies under), else all of them."""
    field = message.split(": ", 1)[0]
    keys = [o.partition("=")[0] for o in overrides]
    hits = [o for o, k in zip(overrides, keys, strict=True) if field == k or field.startswith(k + ".")]
    named = " ".join(f"--set {o}" for o in (hits or overrides))
    return f"{path}: {named}: {message} (the file itself is valid)"
