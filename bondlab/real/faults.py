"""What went wrong in a real run, as one line: which process (or the VM) died, how, and when.

A real run has four things that can die under it: the sender, receiver and capture processes in
the namespaces, and (without netem on the host) the VM around them. Each fault must end the
command with one line naming what died, so the messages are built here, from exit statuses and
the run's raw files, and unit-tested without root (tests/real/test_fault_messages.py). The guest
side writes its line to `<raw>/fault.json` (the raw directory is shared with the host), so the
host can tell "a process inside died" from "the VM itself died": vng returns 255 both for a guest
command killed by a signal and for a qemu that vanished, and only the file tells them apart.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bondlab.real.forked import RunProcess

FAULT_FILE = "fault.json"
VNG_LOST_GUEST = 255  # vng's status when the guest gave no exit status (qemu gone, kernel panic)


def how_it_ended(returncode: int) -> str:
    """'died (SIGKILL)' for a signal death (Popen's negative status), else 'exited with status N'."""
    if returncode < 0:
        try:
            return f"died ({signal.Signals(-returncode).name})"
        except ValueError:
            return f"died (signal {-returncode})"
    return f"exited with status {returncode}"


def where(scenario: str, scheduler: str, at_s: float | None, duration_s: float) -> str:
    """'part-way through NAME SCHED (at 6.2 s of 20 s)', or 'before NAME SCHED started sending'."""
    if at_s is None:
        return f"before {scenario} {scheduler} started sending"
    return f"part-way through {scenario} {scheduler} (at {max(at_s, 0.0):.1f} s of {duration_s:g} s)"


def process_died(
    what: str, returncode: int, scenario: str, scheduler: str, at_s: float | None, duration_s: float
) -> str:
    """'the sender process died (SIGKILL) part-way through throttle dwrr (at 6.2 s of 20 s)'."""
    return f"the {what} process {how_it_ended(returncode)} {where(scenario, scheduler, at_s, duration_s)}"


def first_death(procs: Mapping[str, RunProcess], expected: tuple[str, ...] = ()) -> tuple[str, int] | None:
    """(name, status) of a process that has ended when it should not have: any signal death, or
    a non-zero exit; names in `expected` may end with status 0 (the sender, at the scenario's end)."""
    for name, proc in procs.items():
        rc = proc.poll()
        if rc is None:
            continue
        if rc != 0 or name not in expected:
            return name, rc
    return None


def write_fault(raw: Path, message: str) -> bool:
    """Leave the guest's one line for the host; False if it could not (the raw directory gone)."""
    try:
        tmp = raw / f".{FAULT_FILE}.tmp"
        tmp.write_text(json.dumps({"message": message}) + "\n")
        tmp.replace(raw / FAULT_FILE)
    except OSError:
        return False
    return True


def read_fault(raw: Path) -> str | None:
    try:
        return str(json.loads((raw / FAULT_FILE).read_text())["message"])
    except (OSError, ValueError, KeyError):
        return None


def sending_for(raw: Path, now: float | None = None) -> float | None:
    """Seconds since the sender signalled ready (its file's mtime), or None if it never did.
    The guest's clock is set from the host's at boot, so this is good to about a second."""
    try:
        ready = (raw / "sender.ready").stat().st_mtime
    except OSError:
        return None
    return (time.time() if now is None else now) - ready


def vm_died(
    vng_status: int, jobs: list[tuple[str, str, float, Path]], done: set[Path], now: float | None = None
) -> str:
    """The VM ended with no word from the guest. `jobs` is (scenario, scheduler, duration, raw) in
    run order, `done` the raw directories whose runs finished; the first unfinished one is where
    it died."""
    how = (
        "qemu killed or crashed: no exit status from the guest"
        if vng_status == VNG_LOST_GUEST
        else f"vng exit status {vng_status}, no word from the guest"
    )
    for scenario, scheduler, duration, raw in jobs:
        if raw in done:
            continue
        at = sending_for(raw, now)
        if at is None and not (raw / "capture.ready").exists() and raw == jobs[0][3]:
            return f"the VM died ({how}) while booting, before {scenario} {scheduler} started"
        return f"the VM died ({how}) {where(scenario, scheduler, at, duration)}"
    return f"the VM died ({how}) after every run had finished"


def stopped(signum: int, scenario: str | None, scheduler: str | None) -> str:
    """'stopped by SIGTERM part-way through throttle dwrr; ...' (the host's own signal)."""
    name = signal.Signals(signum).name
    during = f" during {scenario} {scheduler}" if scenario else ""
    return f"stopped by {name}{during}; the VM and every run process were stopped"


# "sender@3": SIGKILL the sender 3 s after it starts sending; "stall:sender@3+0.5": SIGSTOP it
# at 3 s and SIGCONT it 0.5 s later (a run that falls behind its clock: real/validity.py).
INJECT_ENV = "BONDLAB_INJECT_FAULT"
PROCESSES = ("sender", "receiver", "capture")


def parse_injection(spec: str) -> dict[str, Any]:
    """`PROCESS@SECONDS` (kill) or `stall:PROCESS@SECONDS+STALL_SECONDS`, as inner.json records it."""
    stall = spec.startswith("stall:")
    name, _, when = spec.removeprefix("stall:").partition("@")
    at, _, length = when.partition("+")
    try:
        at_s, for_s = float(at or 0.0), float(length or 0.5)
    except ValueError:
        at_s = for_s = -1.0
    if name not in PROCESSES or at_s < 0 or for_s <= 0:
        raise ValueError(
            f"{INJECT_ENV}={spec!r}: expected PROCESS@SECONDS or stall:PROCESS@SECONDS+SECONDS "
            f"(PROCESS: {'|'.join(PROCESSES)})"
        )
    if stall:
        return {"stall": name, "at_s": at_s, "for_s": for_s}
    return {"kill": name, "at_s": at_s}


def injection_from_env(environ: Mapping[str, str]) -> dict[str, Any] | None:
    """`BONDLAB_INJECT_FAULT` on the host (see parse_injection), as recorded in the run's inner.json.

    For the fault tests (tests/real/test_faults.py): from the host, the processes inside a VM
    cannot be reached, so the guest's orchestrator signals its own child on cue."""
    spec = environ.get(INJECT_ENV, "").strip()
    return parse_injection(spec) if spec else None


def injector(
    injection: Mapping[str, Any] | None, procs: Mapping[str, RunProcess], t0: float
) -> Callable[[], None]:
    """A callable that, when its time (from t0) has come, SIGKILLs the named process once, or
    SIGSTOPs it and SIGCONTs it `for_s` later."""
    steps: list[tuple[float, str, signal.Signals]] = []
    if injection and "kill" in injection:
        steps.append((float(injection["at_s"]), injection["kill"], signal.SIGKILL))
    elif injection and "stall" in injection:
        at = float(injection["at_s"])
        steps.append((at, injection["stall"], signal.SIGSTOP))
        steps.append((at + float(injection["for_s"]), injection["stall"], signal.SIGCONT))

    def tick() -> None:
        while steps and time.monotonic() >= t0 + steps[0][0]:
            _at, name, sig = steps.pop(0)
            if procs[name].poll() is None:
                procs[name].send_signal(sig)

    return tick
