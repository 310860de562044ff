"""`bondlab.run/compare/sweep/tune/load_results`: DataFrames, and `import bondlab` stays cheap."""

import subprocess
import sys

import pandas as pd
import pytest
import yaml

import bondlab

from conftest import ROOT, SCENARIOS


def test_import_is_cheap_and_lazy():
    code = (
        "import sys, bondlab\n"
        "heavy = [m for m in ('dask', 'distributed', 'optuna', 'matplotlib', 'simpy') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "assert callable(bondlab.run) and callable(bondlab.tune) and callable(bondlab.sweep)\n"
        "assert 'optuna' not in sys.modules and 'dask' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_api_names_survive_importing_the_packages_behind_them():
    """`bondlab.tune`/`bondlab.sweep` stay functions after the tuner and sweep packages are imported."""
    import importlib

    import bondlab.tuner  # noqa: F401

    for name in ("bondlab.sweeps", "bondlab.sweep"):
        try:
            importlib.import_module(name)
        except ModuleNotFoundError:
            continue
    assert callable(bondlab.tune) and callable(bondlab.sweep)
    for name in ("run", "compare", "sweep", "tune", "load_results"):
        assert getattr(bondlab, name).__doc__


def test_run_is_one_row_of_scalar_metrics(tmp_path):
    df = bondlab.run(
        SCENARIOS / "rtt-spike.yaml", "dwrr", seed=3, duration_s=6, overrides=["bonding.alpha=0.2"]
    )
    assert len(df) == 1
    row = df.iloc[0]
    assert (row["scenario"], row["scheduler"], row["seed"]) == ("rtt-spike", "dwrr", 3)
    assert 0 <= row["decodable_ratio"] <= 1 and row["frames_total"] == 180
    assert row["goodput_mbps"] == pytest.approx(row["goodput_bps"] / 1e6)
    assert "links" not in df.columns
    ts = bondlab.run(SCENARIOS / "rtt-spike.yaml", duration_s=6, timeseries=True)
    assert {"t", "link", "scenario", "scheduler", "seed"} <= set(ts.columns) and ts["t"].max() <= 6


def test_compare_rows_per_scenario_scheduler_seed(tmp_path):
    files = [SCENARIOS / "rtt-spike.yaml", SCENARIOS / "burst-loss.yaml"]
    df = bondlab.compare(files, ["rr", "dwrr"], seeds=[1, 2], duration_s=4, results=tmp_path)
    assert len(df) == 8
    assert set(df.groupby(["scenario", "scheduler", "seed"]).size()) == {1}
    stored = bondlab.load_results(tmp_path)
    assert len(stored) == 8
    merged = stored.merge(df, on=["scenario", "scheduler", "seed"], suffixes=("", "_run"))
    assert (merged["decodable_ratio"] == merged["decodable_ratio_run"]).all()


def test_compare_takes_a_folder(tmp_path):
    for name in ("rtt-spike.yaml", "burst-loss.yaml"):
        (tmp_path / name).write_text((SCENARIOS / name).read_text())
    (tmp_path / "traces").symlink_to(SCENARIOS / "traces")
    df = bondlab.compare(tmp_path, ["dwrr"], duration_s=3)
    assert sorted(df["scenario"]) == ["burst-loss", "rtt-spike"]


def test_load_results_reads_one_run_and_refuses_nothing(tmp_path):
    one = bondlab.run(SCENARIOS / "rtt-spike.yaml", duration_s=3, results=tmp_path)
    df = bondlab.load_results(one.iloc[0]["path"])
    assert len(df) == 1 and df.iloc[0]["frames_total"] == one.iloc[0]["frames_total"]
    with pytest.raises(FileNotFoundError):
        bondlab.load_results(tmp_path / "nothing")


def test_tune_returns_the_summary_table(tmp_path):
    spec = {
        "train": ["rtt-spike.yaml"],
        "validate": ["burst-loss.yaml"],
        "trials": 2,
        "duration_s": 4,
        "space": {"bonding.headroom": {"low": 1.0, "high": 1.4}},
    }
    df = bondlab.tune(spec, workers=1, out=tmp_path / "t", progress=False, base_dir=SCENARIOS)
    assert isinstance(df, pd.DataFrame)
    assert {"rtt-spike", "burst-loss", "gap (train - validate)"} <= set(df["scenario"])
    assert set(df.attrs["best_params"]) == {"bonding.headroom"} and len(df.attrs["trials"]) == 2
    loaded = bondlab.load_results(tmp_path / "t")
    assert list(loaded["scenario"]) == list(df["scenario"])
    assert yaml.safe_load((tmp_path / "t" / "best.yaml").read_text()) == df.attrs["best_params"]


def test_sweep_delegates_to_the_sweep_runner(tmp_path, monkeypatch):
    import importlib

    try:
        module = importlib.import_module("bondlab.sweeps")
    except ModuleNotFoundError:
        module = importlib.import_module("bondlab.sweep")
    calls = []
    monkeypatch.setattr(module, "run_sweep", lambda spec, **kw: calls.append((spec, kw)) or pd.DataFrame())
    from bondlab.frames import sweep  # what bondlab.sweep is; its name is checked above

    out = sweep("spec.yaml", workers=2, out=tmp_path)
    assert isinstance(out, pd.DataFrame)
    assert calls == [("spec.yaml", {"workers": 2, "address": None, "out": tmp_path, "progress": True})]


def test_load_results_reads_a_sweep_out_folder_not_its_report(tmp_path):
    """`bondlab.load_results(<sweep --out>)`: the points, whatever else lies beside them."""
    import pandas as pd

    rows = pd.DataFrame({"scenario": ["a", "b"], "goodput_bps": [1.0, 2.0]})
    (tmp_path / "points").mkdir()
    rows.to_parquet(tmp_path / "points" / "part-0.parquet")
    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "report.md").write_text("# a sweep\n")
    (tmp_path / "report" / "best.parquet").write_bytes(b"not parquet")  # what broke it before
    (tmp_path / "sweep.json").write_text("{}")
    got = bondlab.load_results(tmp_path)
    assert sorted(got["goodput_bps"]) == [1.0, 2.0]
