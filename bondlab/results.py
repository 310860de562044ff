"""Results layout shared by runners and readers: results/<scenario>/<run-id>/{run.json, metrics.json,
timeseries.parquet, messages.json}. Runners write here first; reports and notebooks only read."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import bondlab
from bondlab.scenario import Scenario

DEFAULT_RESULTS = Path("results")


def git_revision() -> str:
    here = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        return rev + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def run_id(scheduler: str, seed: int, backend: str = "sim") -> str:
    return f"{scheduler}-{seed}" if backend == "sim" else f"{backend}-{scheduler}-{seed}"


def run_dir(results: Path, scenario: Scenario, scheduler: str, seed: int, backend: str = "sim") -> Path:
    return Path(results) / scenario.name / run_id(scheduler, seed, backend)


def write_run_json(
    directory: Path,
    scenario: Scenario,
    scheduler: str,
    seed: int,
    backend: str,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Written before the run starts, so every result can be traced to what made it."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "metrics.json").unlink(missing_ok=True)  # a re-run replaces the old run, never mixes
    meta = {
        "scenario": scenario.resolved(),
        "scenario_name": scenario.name,
        "seed": seed,
        "scheduler": scheduler,
        "backend": backend,
        "bondlab_version": bondlab.__version__,
        "git_revision": git_revision(),
        "python": platform.python_version(),
        "started_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        **(extra or {}),
    }
    path = directory / "run.json"
    _atomic_write(path, json.dumps(meta, indent=2))
    return path


def write_outputs(
    directory: Path,
    metrics: dict[str, Any],
    timeseries: pd.DataFrame,
    messages: list[dict[str, Any]],
    delays_ms: np.ndarray | None = None,
) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    timeseries.to_parquet(directory / "timeseries.parquet", index=False)
    if delays_ms is not None:
        np.save(directory / "delays_ms.npy", np.asarray(delays_ms, dtype=np.float32))
    _atomic_write(directory / "messages.json", json.dumps(messages, indent=2))
    _atomic_write(directory / "metrics.json", json.dumps(metrics, indent=2))  # last: marks completion


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text + "\n")
    os.replace(tmp, path)


@dataclass(frozen=True)
class StoredRun:
    path: Path
    meta: dict[str, Any]
    metrics: dict[str, Any]

    @property
    def scenario(self) -> str:
        return str(self.meta["scenario_name"])

    @property
    def scheduler(self) -> str:
        return str(self.meta["scheduler"])

    @property
    def backend(self) -> str:
        return str(self.meta.get("backend", "sim"))

    @property
    def seed(self) -> int:
        return int(self.meta["seed"])

    def timeseries(self) -> pd.DataFrame:
        return pd.read_parquet(self.path / "timeseries.parquet")

    def messages(self) -> list[dict[str, Any]]:
        path = self.path / "messages.json"
        return json.loads(path.read_text()) if path.exists() else []


def load_run(directory: Path) -> StoredRun:
    directory = Path(directory)
    return StoredRun(
        directory,
        json.loads((directory / "run.json").read_text()),
        json.loads((directory / "metrics.json").read_text()),
    )


def find_runs(results: Path = DEFAULT_RESULTS) -> list[StoredRun]:
    """Every completed run (metrics.json present) under `results`."""
    return [load_run(p.parent) for p in sorted(Path(results).glob("*/*/metrics.json"))]
