"""`bondlab calibrate`'s inputs: folders, seeds, and scenarios the real backend cannot express."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import pytest

from bondlab.cli.common import seed_list
from bondlab.real.api import RealSetupError
from bondlab.real.cli import _calibration_scenarios

from conftest import SCENARIOS

TOO_SLOW = """\
duration_s: 10
links:
  - {name: a, capacity_bps: 5000000, delay_ms: 40}
  - {name: b, capacity_bps: 4, delay_ms: 40}
"""


def test_a_folder_stands_for_its_scenarios_and_leaves_out_what_real_cannot_express(tmp_path: Path) -> None:
    shutil.copy(SCENARIOS / "black-hole.yaml", tmp_path / "black-hole.yaml")
    (tmp_path / "too-slow.yaml").write_text(TOO_SLOW)
    chosen, skipped = _calibration_scenarios([str(tmp_path)], [], ["dwrr"])
    assert [sc.name for sc in chosen] == ["black-hole"]
    assert len(skipped) == 1
    assert skipped[0].startswith(f"{tmp_path / 'too-slow.yaml'}: ") and "links[1].capacity_bps" in skipped[0]


def test_a_file_named_on_its_own_that_real_cannot_express_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "too-slow.yaml").write_text(TOO_SLOW)
    with pytest.raises(RealSetupError, match="cannot express"):
        _calibration_scenarios([str(tmp_path / "too-slow.yaml")], [], ["dwrr"])


def test_seeds_are_integers_and_ranges() -> None:
    assert seed_list("1,2,3") == [1, 2, 3]
    assert seed_list("1-4,7,3") == [1, 2, 3, 4, 7]
    for bad in ("1,,2", ",", "x", "5-2", "1-"):
        with pytest.raises(argparse.ArgumentTypeError):
            seed_list(bad)


def test_report_only_reports_the_stored_pairs_lists_the_missing_and_runs_nothing(
    tmp_path: Path, capsys
) -> None:
    import json

    from bondlab.api import simulate
    from bondlab.cli.main import main

    scenario = tmp_path / "short.yaml"
    scenario.write_text(
        (SCENARIOS / "seed-asymmetric.yaml").read_text().replace("duration_s: 60", "duration_s: 6")
    )
    results, out = tmp_path / "results", tmp_path / "report"
    args = [
        "calibrate",
        str(scenario),
        "--seeds",
        "4,5",
        "--results",
        str(results),
        "--out",
        str(out),
        "--report-only",
    ]
    assert main(args) == 2  # nothing stored yet: no run, an error line
    assert "no stored (sim, real) pair to report" in capsys.readouterr().err
    sim = simulate(scenario, "dwrr", 4, results=results).directory
    real = sim.parent / "real-dwrr-4"  # a stand-in: the sim run relabelled
    shutil.copytree(sim, real)
    meta = json.loads((real / "run.json").read_text())
    (real / "run.json").write_text(json.dumps({**meta, "backend": "real"}))
    metrics = json.loads((real / "metrics.json").read_text())
    metrics["real"] = {"librist_buffer_ms": 750, "cpu_cores": 0.1}
    (real / "metrics.json").write_text(json.dumps(metrics))
    assert main(args) == 0  # seed 5 was never stored (a batch cut short): left out, said so
    summary = (out / "summary.md").read_text()
    assert f"`bondlab calibrate {scenario} --seeds 4,5`" in summary and "**1 of 1** pairs" in summary
    assert "Left out" in summary and "short/dwrr-5: no complete run stored there" in summary
