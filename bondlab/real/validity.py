"""Whether a real run measured the network: a run that fell behind its own clock measured the CPU.

A real run replays a scenario in real time. When the machine cannot keep up (the TCG VM is
about 10x slower than the host), frames leave late, the capture socket drops packets and link
changes land after their time: the run's figures then describe the CPU, and no claim about a
sender may rest on them. Every real run is judged here from its raw files, and one that crossed
any limit below is `valid: false` with `invalid_reason` (metrics.json, the report, the CLI's last
line); `calibrate`, `compare`, sweeps, `regress` and the real tests rerun it instead of using it.

The limits, and why these values:
- LATE_FRAME_S, LATE_FRAME_SHARE: frames the sender handed over more than 100 ms after their
  capture time, as a share of all frames: at most 2 %. Not one frame period (33 ms): the TCG VM
  wakes a sleeping process 30-60 ms late at times with nothing wrong (a black-hole run with 66
  frames over a period late still matched the sim's goodput and decodable exactly), while a
  frame 100 ms late has moved against its deadline by a tenth of a second latency, and a few
  of those (a page fault, a GC pause) do not move a run's ratios by a point.
- MAX_FRAME_LAG_S: the worst lag. 0.25 s: a sixth of the seed's 1.5 s playout latency; a stall
  that long moves a GOP's frames against their deadlines by itself.
- CAPTURE_DROP_SHARE: packets the capture socket's buffer dropped (the kernel's count), as a
  share of distinct packets on the wire. 0.1 %: each is a packet whose first arrival is unknown
  (judged by librist's later release time instead).
- MAX_SHAPING_LATE_S: the latest a link change (event, trace step) was applied after its planned
  time. 0.1 s: one stats interval, the controller's own resolution.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

LATE_FRAME_S = 0.1
LATE_FRAME_SHARE = 0.02
MAX_FRAME_LAG_S = 0.25
CAPTURE_DROP_SHARE = 0.001
MAX_SHAPING_LATE_S = 0.1


def judge_run(
    sender: dict[str, Any], wire_info: dict[str, Any], shaping_log: dict[str, Any], frames: int, on_wire: int
) -> dict[str, Any]:
    """{valid, invalid_reason, and the figures judged} from a run's sender.json, wire.json and
    shaping.json (see the module docstring for the limits). Older raw files that lack a figure
    are judged on the ones they have."""
    lags = [float(x) for x in sender.get("late_frame_lags_s", [])]
    late = sum(x > LATE_FRAME_S for x in lags)
    lag = max(lags, default=0.0)
    drops = int(sum(wire_info.get("kernel_drops", [])))
    lateness = [c["applied"] - c["t"] for c in shaping_log.get("changes", []) if "applied" in c]
    shaping_late = max(lateness, default=0.0)
    shaping_p99 = float(np.percentile(lateness, 99)) if lateness else 0.0
    reasons = []
    if frames and late / frames > LATE_FRAME_SHARE:
        reasons.append(
            f"{late} of {frames} frames sent over {LATE_FRAME_S * 1000:.0f} ms late "
            f"(limit {LATE_FRAME_SHARE:.0%})"
        )
    if lag > MAX_FRAME_LAG_S:
        reasons.append(f"a frame sent {lag * 1000:.0f} ms late (limit {MAX_FRAME_LAG_S * 1000:.0f} ms)")
    if on_wire and drops / on_wire > CAPTURE_DROP_SHARE:
        reasons.append(f"the capture dropped {drops} of {on_wire} packets (limit {CAPTURE_DROP_SHARE:.1%})")
    if shaping_late > MAX_SHAPING_LATE_S:
        reasons.append(
            f"a link change applied {shaping_late * 1000:.0f} ms late "
            f"(limit {MAX_SHAPING_LATE_S * 1000:.0f} ms)"
        )
    reason = None
    if reasons:
        reason = "the machine could not keep up (this run measured the CPU, not the network): " + "; ".join(
            reasons
        )
    return {
        "valid": not reasons,
        "invalid_reason": reason,
        "frames_late": late,
        "frame_lag_max_ms": round(lag * 1000.0, 1),
        "capture_drops": drops,
        "shaping_late_max_ms": round(shaping_late * 1000.0, 1),
        "shaping_late_p99_ms": round(shaping_p99 * 1000.0, 1),
        "shaping_steps": len(lateness),
    }


def judge_raw(raw: Path) -> dict[str, Any]:
    """judge_run over an inner run's raw directory (in the VM, to decide on a rerun; on the host,
    at assembly)."""
    sender = json.loads((raw / "sender.json").read_text())
    wire_info = json.loads((raw / "wire.json").read_text())
    shaping_log = json.loads((raw / "shaping.json").read_text())
    frames = len(json.loads((raw / "frames.json").read_text()))
    on_wire = len(np.load(raw / "wire.npy"))
    return judge_run(sender, wire_info, shaping_log, frames, on_wire)


ATTEMPT_PREFIX = "invalid-attempt-"
KEEP = ("inner.json",)  # what a rerun needs from the raw directory


def set_aside(raw: Path, reason: str) -> Path:
    """Move an invalid attempt's raw files into raw/invalid-attempt-N/ (kept as evidence, with its
    reason in reason.txt) so that the rerun writes a clean raw directory."""
    n = len(list(raw.glob(ATTEMPT_PREFIX + "*"))) + 1
    dest = raw / f"{ATTEMPT_PREFIX}{n}"
    dest.mkdir()
    for path in list(raw.iterdir()):
        if path.name not in KEEP and not path.name.startswith(ATTEMPT_PREFIX):
            path.rename(dest / path.name)
    (dest / "reason.txt").write_text(reason + "\n")
    return dest


def earlier_attempts(raw: Path) -> list[str]:
    """The invalid reasons of the attempts set aside before this one, in order."""
    dirs = sorted(raw.glob(ATTEMPT_PREFIX + "*"), key=lambda p: int(p.name.removeprefix(ATTEMPT_PREFIX)))
    return [(d / "reason.txt").read_text().strip() for d in dirs if (d / "reason.txt").exists()]
