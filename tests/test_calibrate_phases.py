"""Calibration in motion (real/calibrate_phases.py), on sim runs standing in for real ones: the
phases are the windows between events (5 s on traces), each judged with the run's bounds from
files both worlds write (frames.parquet, delays with capture times, delivered bytes per link)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from bondlab.api import simulate
from bondlab.real.calibrate_phases import phase_bounds, phase_failures, phase_metrics, phase_rows
from bondlab.results import FRAMES_FILE, load_run

from conftest import SCENARIOS


def as_real(src: Path, dst: Path) -> Path:
    """A copy of a sim run labelled real (a stand-in for the pairing, not a real run)."""
    shutil.copytree(src, dst)
    meta = json.loads((dst / "run.json").read_text())
    meta["backend"] = "real"
    (dst / "run.json").write_text(json.dumps(meta))
    return dst


@pytest.fixture(scope="module")
def black_hole(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return simulate(SCENARIOS / "black-hole.yaml", "dwrr", results=tmp_path_factory.mktemp("bh")).directory


def test_phases_are_the_windows_between_events_and_5_s_on_traces(black_hole: Path, tmp_path: Path) -> None:
    assert phase_bounds(load_run(black_hole)) == [(0.0, 8.0), (8.0, 16.0), (16.0, 25.0)]
    traces = simulate(
        SCENARIOS / "cellular-traces.yaml", "dwrr", overrides=["duration_s=16"], results=tmp_path
    )
    # 5 s windows; the last 1 s stub is merged into the window before it
    assert phase_bounds(load_run(traces.directory)) == [(0.0, 5.0), (5.0, 10.0), (10.0, 16.0)]


def test_a_phase_measures_what_the_run_measures(black_hole: Path) -> None:
    """Over the whole run, the phase measures are the run's own metrics (same definitions)."""
    run = load_run(black_hole)
    whole = phase_metrics(run, 0.0, 25.0)
    m = run.metrics
    assert whole["on_time_ratio"] == pytest.approx(m["on_time_ratio"], abs=1e-5)
    assert whole["decodable_ratio"] == pytest.approx(m["decodable_ratio"], abs=1e-5)
    assert whole["goodput_bps"] == pytest.approx(m["goodput_bps"], rel=1e-4)
    assert whole["p95_delay_ms"] == pytest.approx(m["p95_delay_ms"], rel=1e-3)
    shares = [whole[f"share_{link}"] for link in m["links"]]
    assert sum(shares) == pytest.approx(1.0)


def test_identical_worlds_agree_in_every_phase_and_a_bad_phase_is_named(
    black_hole: Path, tmp_path: Path
) -> None:
    sim = load_run(black_hole)
    real_dir = as_real(black_hole, tmp_path / "real-dwrr-3")
    rows = phase_rows(sim, load_run(real_dir))
    assert [(r["start_s"], r["end_s"]) for r in rows] == phase_bounds(sim)
    assert all(r["within_bounds"] for r in rows) and phase_failures(rows) == []
    # the real run loses every frame captured in 9-11 s: only the hole's phase fails, and says why
    frames = pd.read_parquet(real_dir / FRAMES_FILE)
    lost = (frames.t >= 9.0) & (frames.t < 11.0)
    frames.loc[lost, ["on_time", "decodable"]] = False
    frames.to_parquet(real_dir / FRAMES_FILE, index=False)
    rows = phase_rows(sim, load_run(real_dir))
    failed = phase_failures(rows)
    assert [r["within_bounds"] for r in rows] == [True, False, True]
    assert failed and all(line.startswith("8-16 s: ") for line in failed)
    assert any("on time" in line for line in failed) and any("decodable" in line for line in failed)


def test_runs_stored_before_the_frame_files_have_no_phases(black_hole: Path, tmp_path: Path) -> None:
    old = as_real(black_hole, tmp_path / "real-dwrr-3")
    (old / FRAMES_FILE).unlink()
    assert phase_rows(load_run(black_hole), load_run(old)) == []


def test_the_calibration_report_shows_the_phases(black_hole: Path, tmp_path: Path) -> None:
    from bondlab.real.calibration_report import write_calibration

    pair = (load_run(black_hole), load_run(as_real(black_hole, tmp_path / "real-dwrr-3")))
    files = write_calibration([pair], tmp_path / "report")
    phases = pd.read_csv(tmp_path / "report" / "phases.csv")
    assert phases[["start_s", "end_s"]].values.tolist() == [[0, 8], [8, 16], [16, 25]]
    md = files.markdown.read_text()
    assert "Phase by phase" in md and "8-16 s" in md
