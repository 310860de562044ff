"""What a sweep found: means over seeds, the best setting, and how much each parameter matters.

The objective is the comparison table's: frames a viewer could decode (`decodable_ratio`, mean
over seeds) first, then `goodput_bps`. Failed points are left out of every statistic (they are
listed in the report instead).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

OBJECTIVE = "decodable_ratio"
TIEBREAK = "goodput_bps"
SUMMARY_METRICS = ["decodable_ratio", "goodput_bps", "on_time_ratio", "p95_delay_ms"]


def succeeded(df: pd.DataFrame) -> pd.DataFrame:
    """Rows whose point ran (error is null) and has the objective."""
    if df.empty or OBJECTIVE not in df:
        return df.iloc[0:0]
    return df[df["error"].isna() & df[OBJECTIVE].notna()]


def _hashable(df: pd.DataFrame, params: list[str]) -> pd.DataFrame:
    """Parameter columns usable as group keys (nulls become the text 'default')."""
    out = df.copy()
    for p in params:
        out[p] = out[p].astype(object).where(out[p].notna(), "default")
    return out


def setting_means(df: pd.DataFrame, params: list[str]) -> pd.DataFrame:
    """One row per (scenario, scheduler, setting): metric means over seeds and the number of seeds."""
    ok = _hashable(succeeded(df), params)
    keys = ["scenario", "scheduler", *params]
    metrics = [m for m in SUMMARY_METRICS if m in ok]
    if ok.empty:
        return pd.DataFrame(columns=[*keys, *metrics, "seeds"])
    grouped = ok.groupby(keys, dropna=False, sort=False)
    means = grouped[metrics].mean()
    means["seeds"] = grouped["seed"].nunique()
    return means.reset_index()


def _ranked(table: pd.DataFrame) -> pd.DataFrame:
    return table.sort_values([OBJECTIVE, TIEBREAK], ascending=False, kind="stable")


def best_per_scenario(df: pd.DataFrame, params: list[str]) -> pd.DataFrame:
    """The best (scheduler, setting) of each scenario, by mean decodable ratio, then goodput."""
    means = setting_means(df, params)
    if means.empty:
        return means
    return (
        _ranked(means).groupby("scenario", sort=True).head(1).sort_values("scenario").reset_index(drop=True)
    )


def best_overall(df: pd.DataFrame, params: list[str], top: int = 5) -> pd.DataFrame:
    """Settings run on every scenario, ranked by their mean over scenarios (each scenario weighs the same)."""
    means = setting_means(df, params)
    if means.empty:
        return means
    keys = ["scheduler", *params]
    n_scenarios = means["scenario"].nunique()
    metrics = [m for m in SUMMARY_METRICS if m in means]
    grouped = means.groupby(keys, dropna=False, sort=False)
    overall = grouped[metrics].mean()
    overall["scenarios"] = grouped["scenario"].nunique()
    overall = overall[overall["scenarios"] == n_scenarios].reset_index()
    return _ranked(overall).head(top).reset_index(drop=True)


def importance(df: pd.DataFrame, params: list[str]) -> pd.DataFrame:
    """Per parameter, scenario and scheduler: how far the objective moves with it.

    `range` is max - min of the parameter's per-value mean objective (other parameters and seeds
    averaged); `explained` is the share of the objective's variance that the parameter's values
    explain (between-value variance / total variance, eta squared): near 0, it hardly matters.
    """
    ok = _hashable(succeeded(df), params)
    rows: list[dict[str, Any]] = []
    for (scenario, scheduler), part in ok.groupby(["scenario", "scheduler"], sort=True):
        y = part[OBJECTIVE].astype(float)
        total = float(((y - y.mean()) ** 2).sum())
        for p in params:
            x = binned(part[p])
            per_value = y.groupby(x, sort=False).agg(["mean", "count"])
            between = float((per_value["count"] * (per_value["mean"] - y.mean()) ** 2).sum())
            rows.append(
                {
                    "parameter": p,
                    "scenario": scenario,
                    "scheduler": scheduler,
                    "values": len(per_value),
                    "range": float(per_value["mean"].max() - per_value["mean"].min()),
                    "explained": between / total if total > 0 else 0.0,
                }
            )
    return pd.DataFrame(rows, columns=["parameter", "scenario", "scheduler", "values", "range", "explained"])


def is_numeric(values: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values))


def binned(values: pd.Series, max_levels: int = 10, bins: int = 8) -> pd.Series:
    """Sampled (continuous) values grouped into quantile bins, each shown at its mean; grids unchanged."""
    if not is_numeric(values) or values.nunique() <= max_levels:
        return values
    groups = pd.qcut(values.astype(float), bins, duplicates="drop")
    return values.groupby(groups, observed=True).transform("mean")


def describe(row: pd.Series, params: list[str]) -> str:
    """`dwrr bonding.alpha=0.125 bonding.headroom=1.2`: a setting in one line."""
    return " ".join([str(row["scheduler"]), *(f"{p}={row[p]}" for p in params)])
