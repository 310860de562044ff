"""`bondlab compare` as users meet it (issue 16 item 4): folders, a readable terminal, stored runs reused."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

import bondlab.results
import bondlab.reuse
from bondlab.api import simulate
from bondlab.cli.main import main
from bondlab.reuse import reusable
from bondlab.scenario import load_scenario

from conftest import SCENARIOS


@pytest.fixture
def clean_revision(monkeypatch):
    """Reuse needs a clean checkout; the suite may run in one being edited."""
    monkeypatch.setattr(bondlab.results, "git_revision", lambda: "abc1234")
    monkeypatch.setattr(bondlab.reuse, "_running_revision", lambda: "abc1234")


def folder(tmp_path: Path) -> Path:
    d = tmp_path / "scenarios"
    d.mkdir()
    text = (SCENARIOS / "seed-asymmetric.yaml").read_text().replace("duration_s: 60", "duration_s: 3")
    for name in ("one", "two"):
        (d / f"{name}.yaml").write_text(text)
    return d


def compare(tmp_path: Path, *extra: str) -> list[str]:
    args = [
        "compare",
        str(folder(tmp_path) if not (tmp_path / "scenarios").exists() else tmp_path / "scenarios"),
    ]
    return args + ["--workers", "1", "--results", str(tmp_path / "r"), "--out", str(tmp_path / "out"), *extra]


def test_a_folder_compares_its_scenarios_and_the_terminal_gets_tables_not_image_links(tmp_path, capsys):
    assert main(compare(tmp_path, "-q")) == 0
    out = capsys.readouterr().out
    assert "| one" in out or "one" in out.split("scenario")[-1]
    assert "two" in out and "![" not in out and "|" in out  # -q keeps the table
    assert "![" in (tmp_path / "out" / "comparison.md").read_text()  # the file keeps the figures


def test_a_second_compare_reuses_every_stored_run(tmp_path, capsys, clean_revision):
    assert main(compare(tmp_path, "-q")) == 0
    capsys.readouterr()
    markers = sorted((tmp_path / "r").glob("*/*/complete.json"))
    before = [m.stat().st_mtime_ns for m in markers]
    started = time.perf_counter()
    assert main(compare(tmp_path, "-q")) == 0
    took = time.perf_counter() - started
    out = capsys.readouterr().out
    with capsys.disabled():
        print(f"\ncompare on stored runs (4 runs, nothing simulated): {took:.2f} s")
    assert "4 of 4 runs reused" in out
    assert [m.stat().st_mtime_ns for m in markers] == before  # nothing was simulated again
    assert main(compare(tmp_path, "-q", "--rerun")) == 0
    assert "reused" not in capsys.readouterr().out
    assert main(compare(tmp_path, "-q", "--set", "bonding.alpha=0.2")) == 0
    assert "reused" not in capsys.readouterr().out  # another scenario: run


def test_a_stored_run_is_not_reused_when_its_trace_or_the_code_changed(tmp_path, monkeypatch, clean_revision):
    shutil.copytree(SCENARIOS / "traces", tmp_path / "traces")
    src = (SCENARIOS / "synthetic-cellular.yaml").read_text().replace("duration_s: 60", "duration_s: 2")
    (tmp_path / "sc.yaml").write_text(src)
    sc = load_scenario(tmp_path / "sc.yaml")
    where = simulate(sc, "dwrr", 1, results=tmp_path / "r").directory
    assert reusable(where, sc, "dwrr", 1)
    assert not reusable(where, sc, "dwrr", 2) and not reusable(where, sc, "rr", 1)
    monkeypatch.setattr(bondlab.reuse, "_running_revision", lambda: "abc1234-dirty")
    assert not reusable(where, sc, "dwrr", 1)  # uncommitted code: never reused
    monkeypatch.setattr(bondlab.reuse, "_running_revision", lambda: "abc1234")
    trace = tmp_path / "traces" / "synth-s11-x3.up"
    trace.write_text(trace.read_text() + "99999\n")
    assert not reusable(where, sc, "dwrr", 1)  # same path, other content
