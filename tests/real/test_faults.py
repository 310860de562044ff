"""Faults that end a real run's VM (here): SIGTERM of the command, SIGKILL of the VM part-way
through, and a second real run started during the first.

Each ends in one line saying what happened, a non-zero status, the run marked incomplete (never
read as a result) and nothing left: no namespace, no qemu/vng, no run process. One VM boot per test
(25-55 s under TCG), 8 s scenarios at a quarter of the seed's rates. A run process (sender,
receiver) killed part-way ends its run only: that is tested in the real session's batch
(tests/real/test_real_runs.py), which goes on past it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bondlab.real import netns_cleanup
from bondlab.results import INCOMPLETE, MARKER, find_runs

ROOT = Path(__file__).resolve().parents[2]
SCEN = Path(__file__).resolve().parent / "scenarios" / "seed-quarter.yaml"

pytestmark = [
    pytest.mark.real,
    pytest.mark.skipif(os.environ.get("BONDLAB_SKIP_REAL") == "1", reason="BONDLAB_SKIP_REAL=1"),
    pytest.mark.skipif(os.geteuid() != 0, reason="real runs need root"),
]


def start(results: Path, inject: str | None = None) -> subprocess.Popen[str]:
    env = dict(os.environ)
    env.pop("BONDLAB_INJECT_FAULT", None)
    if inject:
        env["BONDLAB_INJECT_FAULT"] = inject
    argv = [sys.executable, "-m", "bondlab", "real", "run", str(SCEN), "--set", "duration_s=8"]
    return subprocess.Popen(
        [*argv, "--results", str(results), "--json"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def staging_of(results: Path) -> Path:
    [staging] = (results / "seed-quarter").glob(".real-dwrr-1.partial-*")
    return staging


def wait_sending(proc: subprocess.Popen[str], results: Path, timeout_s: float = 400) -> Path:
    """The run's staging directory, once its sender is up (the VM has booted)."""
    deadline = time.monotonic() + timeout_s
    while not list((results / "seed-quarter").glob(".real-dwrr-1.partial-*/raw/sender.ready")):
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        assert time.monotonic() < deadline, "the run never started sending"
        time.sleep(0.3)
    return staging_of(results)


def finish(proc: subprocess.Popen[str], timeout_s: float) -> tuple[int, str, float]:
    """(status, the one stderr line, seconds it took)."""
    t = time.monotonic()
    try:
        _out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err[-3000:]
    return proc.returncode, lines[0], time.monotonic() - t


def processes_mentioning(text: str) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and int(proc.name) != os.getpid():
            try:
                cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in cmd:
                found.append(f"{proc.name}: {cmd[:200]}")
    return found


def assert_left_nothing(results: Path, staging: Path, reason: str) -> None:
    time.sleep(1.0)
    assert processes_mentioning(str(staging)) == []  # no vng, qemu, virtiofsd, run process
    assert processes_mentioning(str(results)) == []
    assert netns_cleanup.leftovers() == []
    assert not (results / "seed-quarter" / "real-dwrr-1").exists()
    assert staging.exists() and not (staging / MARKER).exists()
    assert reason in json.loads((staging / INCOMPLETE).read_text())["reason"]
    assert find_runs(results) == []


def test_sigterm_stops_the_vm_and_a_second_run_is_refused(tmp_path: Path, vm_lock: None) -> None:
    """A second `real run` while one runs: refused at once in one line naming the first's pid.
    Then SIGTERM (what `timeout` sends) to the first: it stops the VM, says so in one line,
    exits 143, and leaves nothing behind."""
    first_results, second_results = tmp_path / "a", tmp_path / "b"
    first = start(first_results)
    staging = wait_sending(first, first_results)

    second = start(second_results)
    rc, line, took = finish(second, 60)
    print(f"\nsecond run: status {rc} after {took:.1f} s: {line}")
    assert rc == 3
    assert line.startswith(f"error: real run: another real run is in progress (pid {first.pid}, lock ")
    assert not second_results.exists() or find_runs(second_results) == []

    time.sleep(2.0)  # part-way: the sender is writing, tc changes pending
    first.send_signal(signal.SIGTERM)
    rc, line, took = finish(first, 30)
    print(f"SIGTERM: status {rc} after {took:.1f} s: {line}")
    assert rc == 143
    assert line == (
        "error: real run: stopped by SIGTERM during seed-quarter dwrr; "
        "the VM and every run process were stopped"
    )
    assert took < 15
    assert_left_nothing(first_results, staging, "stopped by SIGTERM")


def test_the_vm_killed_part_way_is_named(tmp_path: Path, vm_lock: None) -> None:
    """SIGKILL of qemu 2 s into the run: one line saying the VM died and where, exit 3."""
    results = tmp_path / "r"
    proc = start(results)
    staging = wait_sending(proc, results)
    time.sleep(2.0)
    qemus = [
        int(p.split(":")[0])
        for p in processes_mentioning(str(staging))
        if "qemu-system" in p.split(":", 1)[1]
    ]
    assert qemus, processes_mentioning(str(staging))
    for pid in qemus:
        os.kill(pid, signal.SIGKILL)
    rc, line, took = finish(proc, 60)
    print(f"\nqemu killed: status {rc} after {took:.1f} s: {line}")
    assert rc == 3
    assert line.startswith(
        "error: real run: the VM died (qemu killed or crashed: no exit status from the guest) "
        "part-way through seed-quarter dwrr (at "
    ), line
    assert line.endswith(f" s of 8 s); marked incomplete: {staging}")
    assert_left_nothing(results, staging, "the VM died")
