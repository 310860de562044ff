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


YIELDING_NICE = 10
VM_GROUP = "vm"


def pytest_configure(config: Any) -> None:
    """Under pytest-xdist (`-n 2`, the README's test command) every worker yields the CPU (nice
    10) except while it holds the VM: a real run measures real time, and a TCG guest that loses
    its cores to the simulations beside it falls behind its clock and measures the CPU."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        os.nice(max(0, YIELDING_NICE - os.nice(0)))


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    """Tests that boot the VM (all that use vm_lock, directly or through a fixture) are marked
    `vm`, and run on one xdist worker, one after the other (`--dist loadgroup`)."""
    for item in items:
        if "vm_lock" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.vm)  # `-m vm` / `-m "not vm"`: scripts/test.sh's two phases
            item.add_marker(pytest.mark.xdist_group(VM_GROUP))


def pytest_collection_finish(session: Any) -> None:
    """A worker whose VM tests lost their group would wait forever on the VM lock another worker
    holds for its session: pytest-xdist marks a group by appending "@vm" to the test's id, which
    pytest 9.2 ignores (pytest-xdist#1386; pyproject pins pytest < 9.2). Say so instead."""
    if not getattr(session.config.option, "loadgroup", False):  # set on xdist workers only
        return
    lost = [i.nodeid for i in session.items if i.get_closest_marker("xdist_group") and "@" not in i.nodeid]
    if lost:
        raise pytest.UsageError(
            f"pytest-xdist did not group the VM tests (e.g. {lost[0]}): see pyproject's pytest pin"
        )


@pytest.fixture(scope="session")
def vm_lock() -> Iterator[None]:
    """One VM at a time: tests that boot the VM hold /tmp/bondlab-vm.lock (the lock people take by
    hand with `flock /tmp/bondlab-vm.lock ...`) for the session, so two test runs, or a test run and
    a manual experiment, never boot two TCG guests on the same cores (both would miss real time)."""
    if _vm_lock_held_by_an_ancestor():
        yield
        return
    fd = os.open(VM_LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    before = os.getpriority(os.PRIO_PROCESS, 0)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        if os.geteuid() == 0:  # the VM (a child of this process) runs at full priority
            os.setpriority(os.PRIO_PROCESS, 0, 0)
        yield
    finally:
        if os.geteuid() == 0:
            os.setpriority(os.PRIO_PROCESS, 0, before)
        os.close(fd)


@pytest.fixture
def cli(capsys):
    """The CLI (bondlab.cli.main) in-process: (exit code, stdout, stderr); drops its log handlers."""
    from bondlab.cli.main import main

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
