"""Bad input to the real backend: one clear line, non-zero exit, nothing left behind."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bondlab.cli.main import main
from bondlab.real import netns_cleanup

ROOT = Path(__file__).resolve().parents[2]
SCEN = Path(__file__).resolve().parent / "scenarios"


def one_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


def test_missing_privileges_is_one_line(tmp_path):
    """Without root, `bondlab real run` says root is needed and exits non-zero, writing nothing."""
    if os.geteuid() != 0:
        pytest.skip("needs root to drop privileges")
    results = tmp_path / "results"
    results.mkdir()
    os.chmod(tmp_path, 0o777)
    os.chmod(results, 0o777)
    cmd = [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        sys.executable,
        "-m",
        "bondlab",
        "real",
        "run",
        str(SCEN / "seed-quarter.yaml"),
        "--results",
        str(results),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode != 0
    assert "root" in one_line(proc.stderr)
    assert not any(results.iterdir())


def test_scenario_the_real_backend_cannot_express(tmp_path, capsys):
    """A capacity tc cannot set is refused before anything starts, in one line naming the field."""
    bad = tmp_path / "tiny.yaml"
    bad.write_text("duration_s: 5\nlinks:\n  - {name: a, capacity_bps: 4}\n")
    from bondlab.real import api

    if os.geteuid() != 0:
        pytest.skip("the check runs after the privilege check")
    rc = main(["real", "run", str(bad), "--results", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert rc != 0
    line = one_line(err)
    assert "links[0].capacity_bps" in line and "cannot" in line
    assert not (tmp_path / "r").exists()
    assert api  # imported for the monkeypatch test below


def test_unloadable_librist_is_one_line(tmp_path, capsys, monkeypatch):
    """If the librist binding cannot load, the error says how to fix it; no run directory appears."""
    from bondlab.real import api

    monkeypatch.setattr(
        api,
        "binding_available",
        lambda: (
            False,
            "librist binding not built: install librist-dev and reinstall bondlab: pip install -e .",
        ),
    )
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    rc = main(["real", "run", str(SCEN / "seed-quarter.yaml"), "--results", str(tmp_path / "r")])
    line = one_line(capsys.readouterr().err)
    assert rc != 0 and "librist-dev" in line
    assert not (tmp_path / "r").exists()


def test_unknown_real_scheduler_is_one_line(tmp_path, capsys):
    """An unknown scheduler for the real backend is named in one line."""
    if os.geteuid() != 0:
        pytest.skip("the check runs after the privilege check")
    rc = main(
        [
            "real",
            "run",
            str(SCEN / "seed-quarter.yaml"),
            "--scheduler",
            "fifo",
            "--results",
            str(tmp_path / "r"),
        ]
    )
    assert rc != 0 and "fifo" in one_line(capsys.readouterr().err)


def test_doctor_reports_what_is_there(capsys):
    """`bondlab real doctor` lists each prerequisite with ok/MISSING and a fix."""
    main(["real", "doctor"])
    out = capsys.readouterr().out
    for item in ("librist binding", "netem on this kernel", "VM fallback", "leftover namespaces"):
        assert item in out
    assert netns_cleanup.leftovers() == []
