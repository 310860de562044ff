"""Rough edges of the command line (issue 16, item 8): each message names what the user typed."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from bondlab.cli.main import build_parser, main

from conftest import SCENARIOS

SCENARIO = str(SCENARIOS / "black-hole.yaml")


def test_an_unknown_scheduler_names_the_option_that_was_given(capsys) -> None:
    assert main(["run", SCENARIO, "--scheduler", "dwr"]) == 2
    assert capsys.readouterr().err.startswith("error: --scheduler: unknown scheduler 'dwr'")


def test_a_bad_seed_list_says_which_item_is_wrong(capsys) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["compare", SCENARIO, "--seeds", "1,,2"])
    err = capsys.readouterr().err
    assert "<lambda>" not in err and "'' is not a seed or a range" in err


def test_verbose_goes_before_or_after_the_command() -> None:
    p = build_parser()
    assert p.parse_args(["run", "x", "-v"]).verbose and p.parse_args(["-v", "run", "x"]).verbose
    assert not p.parse_args(["run", "x"]).verbose
    assert p.parse_args(["real", "run", "x", "-v"]).verbose


def test_a_bad_override_is_blamed_not_the_valid_file(capsys) -> None:
    assert main(["run", SCENARIO, "--set", "bonding.alfa=0.2", "--set", "duration_s=5", "-q"]) == 2
    err = capsys.readouterr().err.strip()
    blamed = "--set bonding.alfa=0.2: bonding.alfa: unknown field (the file itself is valid)"
    assert err == f"error: {SCENARIO}: {blamed}"


def test_a_reader_that_leaves_early_is_no_error() -> None:
    files = [SCENARIO] * 3000  # more than a pipe buffer of lines
    proc = subprocess.Popen(
        [sys.executable, "-m", "bondlab", "validate", *files], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stdout.readline().startswith(b"ok: ")
    proc.stdout.close()
    _, err = proc.communicate(timeout=60)
    assert b"Traceback" not in err and b"Exception ignored" not in err, err.decode()
    assert proc.returncode == 141


def test_a_link_error_names_the_link_as_well_as_its_place(tmp_path) -> None:
    from bondlab.scenario import ScenarioError, load_scenario

    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "duration_s: 10\nlinks:\n  - {name: a, capacity_bps: 5000000}\n  - {name: lte-b, capacity_bps: -5}\n"
    )
    with pytest.raises(ScenarioError) as err:
        load_scenario(bad)
    assert str(err.value) == f"{bad}: links[1].capacity_bps: Input should be greater than 0 (link 'lte-b')"


def test_run_draws_its_figures_when_asked(tmp_path, capsys) -> None:
    short = tmp_path / "short.yaml"
    short.write_text(
        (SCENARIOS / "seed-asymmetric.yaml").read_text().replace("duration_s: 60", "duration_s: 4")
    )
    assert main(["run", str(short), "--results", str(tmp_path / "r"), "-q", "--plots"]) == 0
    report = tmp_path / "r" / "short" / "dwrr-1" / "report"
    pngs = sorted(p.name for p in report.glob("*.png"))
    assert len(pngs) >= 3 and all((report / p).read_bytes()[:4] == b"\x89PNG" for p in pngs)
    assert "![" in (report / "comparison.md").read_text()
    assert "plots: " in capsys.readouterr().err


@pytest.mark.parametrize("command", ["run", "compare", "tune", "validate", "calibrate"])
def test_help_shows_examples(command: str, capsys) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args([command, "--help"])
    text = capsys.readouterr().out
    assert "example" in text and f"bondlab {command} " in text.split("example", 1)[1]


def test_tune_help_shows_the_spec_format(capsys) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["tune", "--help"])
    text = capsys.readouterr().out
    assert all(key in text for key in ("train:", "validate:", "space:", "objective:"))


def test_an_unreachable_scheduler_is_one_line_within_seconds(capsys) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on (bound, never accepting)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        started = time.perf_counter()
        status = main(
            [
                "tune",
                str(SCENARIOS.parent / "tuning" / "bonding.yaml"),
                "--address",
                f"tcp://127.0.0.1:{port}",
            ]
        )
        took = time.perf_counter() - started
    assert status == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"error: no dask scheduler answers at tcp://127.0.0.1:{port} within 5 s")
    assert took < 15


def test_building_the_command_line_imports_no_plotting():
    """`bondlab --help` and every command's start stay light: matplotlib (and its cache-directory
    warning for a user without a writable home) loads only when something is drawn."""
    import subprocess
    import sys

    code = "import sys, bondlab.cli.main; bondlab.cli.main.build_parser(); print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
