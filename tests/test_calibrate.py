"""Calibration report, tested without a real backend: the "real" run is a second sim run relabelled.

Two short sims (different seeds) stand in for a (sim, real) pair; one run directory is copied and its
run.json says backend "real". That only exercises the report, not how close librist gets to the sim.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from bondlab.api import simulate
from bondlab.real.calibrate import (
    METRICS,
    PLOT_KINDS,
    CalibrationFiles,
    Pair,
    relative_difference,
    write_calibration,
)
from bondlab.results import StoredRun, load_run

SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "seed-asymmetric.yaml"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
LINKS = ("lte-a", "lte-b")
BUFFER_MS = 750


def _relabel_as_real(src: Path, seed: int, edit: Callable[[dict[str, Any]], None] | None = None) -> StoredRun:
    """Copy a sim run to real-<scheduler>-<seed>/ with backend "real" (a stand-in, not a real run)."""
    meta = json.loads((src / "run.json").read_text())
    dst = src.parent / f"real-{meta['scheduler']}-{seed}"
    shutil.copytree(src, dst)
    meta.update(backend="real", seed=seed)
    (dst / "run.json").write_text(json.dumps(meta))
    metrics = json.loads((dst / "metrics.json").read_text())
    metrics["real"] = {"librist_buffer_ms": BUFFER_MS, "cpu_cores": 0.1}
    if edit is not None:
        edit(metrics)
    (dst / "metrics.json").write_text(json.dumps(metrics))
    return load_run(dst)


@pytest.fixture(scope="module")
def sims(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    results = tmp_path_factory.mktemp("results")
    first, second = (simulate(SCENARIO, "dwrr", seed=s, overrides=["duration_s=8"], results=results).directory
                     for s in (1, 2))
    return first, second


@pytest.fixture(scope="module")
def stand_in_pair(sims: tuple[Path, Path]) -> Pair:
    sim_dir, other_dir = sims
    return load_run(sim_dir), _relabel_as_real(other_dir, 2)


@pytest.fixture(scope="module")
def files(stand_in_pair: Pair, tmp_path_factory: pytest.TempPathFactory) -> CalibrationFiles:
    return write_calibration([stand_in_pair], tmp_path_factory.mktemp("calibration"))


def _metrics(run: StoredRun) -> dict[str, Any]:
    return json.loads((run.path / "metrics.json").read_text())


def _shares(sim_share: float, offset: float) -> Callable[[dict[str, Any]], None]:
    """Edit: the real run's lte-a share is the sim's plus `offset`, lte-b gets the rest."""
    def edit(metrics: dict[str, Any]) -> None:
        metrics["links"]["lte-a"]["share"] = sim_share + offset
        metrics["links"]["lte-b"]["share"] = 1 - sim_share - offset
    return edit


def test_stand_in_pair_is_relabelled_sim(stand_in_pair: Pair) -> None:
    sim, real = stand_in_pair
    assert (sim.backend, real.backend) == ("sim", "real")
    assert real.path.name == "real-dwrr-2"
    assert _metrics(sim) != _metrics(real)  # different seeds, so the differences are not all zero


def test_csv_row_and_diffs_match_metrics_json(files: CalibrationFiles,
                                              stand_in_pair: Pair) -> None:
    table = pd.read_csv(files.csv)
    assert len(table) == 1
    row = table.iloc[0]
    sim, real = (_metrics(run) for run in stand_in_pair)
    keys = (row["scenario"], row["scheduler"], row["sim_seed"], row["real_seed"])
    assert keys == ("seed-asymmetric", "dwrr", 1, 2)
    assert bool(row["constant_rate"])
    for key in METRICS:
        assert row[f"{key}_sim"] == pytest.approx(sim[key])
        assert row[f"{key}_real"] == pytest.approx(real[key])
        assert row[f"{key}_rel_diff"] == pytest.approx(abs(real[key] - sim[key]) / sim[key], abs=1e-6)
    pp = {}
    for link in LINKS:
        a, b = sim["links"][link]["share"], real["links"][link]["share"]
        pp[link] = abs(b - a) * 100
        assert (row[f"share_{link}_sim"], row[f"share_{link}_real"]) == (pytest.approx(a), pytest.approx(b))
        assert row[f"share_{link}_diff_pp"] == pytest.approx(pp[link], abs=1e-4)
    assert row["max_share_diff_pp"] == pytest.approx(max(pp.values()), abs=1e-4)
    goodput_ok = abs(real["goodput_bps"] - sim["goodput_bps"]) / sim["goodput_bps"] <= 0.10
    share_ok = max(pp.values()) <= 10
    assert (bool(row["goodput_within_10pct"]), bool(row["share_within_10pct"])) == (goodput_ok, share_ok)
    assert bool(row["within_10pct"]) == (goodput_ok and share_ok)
    assert bool(row["within_10pct"]), "two seeds of one constant-rate sim should agree within 10 %"


@pytest.mark.parametrize(("offset", "within"), [(0.09, True), (-0.09, True), (0.11, False), (-0.30, False)])
def test_within_10pct_uses_percentage_points_of_share(sims: tuple[Path, Path], tmp_path: Path,
                                                      offset: float, within: bool) -> None:
    sim_dir, other_dir = sims
    sim = load_run(sim_dir)
    scratch = tmp_path / "seed-asymmetric"
    shutil.copytree(other_dir, scratch / other_dir.name)
    share = sim.metrics["links"]["lte-a"]["share"]
    real = _relabel_as_real(scratch / other_dir.name, 3, _shares(share, offset))
    row = pd.read_csv(write_calibration([(sim, real)], tmp_path / "out").csv).iloc[0]
    # 9 pp on lte-b (about 21 % of the bytes) is over 40 % relative: still within, as the goal is in pp.
    assert row["share_lte-b_diff_pp"] == pytest.approx(abs(offset) * 100, abs=1e-3)
    assert bool(row["share_within_10pct"]) is within
    assert bool(row["within_10pct"]) is within
    assert bool(row["goodput_within_10pct"])  # goodput untouched


def test_within_10pct_flips_on_goodput(sims: tuple[Path, Path], tmp_path: Path) -> None:
    sim_dir, other_dir = sims
    sim = load_run(sim_dir)
    scratch = tmp_path / "seed-asymmetric"
    shutil.copytree(other_dir, scratch / other_dir.name)
    real = _relabel_as_real(scratch / other_dir.name, 4,
                            lambda m: m.update(goodput_bps=sim.metrics["goodput_bps"] * 0.85))
    row = pd.read_csv(write_calibration([(sim, real)], tmp_path / "out").csv).iloc[0]
    assert row["goodput_bps_rel_diff"] == pytest.approx(0.15, abs=1e-5)
    assert not bool(row["goodput_within_10pct"])
    assert not bool(row["within_10pct"])


def test_plots_are_pngs(files: CalibrationFiles) -> None:
    assert len(files.plots) == len(PLOT_KINDS)
    for path, kind in zip(files.plots, PLOT_KINDS, strict=True):
        assert path.name == f"seed-asymmetric-dwrr-sim1-real2-{kind}.png"
        assert path.read_bytes()[:8] == PNG_MAGIC
        assert path.stat().st_size > 10_000  # drawn, not an empty canvas


def test_markdown_table_and_notes(files: CalibrationFiles) -> None:
    text = files.markdown.read_text()
    table = [line for line in text.splitlines() if line.startswith("|")]
    assert len(table) == 3  # header, rule, one pair
    assert "| seed-asymmetric | dwrr " in table[2]
    assert "|real − sim| / sim" in text and "percentage points" in text
    note = text[text.index(table[-1]):]
    assert "librist's output times" in note and f"{BUFFER_MS} ms" in note
    for path in files.plots:
        assert f"]({path.name})" in text


def test_rejects_pairs_that_do_not_match(stand_in_pair: Pair, tmp_path: Path) -> None:
    sim, real = stand_in_pair
    with pytest.raises(ValueError, match="sim run, real run"):
        write_calibration([(real, sim)], tmp_path)
    other = StoredRun(real.path, {**real.meta, "scheduler": "rr"}, real.metrics)
    with pytest.raises(ValueError, match="mixes"):
        write_calibration([(sim, other)], tmp_path)
    with pytest.raises(ValueError, match="no"):
        write_calibration([], tmp_path)


def test_relative_difference_edges() -> None:
    assert relative_difference(0, 0) == 0.0
    assert relative_difference(0, 3) == math.inf
    assert math.isnan(relative_difference(None, 3))
    assert relative_difference(4, 3) == pytest.approx(0.25)
