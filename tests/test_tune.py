"""The tuner: specs fail in one line, validation scenarios stay out of the search, studies resume."""

from pathlib import Path

import pandas as pd
import pytest
import yaml

import bondlab.tuner.search as search_mod
from bondlab.cli.main import main
from bondlab.tuner import TuneSpecError, load_tune_spec, tune
from bondlab.tuner.points import Point, run_point, scalar_metrics, score

from conftest import SCENARIOS

TRAIN = ["three-link-degrade.yaml", "rtt-spike.yaml"]
VALIDATE = ["cellular-traces.yaml"]


def write_spec(tmp_path: Path, **changes) -> Path:
    spec = {
        "train": [str(SCENARIOS / n) for n in TRAIN],
        "validate": [str(SCENARIOS / n) for n in VALIDATE],
        "seeds": [1],
        "trials": 2,
        "duration_s": 6,
        "space": {
            "bonding.alpha": {"low": 0.02, "high": 0.5, "log": True},
            "bonding.headroom": {"low": 1.0, "high": 1.5},
        },
    }
    spec.update(changes)
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"trails": 3}, "trails: unknown field"),
        ({"train": []}, "train: List should have at least 1 item"),
        (
            {"space": {"bonding.alpha": {"low": 0.5, "high": 0.1}}},
            "space.bonding.alpha: Value error, low (0.5)",
        ),
        ({"space": {"bonding.alfa": {"low": 0.1, "high": 0.2}}}, "space.bonding.alfa: "),
        ({"space": {"bonding.alpha": {"low": 0.1, "high": 2.0}}}, "space.bonding.alpha: "),
        (
            {"space": {"links.nope.loss": {"low": 0, "high": 0.1}}},
            "space.links.nope.loss: scenario three-link-degrade",
        ),
        ({"objective": {"decodable": 1.0}}, "objective: Value error, unknown metric 'decodable'"),
        ({"scheduler": "fifo"}, "scheduler: Value error, unknown scheduler 'fifo'"),
        (
            {"validate": [str(SCENARIOS / "rtt-spike.yaml")]},
            "validate[0]: scenario rtt-spike is also a train",
        ),
        ({"train": ["missing.yaml"]}, "train[0]: "),
    ],
)
def test_bad_spec_is_one_line_naming_file_and_field(tmp_path, capsys, changes, expected):
    path = write_spec(tmp_path, **changes)
    with pytest.raises(TuneSpecError) as info:
        load_tune_spec(path)
    message = str(info.value).replace("Value error, ", "")
    assert message.startswith(f"{path}: ")
    assert expected.replace("Value error, ", "") in message
    assert "\n" not in message
    assert main(["tune", str(path), "--out", str(tmp_path / "out"), "-q"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_space_values_are_typed_by_the_scenario_field(tmp_path):
    spec = load_tune_spec(write_spec(tmp_path, space={"bonding.quantum_bytes": {"low": 500, "high": 3000}}))
    dist = search_mod.distributions(spec.model.space, spec.train[0])["bonding.quantum_bytes"]
    assert type(dist).__name__ == "IntDistribution"
    assert spec.defaults(spec.train[0]) == {"bonding.quantum_bytes": 1500}


def test_objective_weights_each_metric():
    metrics = scalar_metrics({"decodable_ratio": 0.9, "goodput_bps": 5e6, "p95_delay_ms": 200, "links": {}})
    assert score(metrics, {"decodable_ratio": 1.0}) == pytest.approx(0.9)
    assert score(metrics, {"decodable_ratio": 1.0, "goodput_mbps": 0.1}) == pytest.approx(1.4)
    assert score(metrics, {"p95_delay_ms": -0.001}) == pytest.approx(-0.2)
    with pytest.raises(ValueError, match="on_time_ratio"):
        score(metrics, {"on_time_ratio": 1.0})


def test_trial_value_is_the_weighted_train_score(tmp_path):
    """The value the sampler is told is the spec's weighted score, recomputed here from the same runs."""
    weights = {"decodable_ratio": 1.0, "goodput_mbps": 0.1}
    path = write_spec(tmp_path, train=[str(SCENARIOS / TRAIN[0])], trials=1, objective=weights)
    result = tune(path, workers=1, out=tmp_path / "out", progress=False)
    spec = load_tune_spec(path)
    trial = result.trials.iloc[0]
    params = {k: trial[k] for k in spec.model.space}
    metrics = run_point(Point(spec.train[0], "dwrr", 1, params))
    assert trial["value"] == pytest.approx(score(metrics, weights))
    assert metrics["goodput_mbps"] > 1  # the goodput term really moved the value


def test_validation_scenarios_never_reach_the_search(tmp_path, monkeypatch):
    """A spy on every simulated point: validation scenarios appear only after the search returned."""
    seen: list[tuple[str, bool]] = []
    state = {"search_done": False}
    real_search = search_mod.search

    def spy_point(point):
        seen.append((point.scenario.name, state["search_done"]))
        return run_point(point)

    def spied_search(*args, **kwargs):
        real_search(*args, **kwargs)
        state["search_done"] = True

    monkeypatch.setattr(search_mod, "run_point", spy_point)
    monkeypatch.setattr("bondlab.tuner.report.run_point", spy_point)
    monkeypatch.setattr(search_mod, "search", spied_search)
    tune(write_spec(tmp_path, trials=3), workers=1, out=tmp_path / "out", progress=False)
    during = {name for name, done in seen if not done}
    after = {name for name, done in seen if done}
    assert during == {"three-link-degrade", "rtt-spike"}
    assert "cellular-traces" in after  # the spy does see validation runs, once the search is over


def test_rerun_continues_the_stored_study(tmp_path):
    out = tmp_path / "out"
    path = write_spec(tmp_path)
    first = tune(path, trials=2, workers=1, out=out, progress=False)
    assert len(first.trials) == 2
    second = tune(path, trials=4, workers=1, out=out, progress=False)
    assert list(second.trials["trial"]) == [0, 1, 2, 3]
    assert second.trials.iloc[:2]["value"].tolist() == first.trials["value"].tolist()
    again = tune(path, trials=4, workers=1, out=out, progress=False)
    assert len(again.trials) == 4  # reaching the total again runs nothing new
    assert (first.ran, second.ran, again.ran) == (2, 2, 0)
    assert "4 trials (none run now" in again.text and "4 trials (2 run now)" in second.text
    other = write_spec(tmp_path, seeds=[1, 2])
    with pytest.raises(TuneSpecError, match="different search"):
        tune(other, trials=4, workers=1, out=out, progress=False)


def test_tune_end_to_end_writes_report(tmp_path, capsys):
    out = tmp_path / "out"
    assert (
        main(["tune", str(write_spec(tmp_path)), "--trials", "3", "--workers", "1", "--out", str(out), "-q"])
        == 0
    )
    printed = capsys.readouterr().out
    assert "gap (train - validate)" in printed and "cellular-traces" in printed
    for name in ("study.db", "summary.md", "summary.csv", "runs.csv", "trials.csv", "best.yaml"):
        assert (out / name).is_file(), name
    best = yaml.safe_load((out / "best.yaml").read_text())
    assert set(best) == {"bonding.alpha", "bonding.headroom"}
    assert 0.02 <= best["bonding.alpha"] <= 0.5
    import pandas as pd

    summary = pd.read_csv(out / "summary.csv")
    assert set(summary["scenario"]) >= {"three-link-degrade", "rtt-spike", "cellular-traces"}
    assert set(summary.columns) >= {"defaults", "tuned", "change"}
    main(
        ["run", str(SCENARIOS / TRAIN[0]), "--results", str(tmp_path / "r"), "-q"]
        + [f"--set={k}={v}" for k, v in best.items()]
    )


def test_trials_left_running_by_a_killed_run_do_not_count(tmp_path):
    """A trial asked but never told (the process was killed) is closed as failed and run again."""
    out = tmp_path / "out"
    path = write_spec(tmp_path, trials=1)
    tune(path, workers=1, out=out, progress=False)
    spec = load_tune_spec(path)
    study = search_mod.open_study(spec, out / "study.db")
    study.ask(search_mod.distributions(spec.model.space, spec.train[0]))  # then "killed"
    result = tune(path, trials=2, workers=1, out=out, progress=False)
    assert list(result.trials["state"]) == ["COMPLETE", "FAIL", "COMPLETE"]
    assert search_mod.done_trials(search_mod.open_study(spec, out / "study.db")) == 2


def test_bad_yaml_and_duplicate_keys_are_one_line(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text("train: [a.yaml]\ntrain: [b.yaml]\n")
    with pytest.raises(TuneSpecError, match=r"spec.yaml: invalid YAML at line 2: duplicate key 'train'"):
        load_tune_spec(path)
    path.write_text("train: [a.yaml\n")
    with pytest.raises(TuneSpecError, match=r"spec.yaml: invalid YAML at line"):
        load_tune_spec(path)


def test_failing_runs_fail_their_trial_with_the_error(tmp_path, monkeypatch):
    def broken(point):
        raise RuntimeError("simulator exploded")

    monkeypatch.setattr(search_mod, "run_point", broken)
    out = tmp_path / "out"
    with pytest.raises(TuneSpecError, match="no trial completed"):
        tune(write_spec(tmp_path), workers=1, out=out, progress=False)
    import pandas as pd

    trials = pd.read_csv(out / "trials.csv")
    assert list(trials["state"]) == ["FAIL", "FAIL"]
    assert trials["error"].str.contains("RuntimeError: simulator exploded").all()


def test_bare_scenario_names_resolve_as_the_readme_spec_writes_them(tmp_path):
    """`train: [three-link-degrade]` in a spec at <project>/tuning/ means ../scenarios/<name>.yaml;
    a file of that name beside the spec comes first; a missing one is still one line."""
    project = tmp_path / "project"
    (project / "tuning").mkdir(parents=True)
    (project / "scenarios").mkdir()
    for name in ("three-link-degrade", "rtt-spike", "cellular-traces"):
        (project / "scenarios" / f"{name}.yaml").write_text((SCENARIOS / f"{name}.yaml").read_text())
    (project / "scenarios" / "traces").symlink_to(SCENARIOS / "traces")
    spec = write_spec(
        project / "tuning", train=["three-link-degrade", "rtt-spike"], validate=["cellular-traces"]
    )
    loaded = load_tune_spec(spec)
    assert [s.name for s in loaded.train] == ["three-link-degrade", "rtt-spike"]
    assert loaded.validate[0].name == "cellular-traces"
    with pytest.raises(TuneSpecError, match=r"train\[1\]: .*nope\.yaml"):
        load_tune_spec(write_spec(project / "tuning", train=["three-link-degrade", "nope"]))


def test_the_defaults_are_the_first_trial_so_best_never_scores_below_them(tmp_path, capsys):
    """With two trials TPE's random start may find nothing better than the scenario's own values;
    those are trial 0, so the best is at least as good on train, and a rerun says nothing ran."""
    out = tmp_path / "out"
    path = write_spec(tmp_path)
    args = ["tune", str(path), "--trials", "2", "--workers", "1", "--out", str(out), "-q"]
    assert main(args) == 0
    trials = pd.read_csv(out / "trials.csv")
    first = trials.iloc[0]
    sc = load_tune_spec(path).train[0]
    assert (first["bonding.alpha"], first["bonding.headroom"]) == (sc.bonding.alpha, sc.bonding.headroom)
    summary = pd.read_csv(out / "summary.csv").set_index("scenario")
    assert summary.loc["mean (train)", "tuned"] >= summary.loc["mean (train)", "defaults"] - 1e-3
    capsys.readouterr()
    assert main(args) == 0
    assert "note: nothing ran:" in capsys.readouterr().err
