"""Run validity (real/validity.py) and the stall fault, without a VM: each limit makes a run
invalid on its own and says so; invalid attempts are set aside for a rerun; the injector stops
and continues a process on cue."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from bondlab.real import faults, validity

GOOD_SENDER = {"frames_behind_real_time": 3, "late_frame_lags_s": [0.05, 0.04, 0.12]}
GOOD_WIRE = {"kernel_drops": [0, 1]}
GOOD_SHAPING = {"t0": 0.0, "changes": [{"t": 0.0, "link": "a"}, {"t": 8.0, "link": "a", "applied": 8.03}]}


def judged(sender=GOOD_SENDER, wire=GOOD_WIRE, shaping=GOOD_SHAPING, frames=600, on_wire=15000):
    return validity.judge_run(sender, wire, shaping, frames, on_wire)


def test_a_run_within_every_limit_is_valid_and_keeps_its_figures() -> None:
    v = judged()
    assert v == {
        "valid": True,
        "invalid_reason": None,
        "frames_late": 1,
        "frame_lag_max_ms": 120.0,
        "capture_drops": 1,
        "shaping_late_max_ms": 30.0,
        "shaping_late_p99_ms": 30.0,
        "shaping_steps": 1,
    }


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"sender": {"late_frame_lags_s": [0.05] * 40 + [0.11] * 13}}, "13 of 600 frames sent over 100 ms"),
        ({"sender": {"late_frame_lags_s": [0.05, 0.3]}}, "a frame sent 300 ms late"),
        ({"wire": {"kernel_drops": [10, 6]}}, "the capture dropped 16 of 15000 packets"),
        (
            {"shaping": {"changes": [{"t": 8.0, "link": "a", "applied": 8.15}]}},
            "a link change applied 150 ms late",
        ),
    ],
    ids=["late-frames", "worst-lag", "capture-drops", "shaping-late"],
)
def test_each_limit_alone_makes_a_run_invalid_and_says_which(change: dict, said: str) -> None:
    v = judged(**change)
    assert v["valid"] is False
    assert v["invalid_reason"].startswith("the machine could not keep up")
    assert said in v["invalid_reason"]


def test_the_limits_are_the_documented_ones_at_their_edges() -> None:
    at_edge = {"late_frame_lags_s": [0.1] * 100 + [0.2] * 11 + [validity.MAX_FRAME_LAG_S]}
    assert judged(sender=at_edge)["valid"]  # 12 / 600 = 2 % over 100 ms: not over; 100 ms is not over
    assert not judged(sender={"late_frame_lags_s": [0.2] * 13})["valid"]
    assert judged(wire={"kernel_drops": [15]})["valid"]  # 0.1 % of 15000
    assert not judged(wire={"kernel_drops": [16]})["valid"]


def test_invalid_attempts_are_set_aside_with_their_reasons(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "inner.json").write_text("{}")
    for k, reason in enumerate(("first", "second")):
        (raw / "sender.json").write_text(json.dumps({"k": k}))
        np.save(raw / "wire.npy", np.zeros(3))
        dest = validity.set_aside(raw, reason)
        assert dest.name == f"invalid-attempt-{k + 1}"
        assert (dest / "sender.json").exists() and not (raw / "sender.json").exists()
        assert (raw / "inner.json").exists()
    assert validity.earlier_attempts(raw) == ["first", "second"]
    assert sorted(p.name for p in raw.iterdir()) == ["inner.json", "invalid-attempt-1", "invalid-attempt-2"]


def test_stall_injections_parse_and_bad_ones_are_one_line() -> None:
    assert faults.parse_injection("stall:sender@3+0.5") == {"stall": "sender", "at_s": 3.0, "for_s": 0.5}
    assert faults.parse_injection("receiver@2") == {"kill": "receiver", "at_s": 2.0}
    for bad in ("stall:encoder@1", "sender@soon", "stall:sender@1+0"):
        with pytest.raises(ValueError, match="expected PROCESS@SECONDS"):
            faults.parse_injection(bad)


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_the_stall_injector_stops_then_continues_the_process() -> None:
    proc = subprocess.Popen(["sleep", "30"])
    try:
        t0 = time.monotonic()
        tick = faults.injector({"stall": "sender", "at_s": 0.1, "for_s": 0.3}, {"sender": proc}, t0)
        states = []
        while time.monotonic() < t0 + 0.6:
            tick()
            states.append(_state(proc.pid))
            time.sleep(0.02)
        assert states[0] != "T" and "T" in states and states[-1] != "T"
        stopped = [s == "T" for s in states]
        assert stopped.index(True) < len(stopped) - stopped[::-1].index(True)  # one stretch, then running
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("valid_on", [1, 2, None], ids=["first", "second-try", "never"])
def test_an_invalid_run_is_rerun_a_bounded_number_of_times(monkeypatch, tmp_path: Path, valid_on) -> None:
    """runner.run_until_valid: reruns while invalid, at most `reruns` more times, setting each
    invalid attempt aside; the last attempt stays in raw/ whatever it was."""
    from bondlab.real import runner

    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "inner.json").write_text("{}")
    calls = []

    def fake_inner_run(scenario, scheduler, out_dir, inject=None):  # type: ignore[no-untyped-def]
        calls.append(len(calls) + 1)
        (out_dir / "sender.json").write_text(json.dumps({"attempt": len(calls)}))

    def fake_judge(out_dir: Path) -> dict:
        n = json.loads((out_dir / "sender.json").read_text())["attempt"]
        ok = valid_on is not None and n >= valid_on
        return {"valid": ok, "invalid_reason": None if ok else f"late #{n}"}

    monkeypatch.setattr(runner, "inner_run", fake_inner_run)
    monkeypatch.setattr(validity, "judge_raw", fake_judge)
    scenario = type("S", (), {"name": "x"})()
    runner.run_until_valid(scenario, "dwrr", raw, None, reruns=2)
    tries = {1: 1, 2: 2, None: 3}[valid_on]
    assert calls == list(range(1, tries + 1))
    assert validity.earlier_attempts(raw) == [f"late #{k}" for k in range(1, tries)]
    assert json.loads((raw / "sender.json").read_text())["attempt"] == tries


def test_keepup_counts_the_valid_runs_and_prints_each(monkeypatch, capsys, tmp_path: Path) -> None:
    """`python -m bondlab.real.keepup`: N runs, no reruns, one line each and the count of valid ones."""
    from bondlab.real import api, keepup
    from bondlab.real.api import RealRunOutput

    asked = {}

    def fake_runs(jobs, results, quiet=False, reruns=2):  # type: ignore[no-untyped-def]
        asked.update(n=len(jobs), reruns=reruns, seeds=[j[2] for j in jobs])
        outs = []
        for _sc, _s, seed in jobs:
            v = {"frames_late": 0 if seed != 2 else 30, "frame_lag_max_ms": 40.0, "capture_drops": 0}
            real = {"validity": v, "cpu_cores": 0.4, "cpu_s_per_mbit": 0.05}
            m = {"valid": seed != 2, "real": real, "goodput_bps": 7.5e6, "decodable_ratio": 1.0}
            outs.append(RealRunOutput(tmp_path / f"r{seed}", m))
        return outs

    monkeypatch.setattr(api, "real_runs", fake_runs)
    from conftest import ROOT

    assert (
        keepup.main(
            [str(ROOT / "tests/real/scenarios/seed-full.yaml"), "--runs", "3", "--results", str(tmp_path)]
        )
        == 0
    )
    out = capsys.readouterr().out.splitlines()
    assert asked == {"n": 3, "reruns": 0, "seeds": [1, 2, 3]}
    assert out[1].startswith("seed  2: INVALID") and out[0].startswith("seed  1: valid")
    assert out[-1].startswith("seed-full dwrr: 2 of 3 runs valid")
