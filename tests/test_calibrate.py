"""Calibration report, tested without a real backend: the "real" run is a sim run relabelled.

The acceptance bounds are tested on synthetic pairs (metrics only, no files), at both sides of
every bound. The files (CSV, Markdown, PNGs) come from two short sims (different seeds) standing in
for a (sim, real) pair; that exercises the report, not how close librist gets to the sim.
"""

from __future__ import annotations

import copy
import json
import math
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from bondlab.api import simulate
from bondlab.real.calibrate import (
    BOUNDS,
    METRICS,
    Pair,
    calibration_failures,
    calibration_row,
    calibration_table,
    mean_over_seeds,
    relative_difference,
)
from bondlab.real.calibration_report import PLOT_KINDS, CalibrationFiles, write_calibration
from bondlab.results import StoredRun, load_run

SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "seed-asymmetric.yaml"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
BUFFER_MS = 750
APPROX = ["link 0 (lte-a) loss: 1% is placed before the bottleneck", "trace windows are 100 ms"]


# -- synthetic pairs: the bounds -------------------------------------------------------------------

BASE = {
    "on_time_ratio": 0.95,
    "decodable_ratio": 0.93,
    "goodput_bps": 5_000_000.0,
    "p50_delay_ms": 50.0,
    "p95_delay_ms": 120.0,
    "congestion_messages": 10,
    "mean_bitrate_bps": 5_200_000.0,
    "links": {"a": {"share": 0.72, "capacity_share": 0.75}, "b": {"share": 0.28, "capacity_share": 0.25}},
}


def _run(backend: str, scenario: str = "synthetic", **changes: Any) -> StoredRun:
    metrics = copy.deepcopy(BASE)
    for key, value in changes.items():
        if key.startswith("share_"):
            metrics["links"][key.removeprefix("share_")]["share"] = value
        else:
            metrics[key] = value
    meta = {
        "scenario_name": scenario,
        "scheduler": "dwrr",
        "seed": 1,
        "backend": backend,
        "scenario": {"links": [{"name": "a"}, {"name": "b"}]},
    }
    return StoredRun(Path("/nonexistent"), meta, metrics)


def _failures(**real_changes: Any) -> list[str]:
    return calibration_failures(calibration_row(_run("sim"), _run("real", **real_changes)))


def test_means_over_seeds_are_compared_not_single_runs() -> None:
    """Real shares of 0.80 and 0.66 for the sim's 0.72: each run 8 and 6 points off (both fail),
    the means agree (0.73 vs 0.72); a bias every run shares still fails on the means."""
    rows = [
        calibration_row(_run("sim"), _run("real", share_a=0.80, share_b=0.20)),
        calibration_row(_run("sim"), _run("real", share_a=0.66, share_b=0.34)),
    ]
    assert all(calibration_failures(r) for r in rows)
    mean = mean_over_seeds(rows)
    assert mean["share_a_real"] == pytest.approx(0.73) and calibration_failures(mean) == []
    biased = [calibration_row(_run("sim"), _run("real", share_a=v, share_b=1 - v)) for v in (0.79, 0.80)]
    assert any("link share a" in f for f in calibration_failures(mean_over_seeds(biased)))
    goodput = [calibration_row(_run("sim"), _run("real", goodput_bps=g)) for g in (4.0e6, 4.4e6)]
    assert any("goodput" in f for f in calibration_failures(mean_over_seeds(goodput)))


def test_bounds_are_data_in_one_place() -> None:
    assert [(b.metric, b.compare, b.limit, b.floor) for b in BOUNDS] == [
        ("goodput_bps", "relative", 10.0, 0.0),
        ("link_share", "points", 5.0, 0.0),
        ("on_time_ratio", "points", 2.0, 0.0),
        ("decodable_ratio", "points", 3.0, 0.0),
        ("p50_delay_ms", "relative_or_absolute", 20.0, 15.0),
        ("p95_delay_ms", "relative_or_absolute", 25.0, 50.0),
    ]


def test_identical_runs_have_no_failures() -> None:
    row = calibration_row(_run("sim"), _run("real"))
    assert calibration_failures(row) == []
    assert row["within_bounds"] and row["failures"] == ""
    assert all(row[f"{b.metric}_ok"] for b in BOUNDS)


@pytest.mark.parametrize(
    ("changes", "failed"),
    [
        ({"goodput_bps": 4_510_000.0}, None),  # 9.8 % below
        ({"goodput_bps": 5_490_000.0}, None),  # 9.8 % above
        ({"goodput_bps": 4_490_000.0}, "goodput"),  # 10.2 %
        ({"goodput_bps": 5_510_000.0}, "goodput"),
        ({"share_a": 0.671, "share_b": 0.329}, None),  # 4.9 pp
        ({"share_a": 0.67, "share_b": 0.33}, None),  # exactly 5 pp (float noise must not fail it)
        ({"share_a": 0.669, "share_b": 0.331}, ("link share a", "link share b")),  # 5.1 pp
        ({"share_b": 0.22}, "link share b"),  # 6 pp on the small link (21 % relative: not the rule)
        ({"on_time_ratio": 0.931}, None),  # 1.9 pp
        ({"on_time_ratio": 0.929}, "on time"),  # 2.1 pp
        ({"on_time_ratio": 0.971}, "on time"),
        # p50 at 50 ms: 20 % is 10 ms, so the 15 ms floor is the bound.
        ({"p50_delay_ms": 64.0}, None),
        ({"p50_delay_ms": 36.0}, None),
        ({"p50_delay_ms": 65.9}, "p50 delay"),
        ({"p50_delay_ms": 34.0}, "p50 delay"),
    ],
)
def test_each_bound_at_both_sides(changes: dict[str, float], failed: str | tuple[str, ...] | None) -> None:
    failures = _failures(**changes)
    names = () if failed is None else (failed,) if isinstance(failed, str) else failed
    assert [line.split(": sim ")[0] for line in failures] == list(names), failures


@pytest.mark.parametrize(
    ("sim_ms", "real_ms", "ok"),
    [
        (200.0, 239.0, True),  # 20 % of 200 = 40 ms > 15 ms: the relative part is the bound
        (200.0, 241.0, False),
        (200.0, 161.0, True),
        (75.0, 89.9, True),  # 20 % = 15 ms: both parts agree
        (75.0, 90.2, False),
        (10.0, 24.9, True),  # 20 % = 2 ms; 15 ms floor
        (10.0, 25.2, False),
    ],
)
def test_p50_is_20_percent_or_15_ms_whichever_is_larger(sim_ms: float, real_ms: float, ok: bool) -> None:
    row = calibration_row(_run("sim", p50_delay_ms=sim_ms), _run("real", p50_delay_ms=real_ms))
    assert row["p50_delay_ms_ok"] is ok
    assert row["p50_delay_ms_bound_ms"] == pytest.approx(max(0.2 * sim_ms, 15.0))
    assert row["p50_delay_ms_diff_ms"] == pytest.approx(abs(real_ms - sim_ms))
    assert (calibration_failures(row) == []) is ok


def test_failure_lines_name_metric_both_values_and_bound() -> None:
    failures = _failures(
        goodput_bps=4_000_000.0, share_a=0.60, share_b=0.40, on_time_ratio=0.90, p50_delay_ms=90.0
    )
    assert len(failures) == 5  # goodput, both links, on time, p50
    text = "\n".join(failures)
    assert "goodput: sim 5.00 Mbps, real 4.00 Mbps" in text and "20.0 % > 10 %" in text
    assert "within 10 % of sim" in text
    assert "link share a: sim 72.0%, real 60.0%" in text and "12.0 pp > 5 pp" in text
    assert "on time: sim 95.0%, real 90.0%" in text and "within 2 percentage points" in text
    assert "p50 delay: sim 50.0 ms, real 90.0 ms" in text and "40.0 ms > 15 ms" in text
    assert "whichever is larger" in text


def test_missing_value_is_a_failure_not_a_pass() -> None:
    failures = _failures(p50_delay_ms=None)
    assert len(failures) == 1 and failures[0].startswith("p50 delay:") and "missing" in failures[0]
    assert "goodput" in _failures(goodput_bps=None)[0]


def test_zero_sim_goodput_is_judged() -> None:
    assert _failures(goodput_bps=0.0) != []
    row = calibration_row(_run("sim", goodput_bps=0.0), _run("real", goodput_bps=1000.0))
    assert not row["goodput_bps_ok"] and math.isinf(row["goodput_bps_diff_pct"])


def test_failures_from_csv_row_match(tmp_path: Path) -> None:
    """calibration_failures works on a row read back from calibration.csv (NaN, numpy types)."""
    pairs = [(_run("sim"), _run("real", on_time_ratio=0.90)), (_run("sim", "other"), _run("real", "other"))]
    table = calibration_table(pairs)
    table.to_csv(tmp_path / "c.csv", index=False)
    back = pd.read_csv(tmp_path / "c.csv")
    for i in range(len(pairs)):
        assert calibration_failures(back.iloc[i]) == calibration_failures(table.iloc[i])
    assert len(calibration_failures(back.iloc[0])) == 1 and calibration_failures(back.iloc[1]) == []


def test_table_over_scenarios_with_different_links_has_no_spurious_failures() -> None:
    three = _run("sim", "three")
    three.metrics["links"] = {"x": {"share": 0.5}, "y": {"share": 0.3}, "z": {"share": 0.2}}
    real3 = StoredRun(three.path, {**three.meta, "backend": "real"}, copy.deepcopy(three.metrics))
    table = calibration_table([(_run("sim"), _run("real")), (three, real3)])
    assert pd.isna(table.loc[0, "share_x_sim"]) and pd.isna(table.loc[1, "share_a_sim"])
    assert [calibration_failures(table.iloc[i]) for i in range(2)] == [[], []]


# -- files, from stand-in runs ---------------------------------------------------------------------


def _relabel_as_real(src: Path, seed: int, dst_root: Path | None = None, **changes: Any) -> StoredRun:
    """Copy a sim run to real-<scheduler>-<seed>/ with backend "real" (a stand-in, not a real run)."""
    meta = json.loads((src / "run.json").read_text())
    dst = (dst_root or src.parent) / f"real-{meta['scheduler']}-{seed}"
    shutil.copytree(src, dst)
    meta.update(backend="real", seed=seed)
    (dst / "run.json").write_text(json.dumps(meta))
    metrics = json.loads((dst / "metrics.json").read_text())
    metrics["real"] = {"librist_buffer_ms": BUFFER_MS, "cpu_cores": 0.1}
    metrics.update(changes)
    (dst / "metrics.json").write_text(json.dumps(metrics))
    return load_run(dst)


@pytest.fixture(scope="module")
def sims(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    results = tmp_path_factory.mktemp("results")
    first, second = (
        simulate(SCENARIO, "dwrr", seed=s, overrides=["duration_s=8"], results=results).directory
        for s in (1, 2)
    )
    return first, second


@pytest.fixture(scope="module")
def stand_in_pair(sims: tuple[Path, Path]) -> Pair:
    sim_dir, other_dir = sims
    return load_run(sim_dir), _relabel_as_real(other_dir, 2)


@pytest.fixture(scope="module")
def files(stand_in_pair: Pair, tmp_path_factory: pytest.TempPathFactory) -> CalibrationFiles:
    out = tmp_path_factory.mktemp("calibration")
    return write_calibration([stand_in_pair], out, {"seed-asymmetric": APPROX})


def _metrics(run: StoredRun) -> dict[str, Any]:
    return json.loads((run.path / "metrics.json").read_text())


def test_csv_row_matches_metrics_json(files: CalibrationFiles, stand_in_pair: Pair) -> None:
    table = pd.read_csv(files.csv)
    assert len(table) == 1
    row = table.iloc[0]
    sim, real = (_metrics(run) for run in stand_in_pair)
    assert (row["scenario"], row["scheduler"], row["sim_seed"], row["real_seed"]) == (
        "seed-asymmetric",
        "dwrr",
        1,
        2,
    )
    for key in METRICS:
        assert row[f"{key}_sim"] == pytest.approx(sim[key])
        assert row[f"{key}_real"] == pytest.approx(real[key])
        assert row[f"{key}_rel_diff"] == pytest.approx(relative_difference(sim[key], real[key]), abs=1e-6)
    pp = {
        link: abs(real["links"][link]["share"] - sim["links"][link]["share"]) * 100 for link in sim["links"]
    }
    for link, value in pp.items():
        assert row[f"share_{link}_diff_pp"] == pytest.approx(value, abs=1e-4)
    assert row["link_share_diff_pp"] == pytest.approx(max(pp.values()), abs=1e-4)
    assert row["goodput_bps_diff_pct"] == pytest.approx(
        100 * abs(real["goodput_bps"] - sim["goodput_bps"]) / sim["goodput_bps"], abs=1e-3
    )
    assert row["on_time_ratio_diff_pp"] == pytest.approx(
        100 * abs(real["on_time_ratio"] - sim["on_time_ratio"]), abs=1e-3
    )
    failures = calibration_failures(row)
    assert bool(row["within_bounds"]) is (failures == [])
    assert row["known_approximations"] == "; ".join(APPROX)


def test_relabelled_copy_of_the_sim_run_is_within_bounds(sims: tuple[Path, Path], tmp_path: Path) -> None:
    sim = load_run(sims[0])
    real = _relabel_as_real(sims[0], 5, tmp_path)
    assert calibration_failures(calibration_row(sim, real)) == []
    worse = _relabel_as_real(sims[0], 6, tmp_path, goodput_bps=sim.metrics["goodput_bps"] * 0.85)
    row = pd.read_csv(write_calibration([(sim, worse)], tmp_path / "out").csv).iloc[0]
    assert not bool(row["goodput_bps_ok"]) and not bool(row["within_bounds"])
    assert row["goodput_bps_diff_pct"] == pytest.approx(15.0, abs=1e-3)
    assert [line.split(":")[0] for line in calibration_failures(row)] == ["goodput"]


def test_plots_are_pngs(files: CalibrationFiles) -> None:
    assert len(files.plots) == len(PLOT_KINDS)
    for path, kind in zip(files.plots, PLOT_KINDS, strict=True):
        assert path.name == f"seed-asymmetric-dwrr-sim1-real2-{kind}.png"
        assert path.read_bytes()[:8] == PNG_MAGIC
        assert path.stat().st_size > 10_000  # drawn, not an empty canvas


def test_markdown_shows_bounds_results_and_approximations(
    files: CalibrationFiles, stand_in_pair: Pair
) -> None:
    text = files.markdown.read_text()
    summary = [line for line in text.split("\n\n")[2].splitlines() if line.startswith("|")]
    assert len(summary) == 3  # header, rule, one pair
    assert "| seed-asymmetric | dwrr " in summary[2]
    for bound in BOUNDS:
        assert f"{bound.label} Δ" in summary[0]
        assert bound.describe() in text
    assert " 2 " in summary[2].split("|")[-2]  # two known approximations
    for note in APPROX:
        assert f"- {note}" in text
    row = calibration_row(*stand_in_pair)
    assert ("pass" if row["within_bounds"] else "FAIL") in summary[2]
    assert "within 20 % of sim or 15 ms, whichever is larger" in text
    assert f"{BUFFER_MS} ms" in text
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


def test_an_invalid_real_run_never_counts_as_agreement() -> None:
    """A real run marked `valid: false` (it measured the CPU): its row fails, first saying why,
    even where its numbers equal the sim's; the mean over seeds carries the verdict too."""
    assert _failures() == []
    row = calibration_row(_run("sim"), _run("real", valid=False, invalid_reason="12 frames late"))
    assert row["within_bounds"] is False
    assert calibration_failures(row) == ["real run not valid: 12 frames late"]
    mean = mean_over_seeds([calibration_row(_run("sim"), _run("real")), row])
    assert calibration_failures(mean) == ["real run not valid: seed 1: 12 frames late"]
