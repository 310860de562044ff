"""The bonding sender in real time inside the sender namespace: core's SenderLoop on CLOCK_MONOTONIC,
over librist (real/transport.py). Started by the run's orchestrator (real/runner.py) as
`python -m bondlab.real.sender CONFIG OUT_DIR`; writes the sender's record for assembly.
"""

from __future__ import annotations

import json
import logging
import resource
import signal
import sys
import time
from pathlib import Path
from typing import Any

from bondlab.core.sender_loop import SenderLoop
from bondlab.real.proc import signal_ready, start_process
from bondlab.real.transport import HANDSHAKE_TIMEOUT_S, WARMUP_LEAD_S, RealTransport
from bondlab.scenario import parse_scenario

log = logging.getLogger("bondlab.real.sender")


class RealSender:
    def __init__(self, config: dict[str, Any]) -> None:
        sc = config["scenario"]
        self.scenario = parse_scenario(dict(sc), "run config", Path(sc["base_dir"]), sc["name"])
        names = [link.name for link in self.scenario.links]
        interval_ms = int(self.scenario.bonding.stats_interval_ms)
        self.transport = RealTransport(config, len(names), names, interval_ms)
        self.loop = SenderLoop(
            self.scenario, config["scheduler"], self.transport, weights_only=self.transport.weighted
        )
        self.config = config
        self.stop = False
        self.started = time.monotonic()  # main() sets when the process started, for _log_phases

    def run(self) -> dict[str, Any]:
        t0 = float(self.config["start_at"])
        self.transport.t0 = t0
        period = 1.0 / self.loop.encoder.fps
        # Warm the flows up again just before the first frame: 1.5 s after the first warm-up
        # librist's receiver had let a flow idle and dropped the run's very first packet (VM).
        for until, warm in ((t0 - WARMUP_LEAD_S, True), (t0, False)):
            while time.monotonic() < until and not self.stop:
                time.sleep(min(0.05, max(until - time.monotonic(), 0.0)))
            if warm and not self.stop:
                self.transport.warm_up()
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        wall0 = time.monotonic()
        late_frames, lags = 0, []
        while not self.stop and (due := self.loop.next_due()) is not None:
            now = time.monotonic() - t0
            if due > now:
                time.sleep(due - now)
                now = time.monotonic() - t0
            frame_t = self.loop.next_frame_t()
            if frame_t is not None and now - frame_t > period:
                late_frames += 1  # this process fell behind real time: say so (real/validity.py)
                lags.append(round(now - frame_t, 4))
            self.loop.step(now)
        wall = time.monotonic() - wall0
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
        summary = self.loop.record.as_dict()
        summary.pop("frames")  # frames.json
        return {
            **summary,
            "retransmissions": self.transport.retransmissions,
            "frames_behind_real_time": late_frames,
            "late_frame_lags_s": lags,  # each of those lags (real/validity.py judges them)
            "cpu_s": round(cpu, 3),
            "wall_s": round(wall, 3),
            "cpu_cores": round(cpu / wall, 3) if wall else None,
        }


def main(argv: list[str] | None = None) -> int:
    """`python -m bondlab.real.sender CONFIG.json OUT_DIR`: run, then write sender.json and frames."""
    args = sys.argv[1:] if argv is None else argv
    started = time.monotonic()
    config, out = start_process(args, "sender")
    sender = RealSender(config)
    sender.started = started

    def _stop(signum: int, frame: object) -> None:
        sender.stop = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        return _run(sender, out)
    except Exception as exc:  # one line for the orchestrator, the traceback in sender.log
        log.exception("sender failed")
        print(f"error: sender: {exc}", file=sys.stderr)
        return 1


def _log_phases(started: float, ends: dict[str, float]) -> None:
    """How long each start-up phase took: in the TCG VM start-ups were most of a run's overhead."""
    last, parts = started, []
    for name, end in ends.items():
        parts.append(f"{name} {end - last:.1f} s")
        last = end
    log.info("start-up: %s", ", ".join(parts))


def _run(sender: RealSender, out: Path) -> int:
    config = sender.config
    # Start after librist's handshakes (data before them is dropped at the receiver; in the TCG VM
    # they take seconds), plus a margin; the orchestrator times link changes from this instant.
    try:
        phases = {"set-up": time.monotonic()}
        sender.transport.open()
        phases["librist contexts"] = time.monotonic()
        if not sender.transport.wait_for_handshakes(HANDSHAKE_TIMEOUT_S):
            log.warning("not every link answered within %.0f s; starting anyway", HANDSHAKE_TIMEOUT_S)
        phases["handshakes"] = time.monotonic()
        sender.transport.warm_up()
        phases["warm-up"] = time.monotonic()
        _log_phases(sender.started, phases)
        sender.config["start_at"] = time.monotonic() + float(config.get("start_delay_s", 1.5))
        signal_ready(out / "sender.ready", repr(sender.config["start_at"]))
        summary = sender.run()
    finally:
        sender.transport.close()
    record = sender.loop.record
    names = [link.name for link in sender.scenario.links]
    ts = dict(record.timeseries)
    ts["link"] = [names[i] for i in ts.get("link", [])]
    (out / "frames.json").write_text(json.dumps(record.frames))
    (out / "sender-timeseries.json").write_text(json.dumps(ts))
    (out / "sender.json").write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
