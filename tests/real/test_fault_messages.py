"""The one-line fault messages of real runs and the marking of their runs as incomplete, without
root or a VM: real/faults.py, real/lock.py and real/api.py's failure paths with fakes."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from bondlab.real import api, faults, vm, vm_batch
from bondlab.real.lock import LockHeld, real_run_lock
from bondlab.real.runner import RealRunError
from bondlab.results import INCOMPLETE, MARKER, IncompleteRunError, find_runs, load_run
from bondlab.scenario import load_scenario

SCEN = Path(__file__).resolve().parent / "scenarios"


def test_exit_statuses_read_as_words() -> None:
    assert faults.how_it_ended(-9) == "died (SIGKILL)"
    assert faults.how_it_ended(-15) == "died (SIGTERM)"
    assert faults.how_it_ended(2) == "exited with status 2"
    assert (
        faults.process_died("sender", -9, "throttle", "dwrr", 6.24, 20)
        == "the sender process died (SIGKILL) part-way through throttle dwrr (at 6.2 s of 20 s)"
    )
    assert (
        faults.process_died("receiver", 1, "throttle", "dwrr", None, 20)
        == "the receiver process exited with status 1 before throttle dwrr started sending"
    )


def test_first_death_names_the_process_that_should_not_have_ended() -> None:
    """The sender may end with status 0 (the scenario is over); anything else ending is a fault."""
    live = subprocess.Popen(["sleep", "30"])
    done = subprocess.Popen(["true"])
    killed = subprocess.Popen(["sleep", "30"])
    try:
        done.wait()
        assert faults.first_death({"sender": done, "receiver": live}, expected=("sender",)) is None
        assert faults.first_death({"receiver": done}, expected=("sender",)) == ("receiver", 0)
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        assert faults.first_death({"sender": killed, "receiver": live}, expected=("sender",)) == (
            "sender",
            -9,
        )
    finally:
        for p in (live, killed):
            p.kill()
            p.wait()


def test_vm_death_says_where_the_run_was(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    jobs = [("seed", "dwrr", 8.0, a), ("throttle", "rr", 20.0, b)]
    msg = faults.vm_died(255, jobs, set())
    assert msg == (
        "the VM died (qemu killed or crashed: no exit status from the guest) "
        "while booting, before seed dwrr started"
    )
    (a / "capture.ready").write_text("1\n")
    (a / "sender.ready").write_text("1\n")
    os.utime(a / "sender.ready", (time.time() - 3.0, time.time() - 3.0))
    msg = faults.vm_died(255, jobs, set())
    assert msg.startswith(
        "the VM died (qemu killed or crashed: no exit status from the guest) part-way through seed dwrr (at "
    )
    assert msg.endswith(" s of 8 s)")
    assert faults.vm_died(1, jobs, {a}).endswith("before throttle rr started sending")
    assert "vng exit status 1" in faults.vm_died(1, jobs, {a})


def test_fault_file_round_trip_and_stop_message(tmp_path: Path) -> None:
    assert faults.read_fault(tmp_path) is None
    faults.write_fault(tmp_path, "the capture process died (SIGKILL) part-way through x rr (at 1.0 s of 5 s)")
    assert faults.read_fault(tmp_path).startswith("the capture process died (SIGKILL)")
    assert (
        faults.stopped(signal.SIGTERM, "throttle", "dwrr")
        == "stopped by SIGTERM during throttle dwrr; the VM and every run process were stopped"
    )


def _hold(path: str, ready: multiprocessing.synchronize.Event) -> None:
    with real_run_lock(Path(path)):
        ready.set()
        time.sleep(60)


def test_second_real_run_is_refused_and_a_killed_holder_frees_the_lock(tmp_path: Path) -> None:
    lock = tmp_path / "real.lock"
    ctx = multiprocessing.get_context("fork")
    ready = ctx.Event()
    holder = ctx.Process(target=_hold, args=(str(lock), ready))
    holder.start()
    try:
        assert ready.wait(10)
        with pytest.raises(LockHeld) as exc:
            with real_run_lock(lock):
                pass
        assert str(exc.value).startswith(
            f"real run: another real run is in progress (pid {holder.pid}, lock "
        )
        assert "\n" not in str(exc.value)
    finally:
        os.kill(holder.pid, signal.SIGKILL)  # flock dies with its holder: no stale lock
        holder.join()
    with real_run_lock(lock):
        assert lock.read_text().strip() == str(os.getpid())


def _jobs():  # type: ignore[no-untyped-def]
    return [(load_scenario(SCEN / "seed-quarter.yaml", ["duration_s=5"]), "dwrr", None)]


def test_a_process_death_in_a_direct_run_is_one_line_and_the_run_incomplete(
    tmp_path: Path, monkeypatch
) -> None:
    why = "the receiver process died (SIGKILL) part-way through seed-quarter dwrr (at 2.0 s of 5 s)"

    def inner_run(scenario, scheduler, raw, inject=None):  # type: ignore[no-untyped-def]
        (raw / "sender.ready").write_text("1\n")
        raise RealRunError(why)

    monkeypatch.setattr("bondlab.real.runner.inner_run", inner_run)
    with pytest.raises(api.RealSetupError) as exc:
        api._locked_runs(_jobs(), tmp_path, "direct", quiet=True)
    msg = str(exc.value)
    assert msg.startswith(f"real run: {why}; marked incomplete: ") and "\n" not in msg
    [staging] = (tmp_path / "seed-quarter").iterdir()
    assert staging.name.startswith(".real-dwrr-1.partial-") and not (staging / MARKER).exists()
    assert json.loads((staging / INCOMPLETE).read_text())["reason"] == why
    with pytest.raises(IncompleteRunError):
        load_run(staging)
    assert find_runs(tmp_path) == [] and not (tmp_path / "seed-quarter" / "real-dwrr-1").exists()


def test_a_dead_vm_is_named_and_a_guest_fault_is_passed_on(tmp_path: Path, monkeypatch) -> None:
    """vng 255 with no word from the guest: the VM died. A fault file from the guest wins."""
    said: list[str] = []

    def run_in_vm(argv, **kw):  # type: ignore[no-untyped-def]
        assert argv[-1].startswith("@")  # the runs' raw dirs travel in a file, not the command line
        [raw] = map(Path, Path(argv[-1][1:]).read_text().split())
        (raw / "capture.ready").write_text("1\n")
        (raw / "sender.ready").write_text("1\n")
        if said:
            faults.write_fault(raw, said[0])
        return vm.VMResult(argv, 1 if said else 255, "", "")

    monkeypatch.setattr(vm, "run_in_vm", run_in_vm)
    with pytest.raises(api.RealSetupError) as exc:
        api._locked_runs(_jobs(), tmp_path, "vm", quiet=True)
    assert str(exc.value).startswith(
        "real run: the VM died (qemu killed or crashed: no exit status from the guest) "
        "part-way through seed-quarter dwrr (at "
    )
    said.append("the sender process died (SIGKILL) part-way through seed-quarter dwrr (at 3.0 s of 5 s)")
    with pytest.raises(api.RealSetupError) as exc:
        api._locked_runs(_jobs(), tmp_path, "vm", quiet=True)
    assert str(exc.value).startswith(f"real run: {said[0]}; marked incomplete: ")
    assert find_runs(tmp_path) == []


def test_sigterm_during_a_run_stops_it_with_one_line_and_status_143(tmp_path: Path, monkeypatch) -> None:
    def inner_run(scenario, scheduler, raw, inject=None):  # type: ignore[no-untyped-def]
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
        raise AssertionError("SIGTERM did not stop the run")

    monkeypatch.setattr("bondlab.real.runner.inner_run", inner_run)
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(api.RealStopped) as exc:
        with api._signals_raise():
            api._locked_runs(_jobs(), tmp_path, "direct", quiet=True)
    assert exc.value.exit_status == 143
    assert str(exc.value) == (
        "real run: stopped by SIGTERM during seed-quarter dwrr; the VM and every run process were stopped"
    )
    assert signal.getsignal(signal.SIGTERM) == before
    [staging] = (tmp_path / "seed-quarter").iterdir()
    assert json.loads((staging / INCOMPLETE).read_text())["reason"] == "stopped by SIGTERM"


def test_a_stalled_boot_is_booted_again_once_then_said_in_one_line(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    """vm.VMBootStalled: the host boots the VM again (saying so); a second stall ends the run with
    one line, the run incomplete."""
    boots: list[int] = []

    def run_in_vm(argv, **kw):  # type: ignore[no-untyped-def]
        boots.append(1)
        assert kw["started"]() is False and kw["boot_timeout_s"] == vm_batch.VM_BOOT_BUDGET_S
        raise vm.VMBootStalled(argv, kw["boot_timeout_s"])

    monkeypatch.setattr(vm, "run_in_vm", run_in_vm)
    with pytest.raises(api.RealSetupError) as exc:
        api._locked_runs(_jobs(), tmp_path, "vm", quiet=True)
    assert len(boots) == vm_batch.BOOT_ATTEMPTS == 2
    assert str(exc.value).startswith("real run: the VM did not start the runs within 300 s in 2 boots")
    assert "booting it again" in capsys.readouterr().err
    assert find_runs(tmp_path) == []


def test_the_guest_command_line_stays_short_however_many_runs(tmp_path: Path, monkeypatch) -> None:
    """vng hands the guest its command in the kernel command line (2048 bytes on x86): nine runs'
    paths overflowed it and the guest hung at boot. The raw directories go in a file instead."""
    seen = {}

    def run_in_vm(argv, **kw):  # type: ignore[no-untyped-def]
        seen["argv"] = argv
        seen["listed"] = Path(argv[-1][1:]).read_text().split()
        return vm.VMResult(argv, 1, "", "")

    monkeypatch.setattr(vm, "run_in_vm", run_in_vm)
    jobs = [
        (load_scenario(SCEN / "seed-quarter.yaml", ["duration_s=5"]), "dwrr", seed) for seed in range(1, 31)
    ]
    with pytest.raises(api.RealSetupError):
        api._locked_runs(jobs, tmp_path / ("deep" * 20), "vm", quiet=True)
    assert len(" ".join(seen["argv"])) < 300
    assert len(seen["listed"]) == 30 and all(p.endswith("/raw") for p in seen["listed"])
    assert not list((tmp_path / ("deep" * 20)).glob(".bondlab-guest-runs-*"))  # removed afterwards


def test_a_job_with_an_injected_fault_is_never_rerun(tmp_path: Path, monkeypatch) -> None:
    """inner.json carries each job's reruns: the default for a plain job, 0 for one with a fault."""
    seen = {}

    def run_in_vm(argv, **kw):  # type: ignore[no-untyped-def]
        for raw in map(Path, Path(argv[-1][1:]).read_text().split()):
            seen[raw.parent.name.split(".partial")[0]] = json.loads((raw / "inner.json").read_text())
        return vm.VMResult(argv, 1, "", "")

    monkeypatch.setattr(vm, "run_in_vm", run_in_vm)
    sc = load_scenario(SCEN / "seed-quarter.yaml", ["duration_s=5"])
    stall = {"stall": "sender", "at_s": 1.0, "for_s": 0.5}
    with pytest.raises(api.RealSetupError):
        api._locked_runs(
            [(sc, "dwrr", 1), (sc, "dwrr", 2)], tmp_path, "vm", quiet=True, injects=[None, stall]
        )
    assert seen[".real-dwrr-1"]["reruns"] == api.DEFAULT_RERUNS and seen[".real-dwrr-1"]["inject"] is None
    assert seen[".real-dwrr-2"]["reruns"] == 0 and seen[".real-dwrr-2"]["inject"] == stall


def test_a_failed_run_does_not_stop_its_batch(tmp_path: Path, monkeypatch) -> None:
    """Run 1 of 3 loses its receiver: runs 2 and 3 still run (a librist crash in one run of a
    compare must not cost the others). Each failed run is marked incomplete with its own line; the
    error names the first; partial=True returns each failure in its run's place instead."""
    ran: list[int] = []

    def inner_run(scenario, scheduler, raw, inject=None):  # type: ignore[no-untyped-def]
        seed = json.loads((raw.parent / "run.json").read_text())["seed"]
        ran.append(seed)
        raise RealRunError(f"the receiver process died (SIGSEGV) part-way through seed {seed}")

    monkeypatch.setattr("bondlab.real.runner.inner_run", inner_run)
    sc = load_scenario(SCEN / "seed-quarter.yaml", ["duration_s=5"])
    jobs = [(sc, "dwrr", seed) for seed in (1, 2, 3)]
    with pytest.raises(api.RealSetupError) as exc:
        api._locked_runs(jobs, tmp_path / "a", "direct", quiet=True)
    assert ran == [1, 2, 3]
    assert str(exc.value).startswith("real run: the receiver process died (SIGSEGV) part-way through seed 1;")
    for staging in (tmp_path / "a" / "seed-quarter").iterdir():
        seed = json.loads((staging / "run.json").read_text())["seed"]
        assert json.loads((staging / INCOMPLETE).read_text())["reason"].endswith(f"through seed {seed}")
    ran.clear()
    outs = api._locked_runs(jobs, tmp_path / "b", "direct", quiet=True, partial=True)
    assert ran == [1, 2, 3]
    assert [type(o) for o in outs] == [api.RealRunFailure] * 3
    assert [o.reason[-6:] for o in outs] == ["seed 1", "seed 2", "seed 3"]


def test_the_guest_goes_on_past_a_failed_run_and_says_so_in_its_status(tmp_path: Path, monkeypatch) -> None:
    """The VM's orchestrator: every run of the batch is tried, the failed one leaves its line for
    the host, and the status is 1 if any failed."""
    from bondlab.real import forked, runner

    monkeypatch.setattr(forked, "warm_up", lambda: None)
    raws = []
    sc = load_scenario(SCEN / "seed-quarter.yaml", ["duration_s=5"])
    for i in (1, 2):
        raw = tmp_path / f"run{i}" / "raw"
        raw.mkdir(parents=True)
        (raw / "inner.json").write_text(json.dumps({"scenario": sc.resolved(), "scheduler": "dwrr"}))
        raws.append(raw)
    ran: list[Path] = []

    def inner_run(scenario, scheduler, raw, inject=None):  # type: ignore[no-untyped-def]
        ran.append(raw)
        if raw == raws[0]:
            raise RealRunError("the sender process died (SIGKILL) part-way through run 1")

    monkeypatch.setattr(runner, "inner_run", inner_run)
    monkeypatch.setattr(runner.validity, "judge_raw", lambda raw: {"valid": True})
    assert runner.main([str(r) for r in raws]) == 1
    assert ran == raws
    assert faults.read_fault(raws[0]) == "the sender process died (SIGKILL) part-way through run 1"
    assert faults.read_fault(raws[1]) is None


def test_a_vm_that_dies_after_a_failed_run_is_named_for_the_run_it_died_in(
    tmp_path: Path, monkeypatch
) -> None:
    """Run 1 failed and said so; the VM then died during run 2: run 2 is where the VM died (not
    marked with run 1's fault), and the line says the VM died."""

    def run_in_vm(argv, **kw):  # type: ignore[no-untyped-def]
        first, second = map(Path, Path(argv[-1][1:]).read_text().split())
        faults.write_fault(first, "the receiver process died (SIGSEGV) part-way through run 1")
        (second / "sender.ready").write_text("1\n")
        return vm.VMResult(argv, 255, "", "")

    monkeypatch.setattr(vm, "run_in_vm", run_in_vm)
    sc = load_scenario(SCEN / "seed-quarter.yaml", ["duration_s=5"])
    with pytest.raises(api.RealSetupError) as exc:
        api._locked_runs([(sc, "dwrr", 1), (sc, "dwrr", 2)], tmp_path, "vm", quiet=True)
    assert str(exc.value).startswith("real run: the VM died (qemu killed or crashed"), exc.value
    reasons = {
        json.loads((s / "run.json").read_text())["seed"]: json.loads((s / INCOMPLETE).read_text())["reason"]
        for s in (tmp_path / "seed-quarter").iterdir()
    }
    assert reasons[1] == "the receiver process died (SIGSEGV) part-way through run 1"
    assert reasons[2].startswith("the VM died")
