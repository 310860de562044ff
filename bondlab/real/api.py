"""Host side of real runs: checks, where to run (directly, or in a VM without sch_netem), results.

Several runs share one VM boot (`real_runs`): booting costs 20-40 s under TCG, a run its duration.
Every run writes run.json before anything starts and its outputs in the sim's schema afterwards,
in a hidden staging directory that becomes results/<scenario>/real-<scheduler>-<seed>/ once the
run is complete (raw files of the run in raw/); faults and signals end in one line (real/faults.py).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bondlab.core.schedulers import scheduler_names  # real runs: the oracle is sim-only
from bondlab.real import faults
from bondlab.real.errors import RealSetupError, RealStopped
from bondlab.real.vm_batch import run_in_vm
from bondlab.results import (
    DEFAULT_RESULTS,
    begin_run,
    mark_incomplete,
    publish_run,
    run_dir,
    write_outputs,
    write_run_json,
)
from bondlab.scenario import Scenario

EXPRESS_ERRORS = ("cannot be set",)  # check_expressible lines that make a run meaningless
# A run that measured the CPU rather than the network (real/validity.py) is run again, in the
# same VM boot, at most this many more times; if every attempt fails it is kept, marked invalid.
DEFAULT_RERUNS = 2


@dataclass(frozen=True)
class RealRunOutput:
    directory: Path
    metrics: dict[str, Any]


@dataclass(frozen=True)
class RealRunFailure:
    """A run of a batch that did not finish (real_runs(partial=True)): its staging directory, marked
    incomplete, and the one line saying why."""

    staging: Path
    reason: str


def binding_available() -> tuple[bool, str]:
    try:
        from bondlab.real.librist_lib import librist_version
    except ImportError as exc:
        return False, str(exc)
    return True, librist_version()


def choose_mode(force_vm: bool = False) -> str:
    """'direct' where this kernel has netem, 'vm' where a VM can stand in; else RealSetupError."""
    from bondlab.real import netns, vm

    if os.geteuid() != 0:
        raise RealSetupError("real runs need root (network namespaces and tc): run as root, e.g. with sudo")
    ok, why = binding_available()
    if not ok:
        raise RealSetupError(why)
    if not force_vm and netns.netem_available():
        return "direct"
    ok, why = vm.vm_prerequisites()
    if not ok:
        raise RealSetupError(
            f"this kernel has no sch_netem and no VM can stand in: {why}; "
            "run `bondlab real doctor` for the fix"
        )
    return "vm"


def check_scenario(scenario: Scenario, scheduler: str) -> list[str]:
    """Raise for what the real backend cannot run; return the approximations worth a warning."""
    from bondlab.real import shaping_fidelity

    if scheduler not in scheduler_names("real"):
        raise RealSetupError(
            f"--scheduler: unknown scheduler {scheduler!r} for real runs "
            f"(choose from {', '.join(scheduler_names('real'))})"
        )
    notes = shaping_fidelity.check_expressible(scenario)
    errors = [n for n in notes if any(e in n for e in EXPRESS_ERRORS)]
    if errors:
        raise RealSetupError(f"{scenario.name}: the real backend cannot express {errors[0]}")
    return notes


@dataclass
class _Job:
    """One run of a real_runs call: where it is built (staging, raw) and where it ends up (final)."""

    scenario: Scenario
    scheduler: str
    seed: int
    final: Path
    staging: Path
    inject: dict[str, Any] | None = None
    reruns: int = 0

    @property
    def raw(self) -> Path:
        return self.staging / "raw"


class _Stopped(BaseException):
    """SIGTERM or SIGHUP on the host, raised in the main thread so every `finally` runs (the VM's
    process group is killed by run_in_vm, the namespaces by Testbed)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_stopped(signum: int, frame: object) -> None:
    # Further signals are ignored until the block ends: a second SIGTERM (service managers may
    # send more) must not cut short the clean-up this one starts (killing the VM's group).
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    raise _Stopped(signum)


def real_runs(
    jobs: Sequence[tuple[Scenario, str, int | None]],
    results: Path = DEFAULT_RESULTS,
    force_vm: bool = False,
    quiet: bool = False,
    reruns: int = DEFAULT_RERUNS,
    injects: Sequence[dict[str, Any] | None] | None = None,
    partial: bool = False,
) -> list[Any]:
    """Run (scenario, scheduler, seed) jobs for real, in one VM boot where a VM is needed.

    A run that cannot finish (a run process died) does not stop the batch: the others run and are
    stored, then RealSetupError says the first failure in one line; with `partial=True` the list
    instead holds a RealRunFailure in that run's place (setup failures and signals still raise).

    A run that is not valid (it measured the CPU: real/validity.py) is run again, up to `reruns`
    more times; the last attempt is kept either way, its metrics saying `valid` and why not.
    `injects`: a fault per job (faults.parse_injection; default: BONDLAB_INJECT_FAULT for all),
    for the fault tests; a job with one is never rerun (its fault would only come back).

    One real run at a time per machine (`real/lock.py`). Each run is built in a hidden staging
    directory (run.json, raw/ shared with the VM, outputs) and published under
    results/<scenario>/real-<scheduler>-<seed>/ only once complete; a run that a fault or a signal
    stopped stays hidden, marked incomplete (bondlab.results). SIGTERM and SIGHUP are handled like
    Ctrl-C: the VM and every run process are stopped, then RealStopped is raised.
    """
    from bondlab.real.lock import LockHeld, real_run_lock

    mode = choose_mode(force_vm)
    noted: set[str] = set()  # a scenario's notes once, however many seeds and schedulers it runs
    for scenario, scheduler, _seed in jobs:
        notes = check_scenario(scenario, scheduler)
        if notes and not quiet and scenario.name not in noted:
            noted.add(scenario.name)
            for note in notes:
                print(f"note: {scenario.name}: {note}", file=sys.stderr)
    try:
        with real_run_lock(), _signals_raise():
            return _locked_runs(jobs, results, mode, quiet, reruns, injects, partial)
    except LockHeld as exc:
        raise RealSetupError(str(exc)) from None
    except _Stopped as exc:  # outside a run's own handling (taking or leaving the lock)
        raise _stopped(exc.signum, None) from None


@contextmanager
def _signals_raise() -> Iterator[None]:
    """SIGTERM/SIGHUP raise _Stopped in the main thread for the block (the default would end the
    process at once and leave the VM, in its own session, running its whole job)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _raise_stopped) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


def _locked_runs(
    jobs: Sequence[tuple[Scenario, str, int | None]],
    results: Path,
    mode: str,
    quiet: bool,
    reruns: int = DEFAULT_RERUNS,
    injects: Sequence[dict[str, Any] | None] | None = None,
    partial: bool = False,
) -> list[Any]:
    from bondlab.real.librist_lib import librist_version
    from bondlab.real.netns_commands import NetnsError
    from bondlab.real.runner import RealRunError, run_job

    env_inject = faults.injection_from_env(os.environ)
    runs: list[_Job] = []
    current: list[_Job] = []
    try:
        for i, (scenario, scheduler, seed) in enumerate(jobs):
            seed = scenario.seed if seed is None else seed
            final = run_dir(results, scenario, scheduler, seed, backend="real")
            inject = injects[i] if injects is not None else env_inject
            job = _Job(scenario, scheduler, seed, final, begin_run(final), inject, 0 if inject else reruns)
            runs.append(job)
            meta = {"mode": mode, "librist_version": librist_version()}
            write_run_json(job.staging, scenario, scheduler, seed, "real", meta)
            job.raw.mkdir()
            inner = {
                "scenario": scenario.resolved(),
                "scheduler": scheduler,
                "inject": inject,
                "reruns": job.reruns,
            }
            (job.raw / "inner.json").write_text(json.dumps(inner))
        if mode == "direct":
            for job in runs:
                current[:] = [job]
                run_job(job.raw)  # as in the VM: a run that fails leaves its fault, the next one runs
        else:
            current[:] = runs
            run_in_vm(runs, quiet)
    except (RealRunError, RealSetupError, NetnsError) as exc:
        outputs = _store_finished(runs)  # runs that completed before the failure keep their results
        raise _failed(runs, outputs, str(exc).removeprefix("real run: ")) from None
    except (_Stopped, KeyboardInterrupt, SystemExit) as exc:
        signum = _signal_of(exc)
        if signum is None:
            raise
        _mark_unfinished(runs, f"stopped by {signal.Signals(signum).name}")
        if signum == signal.SIGINT:
            raise KeyboardInterrupt from None
        job = next((j for j in current if not (j.raw / "sender.json").exists()), None)
        raise _stopped(signum, job) from None
    outputs = _store_finished(runs)
    if len(outputs) == len(runs):
        return outputs
    said = (faults.read_fault(j.raw) for j in runs)
    first = next(filter(None, said), "the run ended without its raw results")
    failure = _failed(runs, outputs, first)
    if not partial:
        raise failure from None
    stored = {o.directory: o for o in outputs}
    return [stored.get(j.final) or RealRunFailure(j.staging, faults.read_fault(j.raw) or first) for j in runs]


def _signal_of(exc: BaseException) -> int | None:
    """The signal behind an exception that stopped a run; None for a plain SystemExit."""
    if isinstance(exc, _Stopped):
        return exc.signum
    if isinstance(exc, KeyboardInterrupt):
        return int(signal.SIGINT)
    if isinstance(exc, SystemExit) and exc.code in (128 + signal.SIGTERM, 128 + signal.SIGHUP):
        return int(exc.code) - 128  # Testbed's handlers (direct mode) exit with 128 + signal
    return None


def _stopped(signum: int, job: _Job | None) -> RealStopped:
    name, scheduler = (job.scenario.name, job.scheduler) if job else (None, None)
    return RealStopped("real run: " + faults.stopped(signum, name, scheduler), 128 + signum)


def _failed(runs: list[_Job], outputs: list[RealRunOutput], why: str) -> RealSetupError:
    """Mark every run that did not finish as incomplete and say so in the one line."""
    stored = {o.directory for o in outputs}
    left = [j for j in runs if j.final not in stored]
    _mark_unfinished(left, why)
    where = ", ".join(str(j.staging) for j in left)
    return RealSetupError(f"real run: {why}; marked incomplete: {where}" if left else f"real run: {why}")


def _mark_unfinished(runs: list[_Job], why: str) -> None:
    """Each run's own fault where it left one (a batch goes on past a failed run), else `why`."""
    for job in runs:
        if job.staging.exists():
            mark_incomplete(job.staging, faults.read_fault(job.raw) or why)


def _store_finished(runs: list[_Job]) -> list[RealRunOutput]:
    """Assemble, store and publish every run whose raw files are complete (the sim's schema)."""
    from bondlab.real.assemble import RAW_FILES, assemble

    outputs = []
    for job in runs:
        raw = job.raw
        if not all((raw / f).exists() for f in RAW_FILES) or (raw / faults.FAULT_FILE).exists():
            continue
        out = assemble(job.scenario, raw)
        if (raw / "sender.log").exists():
            shutil.copy(raw / "sender.log", job.staging / "run.log")
        write_outputs(job.staging, **out)
        publish_run(job.staging, job.final)
        outputs.append(RealRunOutput(job.final, out["metrics"]))
    return outputs


def real_run(
    scenario: Scenario,
    scheduler: str,
    seed: int | None = None,
    results: Path = DEFAULT_RESULTS,
    force_vm: bool = False,
    quiet: bool = False,
    reruns: int = DEFAULT_RERUNS,
) -> RealRunOutput:
    return real_runs([(scenario, scheduler, seed)], results, force_vm, quiet, reruns)[0]
