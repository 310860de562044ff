"""Seeds as statistics: means with 95 % confidence intervals, and which ranks they cannot separate.

The replicate is the seed. A row over several scenarios (the leaderboard) is first averaged over
its scenarios per seed, so a scenario's difficulty is not mistaken for noise; the interval is then
Student's t over those per-seed means (the runs of one seed are one draw of every random process:
loss, jitter, the encoder's sizes). An interval needs at least two seeds, and for a row over
several scenarios the same seeds on each (else the per-seed means would mix scenarios); without
that the interval is left empty rather than computed from something that is not a replicate.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

# Two-sided 95 % quantiles of Student's t (0.975 one-sided) for 1..30 degrees of freedom; beyond,
# the normal's 1.96 is within 2 % of t.
_T975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip
Z975 = 1.96


def t975(df: int) -> float:
    """The 97.5 % quantile of Student's t with `df` degrees of freedom (df >= 1)."""
    if df < 1:
        raise ValueError("a t interval needs at least one degree of freedom (two values)")
    return _T975[df - 1] if df <= len(_T975) else Z975


def mean_ci(values: Sequence[float]) -> tuple[float, float]:
    """(mean, half width of its 95 % t interval); the half width is NaN below two values."""
    arr = np.asarray([v for v in values if not pd.isna(v)], dtype=float)
    if len(arr) == 0:
        return math.nan, math.nan
    mean = float(arr.mean())
    if len(arr) < 2:
        return mean, math.nan
    return mean, t975(len(arr) - 1) * float(arr.std(ddof=1)) / math.sqrt(len(arr))


def seed_means(rows: pd.DataFrame, metric: str) -> pd.Series | None:
    """Per seed, the mean of `metric` over the rows' scenarios; None when the scenarios did not
    all run the same seeds (the per-seed means would then compare different scenario mixes)."""
    seeds_per_scenario = rows.groupby("scenario")["seed"].apply(frozenset)
    if seeds_per_scenario.nunique() != 1:
        return None
    return rows.groupby("seed")[metric].mean()


def ci_half_width(rows: pd.DataFrame, metric: str) -> float:
    """95 % half width of the mean of `metric` over these rows' seeds (NaN where there is none)."""
    per_seed = seed_means(rows, metric)
    if per_seed is None:
        return math.nan
    return mean_ci(per_seed.to_list())[1]


def overlapping_ranks(means: Sequence[float], halves: Sequence[float]) -> list[tuple[int, int]]:
    """Chains of consecutive ranks (1-based, inclusive) in which each rank's 95 % interval overlaps
    the next one's: the seeds do not order them. Ranks without an interval stand alone. `means`
    are in rank order (best first)."""

    def overlaps(i: int) -> bool:
        a, b = (means[i], halves[i]), (means[i + 1], halves[i + 1])
        if any(pd.isna(x) for x in (*a, *b)):
            return False
        return abs(a[0] - b[0]) <= a[1] + b[1]

    chains: list[tuple[int, int]] = []
    start = None
    for i in range(len(means) - 1):
        if overlaps(i):
            start = i if start is None else start
        elif start is not None:
            chains.append((start + 1, i + 1))
            start = None
    if start is not None:
        chains.append((start + 1, len(means)))
    return chains


def overlap_note(means: Sequence[float], halves: Sequence[float], what: str) -> str:
    """One sentence on which ranks the 95 % intervals of `what` do not tell apart."""
    if all(pd.isna(h) for h in halves):
        return f"No 95 % intervals for {what}: they need two seeds or more, the same on every scenario."
    groups = overlapping_ranks(means, halves)
    if not groups:
        return f"Every rank's 95 % interval of {what} is clear of the next one's: the seeds separate them."
    spans = ", ".join(f"{a}-{b}" for a, b in groups)
    return (
        f"Ranks {spans}: each one's 95 % interval of {what} overlaps the next one's, so these seeds "
        "do not order them."
    )
