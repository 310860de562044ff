"""Shared paths for the test suite, and the VM lock for tests that boot the VM."""

import fcntl
import logging
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

# Property tests: the default profile keeps CI fast (each test sets its own small example count);
# `--hypothesis-profile=long` is the campaign: >= 10,000 generated scenarios (split across the
# schedulers) and >= 10,000 mutants; each test takes its campaign count from tests/test_properties.py.
settings.register_profile("long", max_examples=10_000, deadline=None, print_blob=True)

# What the property tests ran, by kind (a generated scenario through the sim and the invariants, a
# mutant file loaded, ...): printed at the end of the session so a campaign shows its totals.
PROPERTY_RUNS: Counter[str] = Counter()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not PROPERTY_RUNS:
        return
    terminalreporter.section("property test examples run (shrinking and replays included)")
    for kind, n in sorted(PROPERTY_RUNS.items()):
        terminalreporter.write_line(f"{kind:56} {n:>8,}")


ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"


@pytest.fixture
def scenarios_dir() -> Path:
    return SCENARIOS


VM_LOCK = Path("/tmp/bondlab-vm.lock")


def _vm_lock_held_by_an_ancestor() -> bool:
    """True under `flock /tmp/bondlab-vm.lock pytest ...`: taking the lock again would wait forever."""
    pid = os.getppid()
    while pid > 1:
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        if Path(argv[0].decode(errors="replace")).name == "flock" and str(VM_LOCK).encode() in argv:
            return True
        pid = int(stat.rsplit(")", 1)[1].split()[1])
    return False


@pytest.fixture(scope="session")
def vm_lock() -> Iterator[None]:
    """One VM at a time: tests that boot the VM hold /tmp/bondlab-vm.lock (the lock people take by
    hand with `flock /tmp/bondlab-vm.lock ...`) for the session, so two test runs, or a test run and
    a manual experiment, never boot two TCG guests on the same cores (both would miss real time)."""
    if _vm_lock_held_by_an_ancestor():
        yield
        return
    fd = os.open(VM_LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


@pytest.fixture
def cli(capsys):
    """bondlab.cli.main in-process, returning (exit code, stdout, stderr); drops the log handlers it adds."""
    from bondlab.cli import main

    root = logging.getLogger()
    handlers = list(root.handlers)

    def run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        rc = main(list(argv))  # an exception escaping here is the traceback a user would see
        out, err = capsys.readouterr()
        return rc, out, err

    yield run
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
