"""Host side of real runs: checks, where to run (directly, or in a VM without sch_netem), results.

Several runs share one VM boot (`real_runs`): booting costs 20-40 s under TCG, a run its duration.
Every run writes run.json before anything starts and its outputs in the sim's schema afterwards,
under results/<scenario>/real-<scheduler>-<seed>/ (raw files of the run in raw/).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bondlab.core.schedulers import scheduler_names
from bondlab.results import DEFAULT_RESULTS, run_dir, write_outputs, write_run_json
from bondlab.scenario import Scenario

EXPRESS_ERRORS = ("cannot be set",)  # check_expressible lines that make a run meaningless
VM_BOOT_BUDGET_S = 120.0


class RealSetupError(RuntimeError):
    """A real run that cannot happen or did not finish; str() is one line saying why (and the fix)."""


@dataclass(frozen=True)
class RealRunOutput:
    directory: Path
    metrics: dict[str, Any]


def binding_available() -> tuple[bool, str]:
    try:
        from bondlab.real.librist import librist_version
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
    from bondlab.real import shaping

    if scheduler not in scheduler_names("real"):
        raise RealSetupError(
            f"--scheduler: unknown scheduler {scheduler!r} for real runs "
            f"(choose from {', '.join(scheduler_names('real'))})"
        )
    notes = shaping.check_expressible(scenario)
    errors = [n for n in notes if any(e in n for e in EXPRESS_ERRORS)]
    if errors:
        raise RealSetupError(f"{scenario.name}: the real backend cannot express {errors[0]}")
    return notes


def real_runs(
    jobs: Sequence[tuple[Scenario, str, int | None]],
    results: Path = DEFAULT_RESULTS,
    force_vm: bool = False,
    quiet: bool = False,
) -> list[RealRunOutput]:
    """Run (scenario, scheduler, seed) jobs for real, in one VM boot where a VM is needed."""
    from bondlab.real.librist import librist_version
    from bondlab.real.netns import NetnsError
    from bondlab.real.runner import RealRunError, inner_run

    mode = choose_mode(force_vm)
    raws: list[tuple[Scenario, str, int, Path, Path]] = []
    for scenario, scheduler, _seed in jobs:
        notes = check_scenario(scenario, scheduler)
        if notes and not quiet:
            for note in notes:
                print(f"note: {scenario.name}: {note}", file=sys.stderr)
    for scenario, scheduler, seed in jobs:
        seed = scenario.seed if seed is None else seed
        directory = run_dir(results, scenario, scheduler, seed, backend="real")
        raw = directory / "raw"
        if raw.exists():
            shutil.rmtree(raw)
        write_run_json(
            directory, scenario, scheduler, seed, "real", {"mode": mode, "librist_version": librist_version()}
        )
        raw.mkdir(parents=True)
        (raw / "inner.json").write_text(json.dumps({"scenario": scenario.resolved(), "scheduler": scheduler}))
        raws.append((scenario, scheduler, seed, directory, raw))
    try:
        if mode == "direct":
            for scenario, scheduler, _seed, _directory, raw in raws:
                inner_run(scenario, scheduler, raw)
        else:
            _run_in_vm([r[4] for r in raws], sum(r[0].duration_s for r in raws), quiet)
    except (RealRunError, RealSetupError, NetnsError) as exc:
        _store_finished(raws)  # runs that completed before the failure keep their results
        raise RealSetupError(str(exc)) from None
    outputs = _store_finished(raws)
    if len(outputs) != len(raws):
        raise RealSetupError(f"{len(raws) - len(outputs)} real run(s) ended without their raw results")
    return outputs


def _store_finished(raws: list[tuple[Scenario, str, int, Path, Path]]) -> list[RealRunOutput]:
    """Assemble and store every run whose raw files are complete (the sim's schema)."""
    from bondlab.real.runner import RAW_FILES, assemble

    outputs = []
    for scenario, _scheduler, _seed, directory, raw in raws:
        if not all((raw / f).exists() for f in RAW_FILES):
            continue
        metrics, ts, messages, delays = assemble(scenario, raw)
        for log in ("sender.log",):
            if (raw / log).exists():
                shutil.copy(raw / log, directory / "run.log")
        write_outputs(directory, metrics, ts, messages, delays)
        outputs.append(RealRunOutput(directory, metrics))
    return outputs


def _run_in_vm(raw_dirs: list[Path], total_duration_s: float, quiet: bool) -> None:
    from bondlab.real import vm

    argv = [sys.executable, "-m", "bondlab.real.runner", *map(str, raw_dirs)]
    # The guest is ~10x slower; runs are real time, so budget boot + per-run setup + duration.
    timeout = VM_BOOT_BUDGET_S + total_duration_s + 90.0 * len(raw_dirs)
    # One writable mount for all runs: each --rwdir is a virtio-9p device of its own, and a guest
    # with six of them (six runs in one boot) stalled while booting (seen here, TCG).
    shared = Path(os.path.commonpath([str(d.resolve()) for d in raw_dirs]))
    try:
        result = vm.run_in_vm(
            argv, rwdirs=[shared], timeout_s=timeout, forward_output=not quiet, cwd=Path.cwd()
        )
    except vm.VMTimeout:
        raise RealSetupError(f"the VM run did not finish within {timeout:.0f} s and was stopped") from None
    if result.returncode != 0:
        lines = [ln for ln in (result.stderr or "").splitlines() if ln.strip()]
        last = lines[-1] if lines else f"exit status {result.returncode}"
        raise RealSetupError(f"real run inside the VM failed: {last}")


def real_run(
    scenario: Scenario,
    scheduler: str,
    seed: int | None = None,
    results: Path = DEFAULT_RESULTS,
    force_vm: bool = False,
    quiet: bool = False,
) -> RealRunOutput:
    return real_runs([(scenario, scheduler, seed)], results, force_vm, quiet)[0]
