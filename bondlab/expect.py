"""Expectations a scenario file states about its own results (`expect:`), parsed and judged.

Pure and without a scenario import, so `bondlab.scenario` can validate an `expect:` block with the
same parser `bondlab regress` judges it with: a bound that loads is a bound that can be checked.
Every parse error is one line starting with the key (`expect.dwrr.on_time: unknown metric ...`).
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bondlab.core.metrics import METRIC_KEYS

SCALAR_METRICS: tuple[str, ...] = tuple(k for k in METRIC_KEYS if k != "links")
COMPARE_KEY = "compare"
# `seeds: [10, 11, 12]`: judge the mean over these seeds instead of the file's one seed. Decodable
# frames turn on single GOPs; in a scenario at the edge (skew-short-buffer) one seed moves them by
# half, and a bound on one seed then guards the luck of that seed rather than the behaviour.
SEEDS_KEY = "seeds"
MAX_SEEDS = 20


def _eq(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "==": _eq,
}
_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_OP = r">=|<=|==|>|<"
_BOUND_RE = re.compile(rf"\s*({_OP})\s*({_NUM})\s*")
_COMPARE_RE = re.compile(rf"\s*(.+?)\s*({_OP})\s*(.+?)\s*")
_TERM_RE = re.compile(rf"(?:({_NUM})\s*\*\s*)?([A-Za-z0-9_-]+)\.([A-Za-z0-9_]+)")
_COMPARE_FORM = "'sched.metric <op> [factor *] sched.metric'"


@dataclass(frozen=True)
class Term:
    """`factor * scheduler.metric`: one side of a compare line, or the measured side of a bound."""

    scheduler: str
    metric: str
    factor: float = 1.0

    def value(self, metrics: Mapping[str, Mapping[str, Any]]) -> float | None:
        raw = metrics[self.scheduler].get(self.metric)
        return None if raw is None else self.factor * float(raw)


@dataclass(frozen=True)
class Expectation:
    """`left op right`; right is a number (a bound) or another term (a compare line)."""

    key: str  # where it sits in the file: expect.dwrr.on_time_ratio, expect.compare[0]
    text: str  # as written: ">= 0.97" or "dwrr.goodput_bps > rr.goodput_bps"
    left: Term
    op: str
    right: Term | float

    @property
    def schedulers(self) -> tuple[str, ...]:
        right = (self.right.scheduler,) if isinstance(self.right, Term) else ()
        return tuple(dict.fromkeys((self.left.scheduler, *right)))

    @property
    def metrics(self) -> tuple[str, ...]:
        right = (self.right.metric,) if isinstance(self.right, Term) else ()
        return tuple(dict.fromkeys((self.left.metric, *right)))

    @property
    def is_compare(self) -> bool:
        return isinstance(self.right, Term)


@dataclass(frozen=True)
class Verdict:
    passed: bool
    measured: str  # what the table shows beside the bound
    detail: str  # one line: measured vs bound, or why it could not be judged


def fmt(value: float | None) -> str:
    if value is None:
        return "none"
    if float(value).is_integer() and abs(value) < 1e5:
        return str(int(value))
    return f"{value:.5g}"


def judge(exp: Expectation, metrics: Mapping[str, Mapping[str, Any]]) -> Verdict:
    """Check one expectation against {scheduler: scalar metrics}; a missing value fails.

    The table shows the metrics as measured; the detail line also shows the factored comparison.
    """
    left = exp.left.value(metrics)
    if isinstance(exp.right, Term):
        right = exp.right.value(metrics)
        raw = (metrics[t.scheduler].get(t.metric) for t in (exp.left, exp.right))
        measured = " vs ".join(fmt(v) for v in raw)
        detail = f"{exp.text}: measured {measured}, compared {fmt(left)} {exp.op} {fmt(right)}"
    else:
        right = exp.right
        measured = fmt(left)
        detail = f"{exp.left.metric} measured {measured}, expected {exp.text}"
    if left is None or right is None:
        return Verdict(False, measured, f"{detail} (the run produced no value)")
    return Verdict(OPS[exp.op](left, right), measured, detail)


def parse_expect(raw: Any) -> list[Expectation]:
    """Validate an `expect:` block and return its expectations in file order; raises ValueError."""
    if not isinstance(raw, Mapping) or not raw:
        raise ValueError("expect: expected a mapping of scheduler -> {metric: bound} (and compare: [lines])")
    out: list[Expectation] = []
    for key, value in raw.items():
        if key == COMPARE_KEY:
            out += _parse_compare(value)
        elif key == SEEDS_KEY:
            parse_seeds(raw)
        else:
            out += _parse_bounds(key, value)
    if not out:
        raise ValueError("expect: no bound or compare line to judge")
    return out


def parse_seeds(raw: Mapping[str, Any]) -> list[int] | None:
    """The seeds an `expect:` block is judged over (None: the scenario's own seed); raises ValueError."""
    seeds = raw.get(SEEDS_KEY)
    if seeds is None:
        return None
    ok = (
        isinstance(seeds, list)
        and 0 < len(seeds) <= MAX_SEEDS
        and all(type(s) is int and s >= 0 for s in seeds)
        and len(set(seeds)) == len(seeds)
    )
    if not ok:
        raise ValueError(
            f"expect.seeds: expected a list of 1 to {MAX_SEEDS} distinct seeds (integers >= 0), got {seeds!r}"
        )
    return list(seeds)


def mean_metrics(runs: list[Mapping[str, Any]]) -> dict[str, Any]:
    """Scalar metrics averaged over runs of several seeds (a metric missing in any run is missing)."""
    out: dict[str, Any] = {}
    for key in runs[0]:
        values = [r.get(key) for r in runs]
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            out[key] = sum(values) / len(values)
        else:
            out[key] = None
    return out


def _scheduler(name: Any, where: str) -> str:
    # Imported here: the full registry includes the sim's oracle, whose links load scenarios.
    from bondlab.schedulers import scheduler_names

    allowed = scheduler_names("sim")
    if name not in allowed:
        raise ValueError(f"{where}: unknown scheduler {name!r} (choose from {', '.join(allowed)})")
    return str(name)


def _metric(name: Any, where: str) -> str:
    if name not in SCALAR_METRICS:
        raise ValueError(f"{where}: unknown metric {name!r} (scalar metrics: {', '.join(SCALAR_METRICS)})")
    return str(name)


def _parse_bounds(scheduler: Any, bounds: Any) -> list[Expectation]:
    where = f"expect.{scheduler}"
    name = _scheduler(scheduler, where)
    if not isinstance(bounds, Mapping) or not bounds:
        raise ValueError(f"{where}: expected a mapping of metric -> bound, e.g. {{on_time_ratio: '>= 0.97'}}")
    out = []
    for metric, text in bounds.items():
        key = f"{where}.{metric}"
        _metric(metric, key)
        match = _BOUND_RE.fullmatch(text) if isinstance(text, str) else None
        number = float(match.group(2)) if match else math.nan
        if not math.isfinite(number):
            ops = ", ".join(OPS)
            raise ValueError(
                f"{key}: expected a quoted bound '<op> <number>', op one of {ops} (got {text!r})"
            )
        assert match is not None
        out.append(Expectation(key, " ".join(match.groups()), Term(name, metric), match.group(1), number))
    return out


def _parse_compare(lines: Any) -> list[Expectation]:
    if not isinstance(lines, list) or not lines:
        raise ValueError(f"expect.compare: expected a list of {_COMPARE_FORM} lines")
    out = []
    for i, line in enumerate(lines):
        key = f"expect.compare[{i}]"
        match = _COMPARE_RE.fullmatch(line) if isinstance(line, str) else None
        if match is None:
            raise ValueError(f"{key}: expected {_COMPARE_FORM} (got {line!r})")
        left, op, right = match.groups()
        out.append(Expectation(key, " ".join(line.split()), _term(left, key), op, _term(right, key)))
    return out


def _term(text: str, key: str) -> Term:
    match = _TERM_RE.fullmatch(text)
    if match is None:
        raise ValueError(f"{key}: expected {_COMPARE_FORM}, cannot read {text!r}")
    factor, scheduler, metric = match.groups()
    number = 1.0 if factor is None else float(factor)
    if not math.isfinite(number):
        raise ValueError(f"{key}: factor {factor!r} is not a finite number")
    return Term(_scheduler(scheduler, key), _metric(metric, key), number)
