"""After the search: the best and the default settings on train and validation scenarios, side by side.

This is the first and only place validation scenarios are simulated. The gap (train minus
validation) says how much of a tuned gain is fitted to the train scenarios.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from bondlab.cluster import run_all
from bondlab.scenario import Scenario, ScenarioError
from bondlab.tuner.points import Point, mean_score, run_point
from bondlab.tuner.spec import TuneSpec

SETTINGS = ("defaults", "tuned")


def evaluate(
    spec: TuneSpec, best: dict[str, Any], client: Any | None = None, progress: bool = True
) -> pd.DataFrame:
    """One row per setting x scenario x seed: split, params, score and the scalar metrics."""
    m = spec.model
    splits: list[tuple[str, Sequence[Scenario]]] = [("train", spec.train), ("validate", spec.validate)]
    points = [
        Point(sc, m.scheduler, seed, params, tag=(setting, split))
        for setting, params in (("defaults", {}), ("tuned", best))
        for split, scenarios in splits
        for sc in scenarios
        for seed in m.seeds
    ]
    rows = []
    for out in run_all(run_point, points, client, desc="final runs", progress=progress):
        if out.error is not None:
            raise ScenarioError(f"{out.item.scenario.name} seed {out.item.seed}: {out.error}")
        setting, split = out.item.tag
        rows.append(
            {
                "setting": setting,
                "split": split,
                "scenario": out.item.scenario.name,
                "seed": out.item.seed,
                "score": mean_score([out.result], m.objective),
                **out.result,
            }
        )
    return pd.DataFrame(rows).sort_values(["setting", "split", "scenario", "seed"], ignore_index=True)


def summary_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per scenario: defaults' and tuned score and the change; then train and validation means and the gap."""
    per = runs.groupby(["split", "scenario", "setting"])["score"].mean().unstack("setting")
    rows: list[dict[str, Any]] = []
    for (split, scenario), r in per.iterrows():
        rows.append({"scenario": scenario, "split": split, **{s: r[s] for s in SETTINGS}})
    means: dict[str, dict[str, float]] = defaultdict(dict)
    for split in ("train", "validate"):
        part = per.loc[split]
        means[split] = {s: float(part[s].mean()) for s in SETTINGS}
        rows.append({"scenario": f"mean ({split})", "split": split, **means[split]})
    rows.append(
        {
            "scenario": "gap (train - validate)",
            "split": "",
            **{s: means["train"][s] - means["validate"][s] for s in SETTINGS},
        }
    )
    table = pd.DataFrame(rows)
    table["change"] = table["tuned"] - table["defaults"]
    return table


def markdown(
    table: pd.DataFrame, spec: TuneSpec, best: dict[str, Any], trials: int, ran: int | None = None
) -> str:
    objective = " + ".join(f"{w:g} x {k}" for k, w in spec.model.objective.items())
    now = (
        "" if ran is None else (f" ({ran} run now)" if ran else " (none run now: the stored study held them)")
    )
    train = table[table["scenario"] == "mean (train)"].iloc[0]
    lines = [
        f"# Tuning: {spec.name}",
        "",
        f"{trials} trials{now}, scheduler {spec.model.scheduler}, seeds {spec.model.seeds}; "
        f"score = {objective} (mean over seeds, then scenarios).",
        "",
        "Tuned: " + ", ".join(f"`{k}={fmt(v)}`" for k, v in best.items()),
        "",
    ]
    if train["tuned"] < train["defaults"]:
        lines += [
            f"**The defaults score higher on the train scenarios** ({train['defaults']:.4f} against "
            f"{train['tuned']:.4f}): this search found nothing better; more trials may.",
            "",
        ]
    lines += [
        "| scenario | split | defaults | tuned | change |",
        "|---|---|---:|---:|---:|",
    ]
    for r in table.itertuples():
        lines.append(f"| {r.scenario} | {r.split} | {r.defaults:.4f} | {r.tuned:.4f} | {r.change:+.4f} |")
    return "\n".join(lines) + "\n"


def fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def write_files(
    out_dir: Path,
    table: pd.DataFrame,
    runs: pd.DataFrame,
    trials: pd.DataFrame,
    text: str,
    best: dict[str, Any],
) -> dict[str, Path]:
    """summary.md/.csv, runs.csv (every final run), trials.csv and best.yaml (dotted keys, as --set takes)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {
        name: out_dir / name for name in ("summary.md", "summary.csv", "runs.csv", "trials.csv", "best.yaml")
    }
    files["summary.md"].write_text(text)
    table.to_csv(files["summary.csv"], index=False)
    runs.to_csv(files["runs.csv"], index=False)
    trials.to_csv(files["trials.csv"], index=False)
    sets = " ".join(f"--set {k}={v}" for k, v in best.items())
    files["best.yaml"].write_text(f"# bondlab run SCENARIO {sets}\n" + yaml.safe_dump(best, sort_keys=False))
    return files
