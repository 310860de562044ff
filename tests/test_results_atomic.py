"""Results that survive: a run is a result only once complete, crashes leave no half runs, and two
writers of one run id leave one whole run (bondlab/results.py)."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bondlab
from bondlab import results as res
from bondlab.api import simulate
from bondlab.results import IncompleteRunError, find_runs, load_run
from bondlab.scenario import load_scenario

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "scenarios" / "seed-asymmetric.yaml"
SHORT = ["duration_s=3"]


def hidden(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.name.startswith("."))


def test_a_finished_run_is_complete_and_its_staging_is_gone(tmp_path: Path) -> None:
    out = simulate(SCENARIO, "dwrr", overrides=SHORT, results=tmp_path)
    assert out.directory == tmp_path / "seed-asymmetric" / "dwrr-1"
    names = {p.name for p in out.directory.iterdir()}
    assert {"run.json", "metrics.json", "timeseries.parquet", "messages.json", "run.log", res.MARKER} <= names
    marker = json.loads((out.directory / res.MARKER).read_text())
    assert marker["files"]["metrics.json"] == (out.directory / "metrics.json").stat().st_size
    assert hidden(out.directory.parent) == []
    assert not [p for p in out.directory.rglob("*") if p.name.endswith(".tmp")]
    assert [r.path for r in find_runs(tmp_path)] == [out.directory]


def test_a_run_that_fails_after_some_files_is_never_a_result(tmp_path: Path, monkeypatch) -> None:
    """The writer dies after two output files: the run is not listed, not loadable, not published,
    and the complete run that was there before is untouched."""
    first = simulate(SCENARIO, "dwrr", overrides=SHORT, results=tmp_path)
    before = json.loads((first.directory / "metrics.json").read_text())
    real_write = res.atomic_write
    calls = []

    def dying_write(path, write):  # type: ignore[no-untyped-def]
        calls.append(Path(path).name)
        if len(calls) > 2:
            raise OSError("disk gone (injected)")
        real_write(path, write)

    monkeypatch.setattr(res, "atomic_write", dying_write)
    with pytest.raises(OSError, match="injected"):
        simulate(SCENARIO, "dwrr", overrides=["duration_s=2"], results=tmp_path)
    monkeypatch.setattr(res, "atomic_write", real_write)
    assert json.loads((first.directory / "metrics.json").read_text()) == before  # old run kept whole
    [partial] = hidden(first.directory.parent)
    assert partial.name.startswith(".dwrr-1.partial-")
    assert not (partial / res.MARKER).exists()
    assert "injected" in json.loads((partial / res.INCOMPLETE).read_text())["reason"]
    with pytest.raises(IncompleteRunError, match="incomplete"):
        load_run(partial)
    assert [r.path for r in find_runs(tmp_path)] == [first.directory]
    assert list(bondlab.load_results(tmp_path).path) == [str(first.directory)]


def test_readers_refuse_or_skip_an_incomplete_run(tmp_path: Path, caplog) -> None:
    """A run directory without the marker (interrupted in place) is refused by load_run and skipped,
    with a note, by find_runs and bondlab.load_results; a complete run beside it is still read."""
    good = simulate(SCENARIO, "dwrr", overrides=SHORT, results=tmp_path).directory
    bad = good.parent / "rr-1"
    bad.mkdir()
    for name in ("run.json", "metrics.json", "timeseries.parquet"):
        (bad / name).write_bytes((good / name).read_bytes())  # everything but the marker
    with pytest.raises(IncompleteRunError, match="no complete.json"):
        load_run(bad)
    with caplog.at_level("WARNING", logger="bondlab.results"):
        assert [r.path for r in find_runs(tmp_path)] == [good]
        assert list(bondlab.load_results(tmp_path).path) == [str(good)]
    assert any("skipping" in r.message and "rr-1" in r.getMessage() for r in caplog.records)


def test_rewriting_run_json_in_place_withdraws_the_marker(tmp_path: Path) -> None:
    """Writers that work in place (tests, scripts) get the old rule: a run being rewritten is not
    complete until its outputs are written again."""
    sc = load_scenario(SCENARIO, SHORT)
    d = res.run_dir(tmp_path, sc, "dwrr", 1)
    res.write_run_json(d, sc, "dwrr", 1, "sim")
    res.write_outputs(d, {"x": 1}, pd.DataFrame({"t": [0.0]}), [])
    assert load_run(d).metrics == {"x": 1}
    res.write_run_json(d, sc, "dwrr", 1, "sim")
    with pytest.raises(IncompleteRunError):
        load_run(d)


def test_atomic_write_keeps_the_old_file_when_a_write_fails(tmp_path: Path) -> None:
    path = tmp_path / "metrics.json"
    path.write_text("old\n")

    def half(fh):  # type: ignore[no-untyped-def]
        fh.write(b"new, half")
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError):
        res.atomic_write(path, half)
    assert path.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]


def test_a_sigkilled_run_is_not_listed_and_its_staging_is_cleaned_later(tmp_path: Path) -> None:
    """kill -9 of a process while it simulates: no run appears; the next writer removes the dead
    writer's staging directory."""
    code = (
        "import sys; from bondlab.api import simulate; "
        f"simulate({str(SCENARIO)!r}, 'dwrr', overrides=['duration_s=600'], results=sys.argv[1])"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT)
    scen = tmp_path / "seed-asymmetric"
    deadline = time.monotonic() + 60
    while not list(scen.glob(".dwrr-1.partial-*/run.log")):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    [partial] = hidden(scen)
    assert (partial / "run.json").exists() and not (partial / res.MARKER).exists()
    assert find_runs(tmp_path) == []
    assert not (scen / "dwrr-1").exists()
    out = simulate(SCENARIO, "dwrr", overrides=SHORT, results=tmp_path)
    assert not partial.exists() and hidden(scen) == []
    assert [r.path for r in find_runs(tmp_path)] == [out.directory]


def _writer(results: str, token: str, start: float) -> None:
    """One writer of run id dwrr-1: every file carries its token; sleeps between files so that
    the writers' steps interleave."""
    rng = np.random.default_rng(abs(hash(token)) % 2**32)
    sc = load_scenario(SCENARIO, SHORT)
    final = res.run_dir(Path(results), sc, "dwrr", 1)
    while time.time() < start:
        time.sleep(0.001)
    staging = res.begin_run(final)
    res.write_run_json(staging, sc, "dwrr", 1, "sim", {"token": token})
    time.sleep(rng.uniform(0, 0.05))
    ts = pd.DataFrame({"t": np.arange(200) * 0.1, "token": [token] * 200})
    res.write_outputs(
        staging, {"token": token}, ts, [{"token": token}], np.full(100, len(token), np.float32), token=token
    )
    time.sleep(rng.uniform(0, 0.05))
    res.publish_run(staging, final)


def test_concurrent_writers_of_one_run_leave_one_whole_run(tmp_path: Path) -> None:
    """Eight processes write run dwrr-1 at the same moment, five rounds: afterwards one complete
    run, every file of it from the same writer, and nothing hidden left over."""
    ctx = multiprocessing.get_context("fork")
    for round_ in range(5):
        start = time.time() + 0.3
        tokens = [f"w{round_}-{i}-{'x' * i}" for i in range(8)]
        procs = [ctx.Process(target=_writer, args=(str(tmp_path), t, start)) for t in tokens]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
            assert p.exitcode == 0
        run = load_run(tmp_path / "seed-asymmetric" / "dwrr-1")
        token = run.metrics["token"]
        assert token in tokens
        assert run.meta["token"] == token
        assert set(run.timeseries().token) == {token}
        assert run.messages() == [{"token": token}]
        assert set(np.load(run.path / "delays_ms.npy")) == {len(token)}
        assert json.loads((run.path / res.MARKER).read_text())["token"] == token
        assert hidden(run.path.parent) == []
        assert [r.path for r in find_runs(tmp_path)] == [run.path]


def test_concurrent_simulations_of_one_run_id_leave_one_complete_run(tmp_path: Path) -> None:
    """The real entry point, twice at once in two processes: one complete run, no staging left."""
    code = (
        "import sys; from bondlab.api import simulate; "
        f"simulate({str(SCENARIO)!r}, 'dwrr', overrides=['duration_s=5'], results=sys.argv[1])"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT) for _ in range(2)]
    assert [p.wait(120) for p in procs] == [0, 0]
    [run] = find_runs(tmp_path)
    assert run.metrics["frames_total"] > 0 and os.path.getsize(run.path / "timeseries.parquet") > 0
    assert hidden(run.path.parent) == []


@pytest.mark.parametrize("name", [".", "..", ".hidden"])
def test_a_scenario_name_that_leaves_or_hides_its_folder_is_refused(tmp_path: Path, name: str) -> None:
    """`name: ..` once stored its run as RESULTS/../dwrr-7, outside the results directory."""
    from bondlab.cli.main import main
    from bondlab.frames import save_scenario

    scenario = load_scenario(SCENARIO, SHORT)
    path = save_scenario(scenario, tmp_path / "s.yaml")
    path.write_text(path.read_text().replace("name: seed-asymmetric", f"name: '{name}'"))
    results = tmp_path / "R" / "inner"
    assert main(["run", str(path), "--results", str(results), "-q"]) == 2
    assert not (tmp_path / "R").exists()
    scenario = scenario.model_copy(update={"name": name})  # past the model's check: run_dir's own
    with pytest.raises(ValueError, match="results directory"):
        res.run_dir(results, scenario, "dwrr", 1)


def test_a_failed_publish_keeps_the_previous_run(tmp_path: Path, monkeypatch) -> None:
    """The rename that swaps the new run in fails (not because another writer won): the previous
    run stays in place, whole."""
    first = simulate(SCENARIO, "dwrr", overrides=SHORT, results=tmp_path).directory
    before = (first / "metrics.json").read_text()
    staging = res.begin_run(first)
    (staging / res.MARKER).write_text("{}")
    real_rename = os.rename

    def failing(src, dst):
        if Path(src) == staging:
            raise OSError(5, "Input/output error")
        return real_rename(src, dst)

    monkeypatch.setattr(res.os, "rename", failing)
    with pytest.raises(OSError, match="Input/output"):
        res.publish_run(staging, first)
    monkeypatch.undo()
    assert load_run(first).metrics == json.loads(before)
    assert [p for p in hidden(first.parent) if ".old-" in p.name] == []


def test_publishing_never_replaces_a_folder_that_is_not_a_run(tmp_path: Path) -> None:
    target = tmp_path / "seed-asymmetric" / "dwrr-1"
    target.mkdir(parents=True)
    (target / "notes.txt").write_text("mine")
    staging = res.begin_run(target)
    (staging / res.MARKER).write_text("{}")
    with pytest.raises(FileExistsError, match="not a run folder"):
        res.publish_run(staging, target)
    assert (target / "notes.txt").read_text() == "mine"


def _publisher(results: str, stop_at: float) -> None:
    """Publishes run dwrr-1 again and again, a new token in every file each time."""
    i = 0
    while time.time() < stop_at:
        _writer(results, f"p{os.getpid()}-{i}", 0.0)
        i += 1


def test_a_reader_never_mixes_two_runs_while_writers_publish(tmp_path: Path) -> None:
    """Two processes keep publishing run dwrr-1 while this one reads it: every read is one run's
    files (metadata, metrics, time series, messages from the same writer) or a one-line refusal
    (between two renames, or replaced since loaded), never a mix."""
    _writer(str(tmp_path), "first", 0.0)
    final = tmp_path / "seed-asymmetric" / "dwrr-1"
    ctx = multiprocessing.get_context("fork")
    stop_at = time.time() + 4.0
    procs = [ctx.Process(target=_publisher, args=(str(tmp_path), stop_at)) for _ in range(2)]
    for p in procs:
        p.start()
    whole = refused = 0
    tokens = set()
    while time.time() < stop_at:
        try:
            run = load_run(final)
            token = run.metrics["token"]
            assert run.meta["token"] == token
            assert set(run.timeseries().token) == {token}
            assert run.messages() == [{"token": token}]
        except IncompleteRunError as exc:
            assert "\n" not in str(exc)
            refused += 1
            continue
        whole += 1
        tokens.add(token)
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    print(f"\nreads while publishing: {whole} whole runs ({len(tokens)} writers), {refused} refused")
    assert whole > 10 and len(tokens) > 1
