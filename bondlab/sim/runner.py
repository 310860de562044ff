"""Runs one scenario in SimPy: core's sender loop on SimPy's clock, over the sim's transport.

SimPy drives the sender loop (frames and stats ticks), the echoes, the receiver's reports and the
ARQ's NACKs and resends; a packet's path through its link is computed when it is sent (see
service.py), so there is no SimPy process per packet.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import simpy

from bondlab.core.metrics import build_metrics
from bondlab.core.receiver import BondedReceiver, frame_table
from bondlab.core.sender_loop import SenderLoop
from bondlab.scenario import Scenario
from bondlab.sim.columns import Columns
from bondlab.sim.oracle import ORACLE, attach_oracle  # importing it registers "oracle"
from bondlab.sim.transport import SimTransport

ProgressFn = Callable[[float], None]


@dataclass
class RunResult:
    metrics: dict[str, Any]
    timeseries: pd.DataFrame
    messages: list[dict[str, Any]] = field(default_factory=list)
    delays_ms: np.ndarray = field(default_factory=lambda: np.zeros(0))
    frames: pd.DataFrame | None = None  # per frame outcome (results.write_outputs: frames.parquet)
    delay_capture_s: np.ndarray | None = None  # capture time of each delay's packet

    def outputs(self) -> dict[str, Any]:
        """What results.write_outputs takes besides the directory, as keywords."""
        return {
            "metrics": self.metrics,
            "timeseries": self.timeseries,
            "messages": self.messages,
            "delays_ms": self.delays_ms,
            "frames": self.frames,
            "delay_capture_s": self.delay_capture_s,
        }


class SimRun:
    def __init__(
        self, scenario: Scenario, scheduler: str, seed: int | None = None, progress: ProgressFn | None = None
    ) -> None:
        self.scenario = scenario
        self.seed = scenario.seed if seed is None else seed
        self.env = simpy.Environment()
        self.receiver = BondedReceiver(scenario.receiver.latency_ms, reorder=False)
        self.transport = SimTransport(self.env, scenario, self.seed, self.receiver)
        self._progress = progress
        self.loop = SenderLoop(scenario, scheduler, self.transport, progress=self._tick_done)
        # A long run keeps a timeseries row per interval and link and a record per frame: in typed
        # columns they cost a quarter of the row tuples (sim/columns.py): same rows, same frame.
        self._rows = self.loop.record.rows = Columns()  # type: ignore[assignment]
        self._frames = self.loop.record.frames = Columns(5)  # type: ignore[assignment]
        self.controller = self.loop.controller
        if scheduler == ORACLE:  # the one run that may read link state (bondlab/sim/oracle.py)
            attach_oracle(self)

    @property
    def packets_sent(self) -> int:
        return self.loop.record.packets_sent

    @property
    def retransmissions(self) -> int:
        return self.transport.retransmissions

    def _tick_done(self, t: float) -> None:
        """After each stats tick: settle the stored rows, then the caller's progress hook."""
        self._rows.settle()
        self._frames.settle()
        if self._progress is not None:
            self._progress(t)

    def _sender(self):  # type: ignore[no-untyped-def]
        env, loop = self.env, self.loop
        while (due := loop.next_due()) is not None:
            if due > env.now:
                yield env.timeout(due - env.now)
            loop.step(env.now)

    def run(self) -> RunResult:
        sc = self.scenario
        self.transport.start()
        self.env.process(self._sender())
        self.env.run(until=sc.duration_s + sc.receiver.latency_ms / 1000.0 + 1.0)
        return self._result()

    def _result(self) -> RunResult:
        sc = self.scenario
        record = self.loop.record
        report = self.receiver.report()
        rows = record.rows
        cols = rows.as_columns(record.columns) if isinstance(rows, Columns) else record.timeseries
        ts = pd.DataFrame(cols)
        names = [link.name for link in sc.links]
        cap_share = None
        if len(ts):
            ts["link"] = pd.Categorical.from_codes(ts["link"].to_numpy(), categories=names)
            # Mean true capacity per link (every link has one row per interval, so sums compare).
            cap = np.bincount(cols["link"], weights=cols["capacity_bps"])
            cap_share = [float(c / cap.sum()) for c in cap] if cap.sum() else None
        metrics = build_metrics(
            report,
            record,
            sc.duration_s,
            self.transport.retransmissions,
            names,
            link_capacity_share=cap_share,
        )
        return RunResult(
            metrics,
            ts,
            list(record.messages),
            report.delays_ms,
            frame_table(report, 0.0),
            report.delay_capture_t,
        )


def run_sim(
    scenario: Scenario, scheduler: str, seed: int | None = None, progress: ProgressFn | None = None
) -> RunResult:
    """Simulate `scenario` with `scheduler`; same scenario and seed give the same metrics."""
    return SimRun(scenario, scheduler, seed, progress).run()
