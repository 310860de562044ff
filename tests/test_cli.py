"""The command line: run writes a traceable result, --json prints the metrics, bench measures."""

import json
import subprocess
import sys

import pandas as pd
import pytest

from bondlab.cli.main import main
from bondlab.core.metrics import METRIC_KEYS

from conftest import ROOT, SCENARIOS


def test_run_writes_run_json_metrics_and_timeseries(tmp_path, capsys):
    """`bondlab run --json` stores run.json, metrics.json, timeseries.parquet and prints the same metrics."""
    rc = main(
        [
            "run",
            str(SCENARIOS / "seed-asymmetric.yaml"),
            "--scheduler",
            "dwrr",
            "--seed",
            "3",
            "--set",
            "duration_s=8",
            "--results",
            str(tmp_path),
            "--json",
        ]
    )
    assert rc == 0
    printed = json.loads(capsys.readouterr().out)
    run = tmp_path / "seed-asymmetric" / "dwrr-3"
    stored = json.loads((run / "metrics.json").read_text())
    assert printed == stored
    assert set(METRIC_KEYS) <= set(stored)
    meta = json.loads((run / "run.json").read_text())
    assert meta["seed"] == 3 and meta["scheduler"] == "dwrr" and meta["scenario"]["duration_s"] == 8
    assert meta["git_revision"] and meta["bondlab_version"]
    ts = pd.read_parquet(run / "timeseries.parquet")
    cols = {
        "t",
        "link",
        "capacity_bps",
        "est_capacity_bps",
        "health",
        "weight",
        "credits_bytes",
        "queue_bytes",
        "bitrate_bps",
    }
    assert cols <= set(ts.columns)
    assert set(ts.link) == {"lte-a", "lte-b"} and ts.t.max() == pytest.approx(8.0)


def test_run_log_records_bitrate_adjustments(tmp_path):
    """Each run's run.log holds the 'Adjusting bitrate' lines of that run."""
    main(["run", str(SCENARIOS / "three-link-degrade.yaml"), "--results", str(tmp_path), "-q"])
    log = (tmp_path / "three-link-degrade" / "dwrr-2" / "run.log").read_text()
    assert "Adjusting bitrate" in log and "congestion-control" in log


def test_unknown_scheduler_is_one_line_error(tmp_path):
    """An unknown scheduler exits 2 with one line naming the option."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bondlab",
            "run",
            str(SCENARIOS / "seed-asymmetric.yaml"),
            "--scheduler",
            "fifo",
            "--results",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "unknown scheduler 'fifo'" in lines[0]
    assert not (tmp_path / "seed-asymmetric").exists()


def test_help_explains_commands():
    """--help lists every command with a description."""
    proc = subprocess.run(
        [sys.executable, "-m", "bondlab", "--help"], capture_output=True, text=True, cwd=ROOT
    )
    assert proc.returncode == 0
    for cmd in ("run", "compare", "validate", "bench"):
        assert cmd in proc.stdout


@pytest.mark.benchmark
def test_bench_reports_side_by_side_measurements(capsys):
    """bench --json prints the measured rates and ratios, and whether its goals were met: the exit
    status says the same (the goals themselves are printed, not asserted: the machine is shared)."""
    status = main(["bench", "--json", "--quick"])
    out = json.loads(capsys.readouterr().out)
    assert status == (0 if out["goals_met"] else 1)
    with capsys.disabled():
        print("\nbench:", json.dumps(out))
    assert out["sim_packets_per_s"] > 0 and out["simpy_timeouts_per_s"] > 0
    assert out["ratio"] == pytest.approx(out["sim_packets_per_s"] / out["simpy_timeouts_per_s"], rel=0.5)
    assert out["dwrr_decision_ns"] < 10_000


def test_bench_judges_each_goal_it_states() -> None:
    from bondlab.bench import judge_goals

    result = {
        "ratio": 0.228,
        "ratio_goal": ">= 0.25",
        "dwrr_over_rr_decision_cost": 1.5,
        "dwrr_over_rr_goal": "<= 2.0 (and DWRR under 10 us)",
        "dwrr_decision_ns": 180.0,
    }
    got = {c.name: c.met for c in judge_goals(result)}
    assert got == {"ratio": False, "dwrr_over_rr_decision_cost": True, "dwrr_decision_ns": True}
    assert "NOT MET" in next(c.text() for c in judge_goals(result) if c.name == "ratio")
    assert all(c.met for c in judge_goals({**result, "ratio": 0.26}))
