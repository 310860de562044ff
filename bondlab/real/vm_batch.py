"""A batch of real runs in one VM boot: the guest's command, the boot watchdog, what its end says.

Booting costs 20-55 s under TCG, a run its duration plus a few seconds (run processes are forks
of the guest's orchestrator, real/forked.py), so every run of a real_runs call shares one boot.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from bondlab.real import faults
from bondlab.real.errors import RealSetupError
from bondlab.scenario import Scenario


class BatchJob(Protocol):
    """What the boot needs of a run of the batch (real/api.py's jobs)."""

    scenario: Scenario
    scheduler: str
    reruns: int

    @property
    def raw(self) -> Path: ...


# Boots take 20-55 s under TCG on an idle host but 150-210 s were measured with the two cores
# shared with other test runs (load average ~3); the budget only has to catch a hung VM.
VM_BOOT_BUDGET_S = 300.0
# TCG boots stall now and then (qemu idle near 0 CPU, the guest silent for minutes; seen in a CI
# dry run on 2026-12-07): a guest that has not started the runs within the boot budget is killed
# and booted again, once. The guest's runner writes GUEST_STARTED in the first run's raw dir.
BOOT_ATTEMPTS = 2
GUEST_STARTED = "guest.started"


def run_in_vm(runs: Sequence[BatchJob], quiet: bool) -> None:
    """Every run's raw dir to the guest's orchestrator (real/runner.py), in one boot."""

    raw_dirs = [job.raw for job in runs]
    # The guest is ~10x slower; runs are real time, so budget boot + per-run setup + duration.
    # Budget every rerun too: the timeout only has to catch a hung VM.
    timeout = VM_BOOT_BUDGET_S + sum((j.scenario.duration_s + 90.0) * (1 + j.reruns) for j in runs)
    # One writable mount for all runs: each --rwdir is a virtio-9p device of its own, and a guest
    # with six of them (six runs in one boot) stalled while booting (seen here, TCG; each also
    # lengthens the kernel command line, see below).
    shared = Path(os.path.commonpath([str(d.resolve()) for d in raw_dirs]))
    # The raw directories go to the guest in a file, not on its command line: vng passes the
    # command in the kernel's command line (COMMAND_LINE_SIZE 2048 on x86), and nine runs' paths
    # under pytest's temporary directory overflowed it: the guest hung at boot, qemu idle.
    listing = shared / f".bondlab-guest-runs-{os.getpid()}.txt"
    listing.write_text("".join(f"{d.resolve()}\n" for d in raw_dirs))
    argv = [sys.executable, "-m", "bondlab.real.runner", f"@{listing}"]
    started = raw_dirs[0] / GUEST_STARTED
    try:
        _boot_and_run(runs, argv, shared, timeout, started, quiet)
    finally:
        listing.unlink(missing_ok=True)


class _BootProgress:
    """Says the VM is booting, then once how long the boot took: 20-55 s of silence under TCG
    read as a hang. `check` is the watchdog's poll for the guest's start file."""

    def __init__(self, started: Path, n_runs: int, quiet: bool) -> None:
        self.started, self.quiet, self.t0, self.said = started, quiet, time.monotonic(), False
        if not quiet:
            print(
                f"real: booting the VM for {n_runs} run(s) (this kernel has no sch_netem; a TCG boot "
                "takes 20-55 s here)",
                file=sys.stderr,
                flush=True,
            )

    def check(self) -> bool:
        if not self.started.exists():
            return False
        if not self.said and not self.quiet:
            print(f"real: VM up after {time.monotonic() - self.t0:.0f} s", file=sys.stderr, flush=True)
        self.said = True
        return True


def _boot_and_run(
    runs: Sequence[BatchJob], argv: list[str], shared: Path, timeout: float, started: Path, quiet: bool
) -> None:
    from bondlab.real import vm

    raw_dirs = [job.raw for job in runs]
    for boot in range(1, BOOT_ATTEMPTS + 1):
        up = _BootProgress(started, len(runs), quiet)
        try:
            result = vm.run_in_vm(
                argv,
                rwdirs=[shared],
                timeout_s=timeout,
                forward_output=not quiet,
                cwd=Path.cwd(),
                started=up.check,
                boot_timeout_s=VM_BOOT_BUDGET_S,
            )
            break
        except vm.VMBootStalled:
            if boot == BOOT_ATTEMPTS:
                raise RealSetupError(
                    f"the VM did not start the runs within {VM_BOOT_BUDGET_S:.0f} s in {boot} boots "
                    "(a stalled TCG boot) and was stopped"
                ) from None
            print(
                f"real run: the VM did not start the runs within {VM_BOOT_BUDGET_S:.0f} s (a stalled "
                "boot: qemu idle, the guest silent); booting it again",
                file=sys.stderr,
                flush=True,
            )
        except vm.VMTimeout:
            raise RealSetupError(
                f"the VM run did not finish within {timeout:.0f} s and was stopped"
            ) from None
    if result.returncode != 0:
        done = {j.raw for j in runs if (j.raw / "shaping.json").exists()}
        if all(d in done or faults.read_fault(d) for d in raw_dirs):
            return  # every run finished or said why it could not; the caller stores the others
        # A run with neither: the VM died there (after any earlier run's fault, not because of it).
        jobs = [(j.scenario.name, j.scheduler, j.scenario.duration_s, j.raw) for j in runs]
        raise RealSetupError(faults.vm_died(result.returncode, jobs, done))
