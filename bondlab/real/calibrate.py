"""Sim-vs-real calibration: how far a real run lands from the sim run of the same scenario and scheduler.

The acceptance bounds live in `BOUNDS` (data, one entry per metric); every row carries, per bound,
the measured difference, the bound and pass/fail, and `calibration_failures(row)` lists what
failed, one line each, so a test suite can assert it is empty. calibration_report.py writes the
rows as calibration.csv, calibration.md and three PNGs per (sim, real) pair.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from bondlab.report.table import MISSING, is_missing, percent
from bondlab.results import StoredRun

Pair = tuple[StoredRun, StoredRun]
# Compared sim vs real in every row (bounded or not); `{key}_rel_diff` is |real - sim| / sim.
METRICS = (
    "decodable_ratio",
    "on_time_ratio",
    "goodput_bps",
    "p50_delay_ms",
    "p95_delay_ms",
    "congestion_messages",
    "mean_bitrate_bps",
)
_TOLERANCE = 1e-9  # float noise: 100 * |0.27 - 0.22| is 5.000000000000004


def _mbps(v: float) -> str:
    return f"{v / 1e6:.2f} Mbps"


def _ms(v: float) -> str:
    return f"{v:.1f} ms"


@dataclass(frozen=True)
class Bound:
    """One acceptance bound. `compare`:
    - "relative": |real - sim| / |sim|, in percent of sim, at most `limit`;
    - "points": |real - sim| of a ratio, in percentage points, at most `limit`;
    - "relative_or_absolute": |real - sim| in the metric's unit, at most the larger of `limit`
      percent of sim and `floor`.
    `metric` is a metrics.json key; "link_share" is every link's share of the bytes sent."""

    metric: str
    label: str
    compare: Literal["relative", "points", "relative_or_absolute"]
    limit: float
    floor: float = 0.0
    unit: str = ""  # of the metric, for relative_or_absolute
    fmt: Callable[[float], str] = percent

    @property
    def diff_unit(self) -> str:
        return {"relative": "pct", "points": "pp"}.get(self.compare, self.unit)

    def difference(self, sim: float, real: float) -> float:
        """|real - sim| in diff_unit (inf for a relative difference from a sim value of 0)."""
        if self.compare == "relative":
            return 100 * relative_difference(sim, real)
        scale = 100.0 if self.compare == "points" else 1.0
        return scale * abs(real - sim)

    def allowed(self, sim: float) -> float:
        """The bound for this sim value, in diff_unit."""
        if self.compare == "relative_or_absolute":
            return max(self.limit / 100 * abs(sim), self.floor)
        return self.limit

    def describe(self) -> str:
        if self.compare == "relative":
            return f"within {self.limit:g} % of sim"
        if self.compare == "points":
            return f"within {self.limit:g} percentage points"
        return f"within {self.limit:g} % of sim or {self.floor:g} {self.unit}, whichever is larger"


BOUNDS: tuple[Bound, ...] = (
    Bound("goodput_bps", "goodput", "relative", 10.0, fmt=_mbps),
    Bound("link_share", "link share", "points", 5.0),
    Bound("on_time_ratio", "on time", "points", 2.0),
    Bound("decodable_ratio", "decodable", "points", 3.0),
    Bound("p50_delay_ms", "p50 delay", "relative_or_absolute", 20.0, floor=15.0, unit="ms", fmt=_ms),
    Bound("p95_delay_ms", "p95 delay", "relative_or_absolute", 25.0, floor=50.0, unit="ms", fmt=_ms),
)


@dataclass(frozen=True)
class Check:
    """One bound applied to one pair (link share: one check per link)."""

    bound: Bound
    name: str
    sim: float
    real: float
    diff: float
    allowed: float
    ok: bool

    def text(self) -> str:
        """`difference <= bound`, both in the bound's unit, or what is missing."""
        if math.isnan(self.diff):
            return "no value"
        unit = {"pct": " %", "pp": " pp"}.get(self.bound.diff_unit, f" {self.bound.diff_unit}")
        diff = "∞" if math.isinf(self.diff) else f"{self.diff:.1f}"
        return f"{diff}{unit} {'≤' if self.ok else '>'} {self.allowed:.3g}{unit}"

    def failure(self) -> str:
        values = f"sim {_fmt(self.bound, self.sim)}, real {_fmt(self.bound, self.real)}"
        if math.isnan(self.diff):
            return f"{self.name}: {values}: a value is missing, so it cannot be {self.bound.describe()}"
        return f"{self.name}: {values}: |real − sim| = {self.text()} ({self.bound.describe()})"


def _fmt(bound: Bound, value: float) -> str:
    return MISSING if is_missing(value) else bound.fmt(value)


def _number(value: Any) -> float:
    return math.nan if is_missing(value) else float(value)


def relative_difference(sim: float | None, real: float | None) -> float:
    """|real - sim| / sim; NaN if a value is missing, inf if only sim is 0."""
    if is_missing(sim) or is_missing(real):
        return math.nan
    if sim == 0:
        return 0.0 if real == 0 else math.inf
    return abs(real - sim) / abs(sim)


def share_diff_pp(sim: StoredRun, real: StoredRun, link: str) -> float:
    """|real - sim| of one link's share of the bytes sent, in percentage points."""
    return 100 * abs(float(real.metrics["links"][link]["share"]) - float(sim.metrics["links"][link]["share"]))


# -- checks --------------------------------------------------------------------------------------


def _row_links(row: Mapping[str, Any]) -> list[str]:
    keys = [str(k) for k in row.keys()]  # noqa: SIM118 (a pandas Series iterates its values)
    return [k[len("share_") : -len("_sim")] for k in keys if k.startswith("share_") and k.endswith("_sim")]


def checks(row: Mapping[str, Any]) -> list[Check]:
    """Every bound of BOUNDS applied to one calibration row (a dict, or a CSV row as a Series)."""
    out = []
    for bound in BOUNDS:
        if bound.metric == "link_share":
            values = [
                (f"link share {link}", row.get(f"share_{link}_sim"), row.get(f"share_{link}_real"))
                for link in _row_links(row)
            ]
            # A table over several scenarios has share columns for links this pair lacks: skip those.
            values = [v for v in values if not (is_missing(_number(v[1])) and is_missing(_number(v[2])))]
        else:
            values = [(bound.label, row.get(f"{bound.metric}_sim"), row.get(f"{bound.metric}_real"))]
        for name, a, b in values:
            sim, real = _number(a), _number(b)
            if math.isnan(sim) or math.isnan(real):
                diff, allowed = math.nan, bound.allowed(0.0 if math.isnan(sim) else sim)
            else:
                diff, allowed = bound.difference(sim, real), bound.allowed(sim)
            ok = diff <= allowed * (1 + _TOLERANCE) + _TOLERANCE  # False for NaN
            out.append(Check(bound, name, sim, real, diff, allowed, ok))
    return out


def _worst(found: Sequence[Check], bound: Bound) -> Check | None:
    mine = [c for c in found if c.bound is bound]
    return max(mine, key=lambda c: (not c.ok, c.diff if not math.isnan(c.diff) else math.inf), default=None)


def calibration_failures(pair_row: Mapping[str, Any]) -> list[str]:
    """One line per failed bound (naming the metric, both values and the bound); empty if the pair
    is within every bound. `pair_row` is a row of calibration_table / calibration.csv, or
    calibration_row(sim, real). A pair whose real run is not valid fails first, saying why."""
    valid = pair_row.get("real_valid", True)
    invalid = [] if valid else [f"real run not valid: {pair_row['real_invalid_reason']}"]
    return invalid + [c.failure() for c in checks(pair_row) if not c.ok]


# -- table ---------------------------------------------------------------------------------------


def _check_pair(sim: StoredRun, real: StoredRun) -> None:
    if (sim.backend, real.backend) != ("sim", "real"):
        raise ValueError(f"pair must be (sim run, real run), got ({sim.backend}, {real.backend})")
    if (sim.scenario, sim.scheduler) != (real.scenario, real.scheduler):
        raise ValueError(f"pair mixes {sim.scenario}/{sim.scheduler} with {real.scenario}/{real.scheduler}")
    if list(sim.metrics.get("links") or {}) != list(real.metrics.get("links") or {}):
        raise ValueError(f"{sim.scenario}: sim and real runs have different links")


def _constant_rate(run: StoredRun) -> bool:
    """No events and no capacity traces."""
    scenario = run.meta.get("scenario") or {}
    return not scenario.get("events") and not any(link.get("trace") for link in scenario.get("links", []))


def calibration_row(sim: StoredRun, real: StoredRun, approximations: Sequence[str] = ()) -> dict[str, Any]:
    """One pair: sim, real and difference per metric and per link share; per bound the measured
    difference `{metric}_diff_{unit}`, the bound `{metric}_bound_{unit}` and `{metric}_ok` (for
    link_share the worst link); `within_bounds`, `failures` and `known_approximations` (the
    caller's list, e.g. real.shaping_fidelity.check_expressible(scenario)), both joined with "; "."""
    _check_pair(sim, real)
    row: dict[str, Any] = {
        "scenario": sim.scenario,
        "scheduler": sim.scheduler,
        "sim_seed": sim.seed,
        "real_seed": real.seed,
        "constant_rate": _constant_rate(sim),
    }
    for key in METRICS:
        a, b = sim.metrics.get(key), real.metrics.get(key)
        row.update(
            {f"{key}_sim": a, f"{key}_real": b, f"{key}_rel_diff": round(relative_difference(a, b), 6)}
        )
    for link in sim.metrics.get("links") or {}:
        row[f"share_{link}_sim"] = sim.metrics["links"][link].get("share")
        row[f"share_{link}_real"] = real.metrics["links"][link].get("share")
        row[f"share_{link}_diff_pp"] = round(share_diff_pp(sim, real, link), 4)
    found = checks(row)
    for bound in BOUNDS:
        worst = _worst(found, bound)
        row[f"{bound.metric}_diff_{bound.diff_unit}"] = math.nan if worst is None else round(worst.diff, 4)
        row[f"{bound.metric}_bound_{bound.diff_unit}"] = (
            math.nan if worst is None else round(worst.allowed, 4)
        )
        row[f"{bound.metric}_ok"] = worst is None or worst.ok
    row["within_bounds"] = all(c.ok for c in found)
    row["failures"] = "; ".join(c.failure() for c in found if not c.ok)
    # A real run that measured the CPU (real/validity.py) is no side of a comparison: its row says
    # so and never counts as agreement, whatever its numbers.
    row["real_valid"] = bool(real.metrics.get("valid", True))
    row["real_invalid_reason"] = real.metrics.get("invalid_reason") or ""
    if not row["real_valid"]:
        row["within_bounds"] = False
        row["failures"] = "; ".join(
            filter(None, [f"real run not valid: {row['real_invalid_reason']}", row["failures"]])
        )
    row["known_approximations"] = "; ".join(approximations)
    return row


def mean_over_seeds(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Rows of one scenario x scheduler over several seeds as one: each world's values averaged.

    A real run in a TCG VM varies run to run by a few points of link share (CPU scheduling moves
    when each burst leaves); the claim "sim and real agree" is about the two worlds' means, so it
    is checked on those: `calibration_failures(mean_over_seeds(rows))`.
    """
    if not rows:
        raise ValueError("no rows to average")
    first = rows[0]
    out: dict[str, Any] = {k: first[k] for k in ("scenario", "scheduler", "constant_rate")}
    out["sim_seed"] = ",".join(str(r["sim_seed"]) for r in rows)
    out["real_seed"] = ",".join(str(r["real_seed"]) for r in rows)
    bad = [r for r in rows if not r.get("real_valid", True)]
    out["real_valid"] = not bad
    out["real_invalid_reason"] = "; ".join(f"seed {r['real_seed']}: {r['real_invalid_reason']}" for r in bad)
    for key in first:
        if key.endswith(("_sim", "_real")):
            values = [_number(r.get(key)) for r in rows]
            out[key] = math.nan if any(math.isnan(v) for v in values) else sum(values) / len(values)
    return out


def calibration_table(
    pairs: Sequence[Pair], approximations: Mapping[str, Sequence[str]] | None = None
) -> pd.DataFrame:
    """One row per pair, in the order given; share columns per link (empty where a scenario lacks
    one). `approximations`: known approximations per scenario name."""
    approximations = approximations or {}
    return pd.DataFrame(
        [calibration_row(sim, real, approximations.get(sim.scenario, ())) for sim, real in pairs]
    )
