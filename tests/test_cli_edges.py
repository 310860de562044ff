"""Rough edges of the command line (issue 16, item 8): each message names what the user typed."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bondlab.cli import build_parser, main

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
