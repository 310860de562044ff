"""Ctrl-C during a real run leaves nothing behind: no VM, no namespaces, no half-written metrics."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bondlab.real import netns_cleanup

ROOT = Path(__file__).resolve().parents[2]
SCEN = Path(__file__).resolve().parent / "scenarios"

pytestmark = [
    pytest.mark.real,
    pytest.mark.skipif(os.environ.get("BONDLAB_SKIP_REAL") == "1", reason="BONDLAB_SKIP_REAL=1"),
    pytest.mark.skipif(os.geteuid() != 0, reason="real runs need root"),
]


def processes_mentioning(text: str) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and int(proc.name) != os.getpid():
            try:
                if text in (proc / "cmdline").read_bytes().decode(errors="replace"):
                    pids.append(int(proc.name))
            except OSError:
                continue
    return pids


def test_interrupted_real_run_leaves_nothing_behind(tmp_path, vm_lock):
    """SIGINT while librist is sending: exit 130, no qemu/namespace/process left, the run incomplete."""
    results = tmp_path / "results"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bondlab",
            "real",
            "run",
            str(SCEN / "throttle.yaml"),
            "--results",
            str(results),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    final = results / "throttle" / "real-dwrr-2"
    deadline = time.monotonic() + 400
    # The run is built in a hidden staging directory and becomes `final` only once complete.
    while not list(final.parent.glob(".real-dwrr-2.partial-*/raw/sender.ready")):
        assert time.monotonic() < deadline and proc.poll() is None, "the run never started sending"
        time.sleep(0.5)
    run = next(final.parent.glob(".real-dwrr-2.partial-*"))
    time.sleep(3.0)  # mid-run: librist is sending, tc changes are pending
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    assert proc.returncode == 130, err[-2000:]
    assert err.strip().splitlines()[-1] == "interrupted"
    time.sleep(1.0)
    assert processes_mentioning(str(run)) == []  # no qemu, vng, sender or receiver process
    assert netns_cleanup.leftovers() == []
    assert (run / "run.json").exists() and not (run / "complete.json").exists()
    assert not final.exists()
