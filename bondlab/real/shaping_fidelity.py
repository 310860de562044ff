"""Where the kernel emulation departs from a scenario (and from the sim): `check_expressible`.

Why a module of its own: building the qdiscs (bondlab.real.shaping) never refuses a scenario; this
reads a whole scenario (its event timeline and its traces) and says, one line per issue, what tc
cannot set or only approximates: real/api.py's `check_scenario` refuses a run on the first kind
and warns about the rest, and calibration shows them as known approximations.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bondlab.real.shaping import ETH_HEADER_BYTES, IP_UDP_RTP_BYTES, MIN_RATE_BPS, RATE_FLOOR_BPS, STEP_S
from bondlab.scenario import GilbertSpec, Scenario
from bondlab.timeline import link_timeline, trace_segments
from bondlab.traces import load_trace

_NETEM_FIELDS = ("delay_ms", "jitter_ms", "loss", "gilbert", "up")
LOSS_PLACEMENT_REPORT = 0.05  # mean loss from which dropping before the bottleneck is worth a line


def _mean_loss(state: Mapping[str, Any]) -> float:
    """Long-run loss probability of a link state (Gilbert chain at its stationary distribution)."""
    p = float(state["loss"])
    g = state["gilbert"]
    if g is None:
        return p
    if isinstance(g, GilbertSpec):
        g = g.model_dump()
    bad = g["p_good_bad"] / (g["p_good_bad"] + g["p_bad_good"])
    chain = bad * g["loss_bad"] + (1 - bad) * g["loss_good"]
    return 1 - (1 - chain) * (1 - p)


def _where(i: int, field: str, t: float) -> str:
    return f"links[{i}].{field}" + ("" if t == 0 else f" (from t={t:g} s, set by an event)")


def check_expressible(scenario: Scenario) -> list[str]:
    """Where the kernel emulation departs from the scenario (and the sim): one line per issue.

    An empty list means the real backend reproduces the scenario up to the approximations that
    bondlab.real.shaping's docstring lists for every link (100 ms trace windows, frame vs. IP byte
    counting, jitter and loss placed before the bottleneck). Jitter larger than the delay is
    expressible: netem and the sim both send a negative draw at once. Reported: capacities tc
    cannot set or htb follows sluggishly, loss high enough for its placement to matter (>= 5%),
    outages (the queue trickles), Gilbert-Elliott chains that events restart, and trace windows
    without any delivery opportunity.
    """
    pkt = scenario.encoder.packet_bytes
    frame = pkt + IP_UDP_RTP_BYTES + ETH_HEADER_BYTES
    out: list[str] = []
    for i, link in enumerate(scenario.links):
        timeline = link_timeline(scenario, link.name)
        seen: set[str] = set()

        def note(key: str, message: str, seen: set[str] = seen) -> None:
            if key not in seen:
                seen.add(key)
                out.append(message)

        for t, st in timeline:
            cap = st["capacity_bps"]
            if cap is not None and cap < MIN_RATE_BPS:
                note(
                    "cap0",
                    f"{_where(i, 'capacity_bps', t)}: {cap:g} bit/s is below 8 bit/s; tc rates "
                    "are whole bytes per second, so it cannot be set",
                )
            elif cap is not None and cap < RATE_FLOOR_BPS:
                note(
                    "caplow",
                    f"{_where(i, 'capacity_bps', t)}: at {cap:g} bit/s one {frame}-byte frame "
                    f"takes {frame * 8 / cap:.2f} s and htb applies a later rate change only after the "
                    "frame in service has left",
                )
            mean_loss = _mean_loss(st)
            if mean_loss >= LOSS_PLACEMENT_REPORT:
                field = "gilbert" if st["gilbert"] is not None else "loss"
                note(
                    "loss",
                    f"{_where(i, field, t)}: netem drops before the bottleneck, so lost packets "
                    "do not use capacity (in the sim they do): a saturated link delivers "
                    f"{mean_loss:.0%} more",
                )
            if not st["up"]:
                note(
                    "down",
                    f"{_where(i, 'up', t)}: while down, packets already queued trickle out at "
                    f"{RATE_FLOOR_BPS / 1000:.0f} kbit/s instead of all waiting (htb cannot stop)",
                )
        if link.gilbert is not None or any(st["gilbert"] is not None for _, st in timeline):
            resets = [
                t
                for (t, st), (_, prev) in zip(timeline[1:], timeline[:-1], strict=True)
                if st["gilbert"] is not None and any(st[f] != prev[f] for f in _NETEM_FIELDS)
            ]
            if resets:
                times = ", ".join(f"{t:g}" for t in resets)
                out.append(
                    f"links[{i}].gilbert: each change of delay/jitter/loss/gilbert/up restarts "
                    f"netem's Gilbert-Elliott chain in the good state (at t={times} s)"
                )
        for start, end, seg_state, trace_t in trace_segments(scenario, link.name):
            trace = seg_state["trace"]
            try:
                tr = load_trace(scenario.trace_path(trace))
            except (OSError, ValueError) as exc:
                out.append(f"links[{i}].trace: cannot read {trace}: {exc}")
                continue
            rates = tr.rate_series_bps(trace_t, end - start, STEP_S)
            zero = int((rates <= 0).sum())
            if zero:
                where = f"links[{i}].trace" + ("" if start == 0 else f" (from t={start:g} s)")
                out.append(
                    f"{where}: {zero} of {len(rates)} {STEP_S * 1000:.0f} ms windows have no delivery "
                    f"opportunity; they run at the {RATE_FLOOR_BPS / 1000:.0f} kbit/s floor "
                    "(one frame per window)"
                )
    return out
