"""Encoder bitrate controllers behind one interface, chosen by `bonding.rate_controller`.

* `headroom` (default): core/rate_control.py, the counted capacity over a headroom.
* `forecast`: what each link will deliver within the playout latency (core/forecast.py). It beats
  headroom in the sim on the bundled scenarios; not the default until real runs confirm it.
* `ladder`: belacoder's RTT and send-backlog ladder (core/ladder.py).
* `aimd`: multiplicative cut on sustained pressure, additive climb (core/aimd.py).
* `none`: no messages; the encoder keeps its start bitrate (also `rate_control: false`).

Every controller gets, once per stats interval, the bond's counted capacity and `RateSignals`:
only what the sender's feedback shows (echo RTTs, its own sends against the receiver's reports).
"""

from __future__ import annotations

from typing import Any, Protocol

from bondlab.core.rate_control import CongestionControl, RateController, RateSignals  # noqa: F401 (API)

RATE_CONTROLLERS = ("headroom", "forecast", "ladder", "aimd", "none")


class BitrateController(Protocol):
    bitrate: int
    headroom: float  # the start estimate of each link is its share of bitrate x headroom
    reads_signals: bool  # False: `update` gets signals=None (they cost a tenth of each tick)

    def update(
        self, t: float, total_capacity_bps: float, signals: RateSignals | None = None
    ) -> CongestionControl | None: ...


def make_rate_controller(scenario: Any) -> BitrateController | None:
    """The scenario's controller (None for `none` or `rate_control: false`); duck-typed scenario."""
    b, e = scenario.bonding, scenario.encoder
    name = getattr(b, "rate_controller", "headroom") if b.rate_control else "none"
    if name == "none":
        return None
    if name == "headroom":
        return RateController(
            e.start_bitrate_bps,
            e.min_bitrate_bps,
            e.max_bitrate_bps,
            b.headroom,
            b.raise_hold_s,
            b.raise_step,
        )
    if name == "forecast":
        from bondlab.core.forecast import ForecastController

        return ForecastController(
            len(scenario.links),
            e.start_bitrate_bps,
            e.min_bitrate_bps,
            e.max_bitrate_bps,
            scenario.receiver.latency_ms / 1000.0,
            b.stats_interval_ms / 1000.0,
            e.reaction_delay_ms / 1000.0,
            b.headroom,
        )
    if name == "ladder":
        from bondlab.core.ladder import LadderController

        return LadderController(
            e.start_bitrate_bps,
            e.min_bitrate_bps,
            e.max_bitrate_bps,
            scenario.receiver.latency_ms,
            e.packet_bytes,
            b.headroom,
        )
    if name == "aimd":
        from bondlab.core.aimd import AimdController

        return AimdController(e.start_bitrate_bps, e.min_bitrate_bps, e.max_bitrate_bps, b.headroom)
    raise ValueError(f"unknown rate controller {name!r} (choose from {', '.join(RATE_CONTROLLERS)})")
