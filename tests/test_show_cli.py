"""`bondlab show`: a stored run's metrics at the terminal, as JSON and as CSV, read, not recomputed
(issue 16)."""

import csv
import io
import json

import pytest

from bondlab.cli.main import main
from bondlab.results import MARKER

from conftest import SCENARIOS


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("show")
    for scheduler in ("dwrr", "rr"):
        argv = [
            "run",
            str(SCENARIOS / "seed-asymmetric.yaml"),
            "--scheduler",
            scheduler,
            "--set",
            "duration_s=4",
        ]
        assert main([*argv, "--results", str(root), "-q"]) == 0
    return root


def test_one_run_as_text_json_and_csv(results, capsys):
    run = results / "seed-asymmetric" / "dwrr-1"
    stored = json.loads((run / "metrics.json").read_text())
    capsys.readouterr()
    assert main(["show", str(run)]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0].startswith("seed-asymmetric  dwrr  seed 1  sim")
    assert f"decodable_ratio            {stored['decodable_ratio']:.6g}" in text
    assert f"goodput_bps                {stored['goodput_bps']:.0f}" in text
    assert "link lte-a: bytes_sent" in text
    assert main(["show", str(run), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == stored
    assert main(["show", str(run), "--csv"]) == 0
    [row] = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert row["scheduler"] == "dwrr" and float(row["decodable_ratio"]) == stored["decodable_ratio"]


def test_a_results_directory_is_a_row_per_run(results, capsys):
    capsys.readouterr()
    assert main(["show", str(results), "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert sorted(r["scheduler"] for r in rows) == ["dwrr", "rr"]
    assert main(["show", str(results), "--json"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert sorted(json.loads(line)["scheduler"] for line in lines) == ["dwrr", "rr"]
    assert main(["show", str(results)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:4] == ["scenario", "scheduler", "seed", "backend"] and len(table) == 3


def test_bad_paths_are_one_line(results, tmp_path, capsys):
    assert main(["show", str(tmp_path / "nothing")]) == 2
    assert (
        capsys.readouterr().err.strip()
        == f"error: show: {tmp_path / 'nothing'}: no such run or results directory"
    )
    run = results / "seed-asymmetric" / "rr-1"
    (run / MARKER).rename(run / "kept")
    try:
        assert main(["show", str(run)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "incomplete" in err[0]
    finally:
        (run / "kept").rename(run / MARKER)
