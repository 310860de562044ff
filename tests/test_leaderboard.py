"""The leaderboard (`bondlab compare --schedulers all --rate-controllers ...`): names expand,
the plan runs the oracle once, rows rank by decodable then goodput, the oracle ratio appears
when the oracle ran, and the figure is written."""

import json
from pathlib import Path

import pandas as pd
import pytest

from bondlab.cli.main import main
from bondlab.core.rate_controllers import RATE_CONTROLLERS
from bondlab.leaderboard import expand_rate_controllers, expand_schedulers, plan
from bondlab.report.leaderboard import (
    leaderboard_rows,
    leaderboard_table,
    markdown_leaderboard,
    rate_controller_of,
    write_leaderboard,
)
from bondlab.results import StoredRun
from bondlab.scenario import load_scenario
from bondlab.schedulers import scheduler_names

from conftest import SCENARIOS


def stored(tmp_path, scheduler, decodable, goodput, scenario="s", seed=1, rc="headroom"):
    meta = {
        "scenario_name": scenario,
        "scheduler": scheduler,
        "seed": seed,
        "backend": "sim",
        "scenario": {"bonding": {"rate_control": True, "rate_controller": rc}},
    }
    metrics = {
        "decodable_ratio": decodable,
        "goodput_bps": goodput,
        "on_time_ratio": 1.0,
        "p95_delay_ms": 100.0 + goodput / 1e5,
        "overhead_bytes": 0,
    }
    return StoredRun(tmp_path / f"{scheduler}-{rc}-{seed}", meta, metrics)


def test_all_expands_to_every_sim_scheduler_oracle_included():
    """`all` is the registry's sim schedulers in registry order, each once; real-only ones are out."""
    names = expand_schedulers("all")
    assert names == scheduler_names("sim")
    assert "oracle" in names and "rist-weighted" not in names
    assert expand_schedulers("dwrr, all") == ["dwrr", *[n for n in names if n != "dwrr"]]
    with pytest.raises(ValueError, match="fifo"):
        expand_schedulers("dwrr,fifo")


def test_rate_controllers_expand_and_the_oracle_runs_once():
    """Each scheduler runs with each rate controller; the oracle (its own rule) and the single-link
    bound once per scenario and seed."""
    assert expand_rate_controllers(None) == [None]
    assert expand_rate_controllers("ladder,headroom") == ["ladder", "headroom"]
    assert expand_rate_controllers("all") == list(RATE_CONTROLLERS)
    with pytest.raises(ValueError, match="bbr"):
        expand_rate_controllers("bbr")
    sc = load_scenario(SCENARIOS / "seed-asymmetric.yaml")
    jobs = plan([sc], ["dwrr", "minrtt", "oracle"], ["headroom", "ladder"], [1, 2])
    combos = [(j.scheduler, j.rate_controller, j.seed) for j in jobs]
    assert len(combos) == len(set(combos)) == 2 * (2 * 2 + 2)
    assert {(s, rc) for s, rc, _ in combos} == {
        ("dwrr", "headroom"),
        ("dwrr", "ladder"),
        ("minrtt", "headroom"),
        ("minrtt", "ladder"),
        ("oracle", None),
        ("single-link", None),
    }
    assert not [j for j in plan([sc], ["dwrr"], [None], [None]) if j.scheduler != "dwrr"]


def test_ranked_by_decodable_then_goodput(tmp_path):
    """More decodable frames win; equal decodable, more goodput wins."""
    runs = [
        stored(tmp_path, "rr", 0.50, 9e6),
        stored(tmp_path, "dwrr", 0.90, 5e6),
        stored(tmp_path, "minrtt", 0.90, 6e6),
        stored(tmp_path, "edpf", 0.95, 1e6),
    ]
    table = leaderboard_table(leaderboard_rows(runs))
    assert list(table["scheduler"]) == ["edpf", "minrtt", "dwrr", "rr"]
    assert list(table["rank"]) == [1, 2, 3, 4]


def test_rate_controller_is_read_from_the_run():
    """A run's rate controller is its scenario's, `none` when rate control is off, the oracle's own."""
    run = StoredRun(
        None,
        {"scheduler": "dwrr", "scenario": {"bonding": {"rate_control": False, "rate_controller": "aimd"}}},
        {},
    )
    assert rate_controller_of(run) == "none"
    assert rate_controller_of(StoredRun(None, {"scheduler": "oracle", "scenario": {}}, {})) == "oracle"


def test_oracle_ratio_only_when_the_oracle_ran(tmp_path):
    """Goodput / the oracle's on the same scenario and seed; no column in the Markdown without it."""
    runs = [stored(tmp_path, "dwrr", 0.9, 4e6, seed=s) for s in (1, 2)]
    without = leaderboard_rows(runs)
    assert without["oracle_goodput_ratio"].isna().all()
    assert "of oracle goodput" not in markdown_leaderboard(without, {}, None)
    runs += [
        stored(tmp_path, "oracle", 1.0, 8e6, seed=1, rc="x"),
        stored(tmp_path, "oracle", 1.0, 5e6, seed=2),
    ]
    rows = leaderboard_rows(runs).set_index(["scheduler", "seed"])
    assert rows.loc[("dwrr", 1), "oracle_goodput_ratio"] == pytest.approx(0.5)
    assert rows.loc[("dwrr", 2), "oracle_goodput_ratio"] == pytest.approx(0.8)
    assert rows.loc[("oracle", 1), "oracle_goodput_ratio"] == pytest.approx(1.0)
    assert "of oracle goodput" in markdown_leaderboard(leaderboard_rows(runs), {}, None)


def test_figure_and_tables_are_written(tmp_path):
    """write_leaderboard writes the CSV, the Markdown and a PNG of delay against goodput."""
    runs = [
        stored(tmp_path, name, 0.9, g, scenario=sc, rc=rc)
        for sc in ("a", "b")
        for name, g in (("dwrr", 5e6), ("edpf", 4e6))
        for rc in ("headroom", "ladder")
    ]
    runs.append(stored(tmp_path, "single-link", 1.0, 6e6, scenario="a"))
    csv, md, png = write_leaderboard(runs, tmp_path / "out")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    table = pd.read_csv(csv)
    assert len(table) == 8 and set(table["rate_controller"]) == {"headroom", "ladder"}
    assert "single-link" not in set(table["scheduler"])
    assert table.loc[table.scenario == "a", "single_link_goodput_ratio"].notna().all()
    assert "![p95 delay against goodput](leaderboard.png)" in md.read_text()
    # summary.md, the README's block: the overall table alone, what it is over first.
    summary = (md.parent / "summary.md").read_text()
    assert summary.startswith("8 runs: a, b; seed 1. ")
    overall = md.read_text().split("\n\n")[2]  # title, intro, then the overall table
    assert overall in summary and "## a" not in summary


def test_compare_cli_writes_the_leaderboard(tmp_path, capsys):
    """End to end: --schedulers all and two rate controllers; the oracle's ratio is in the CSV."""
    out = tmp_path / "board"
    rc = main(
        [
            "compare",
            str(SCENARIOS / "seed-asymmetric.yaml"),
            "--schedulers",
            "all",
            "--rate-controllers",
            "headroom,ladder",
            "--set",
            "duration_s=3",
            "--results",
            str(tmp_path / "results"),
            "--out",
            str(out),
            "-q",
        ]
    )
    assert rc == 0
    table = pd.read_csv(out / "leaderboard.csv")
    others = [n for n in scheduler_names("sim") if n != "oracle"]
    assert len(table) == 2 * len(others) + 1
    assert table["oracle_goodput_ratio"].notna().all()
    assert (out / "leaderboard.png").exists() and (out / "headroom" / "comparison.md").exists()
    meta = json.loads(
        (
            tmp_path / "results" / "rate-controllers" / "ladder" / "seed-asymmetric" / "dwrr-1" / "run.json"
        ).read_text()
    )
    assert meta["scenario"]["bonding"]["rate_controller"] == "ladder"
    bound = tmp_path / "results" / "seed-asymmetric" / "single-link-1"  # replayable: its trace beside it
    meta = json.loads((bound / "run.json").read_text())
    assert Path(meta["scenario"]["base_dir"]) == bound
    assert (bound / meta["scenario"]["links"][0]["trace"]).is_file()
    assert main(["compare", str(SCENARIOS / "seed-asymmetric.yaml"), "--rate-controllers", "bbr"]) == 2
    assert "bbr" in capsys.readouterr().err


def test_leaderboard_only_writes_no_comparison_or_plots(tmp_path):
    out = tmp_path / "only"
    argv = ["compare", str(SCENARIOS / "seed-asymmetric.yaml"), "--schedulers", "dwrr,oracle"]
    argv += ["--set", "duration_s=3", "--results", str(tmp_path / "r"), "--out", str(out), "-q"]
    assert main([*argv, "--leaderboard-only"]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "leaderboard.csv",
        "leaderboard.md",
        "leaderboard.png",
        "summary.md",
    ]


def test_figure_marks_each_scheduler_in_its_registry_colour(tmp_path, monkeypatch):
    """One marker per scheduler x rate controller: colour from the registry, shape by controller."""
    from matplotlib.axes import Axes

    from bondlab.report.leaderboard import RC_MARKERS, plot_leaderboard
    from bondlab.schedulers import SCHEDULERS

    drawn = []
    real = Axes.scatter

    def spy(self, x, y, **kw):
        drawn.append((kw["color"], kw["marker"]))
        return real(self, x, y, **kw)

    monkeypatch.setattr(Axes, "scatter", spy)
    runs = [
        stored(tmp_path, name, 0.9, 4e6, rc=rc) for name in ("dwrr", "srtla") for rc in ("headroom", "aimd")
    ] + [stored(tmp_path, "oracle", 1.0, 8e6)]
    plot_leaderboard(leaderboard_rows(runs), {}, tmp_path / "f.png")
    expected = {
        (SCHEDULERS[n].color, RC_MARKERS[rc]) for n in ("dwrr", "srtla") for rc in ("headroom", "aimd")
    }
    assert set(drawn) == expected | {(SCHEDULERS["oracle"].color, RC_MARKERS["oracle"])}
    assert len(drawn) == 5
