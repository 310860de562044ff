"""The aggregated single-link bound: the bond's links merged into one link of their summed capacity.

Why: bonding can at best behave like one link carrying the sum of the links' capacities with the
best link's delay (no reordering, no per-link queues to balance, no link to misjudge). Running
the ordinary sender (DWRR, the scenario's rate controller) on that one link shows how much of
the gap to the oracle is the bond's own cost. It is a reference, not a proof of optimality: a
bound "in practice" for the sender as built.

The merged link is a mahimahi trace written from the true capacities (events, outages and
traces included; times 1 - the link's mean loss, as the oracle counts them) sampled every
`STEP_S`, with the smallest base delay of any link, no jitter, no loss and the links' queues
summed.
"""

from __future__ import annotations

from pathlib import Path

from bondlab.scenario import Scenario, parse_scenario
from bondlab.sim.link import SimLink
from bondlab.sim.oracle import mean_loss
from bondlab.traces import MTU_BYTES

SINGLE_LINK = "single-link"
TRACE_NAME = "single-link.up"
STEP_S = 0.1


def summed_opportunities(scenario: Scenario, seed: int) -> list[int]:
    """Millisecond timestamps of the merged link's 1500-byte opportunities (mahimahi lines)."""
    links = [SimLink(scenario, i, seed) for i in range(len(scenario.links))]
    horizon = scenario.duration_s + scenario.receiver.latency_ms / 1000.0 + 5.0
    step_ms = round(STEP_S * 1000)
    out: list[int] = []
    carry = 0.0
    for k in range(int(horizon / STEP_S) + 1):
        t = k * STEP_S
        bps = sum(link.capacity_bps(t) * (1 - mean_loss(link.state(t))) for link in links)
        due = bps * STEP_S / (MTU_BYTES * 8) + carry
        n = int(due)
        carry = due - n
        out.extend(k * step_ms + 1 + (j * step_ms) // n for j in range(n))
    return out or [1]


def single_link_scenario(scenario: Scenario, seed: int, trace_dir: Path) -> Scenario:
    """The one-link version of `scenario` (same name, encoder, receiver and bonding); its trace
    is written to `trace_dir`/single-link.up, which the returned scenario's base_dir points to."""
    trace_dir = Path(trace_dir)
    trace_dir.mkdir(parents=True, exist_ok=True)
    lines = summed_opportunities(scenario, seed)
    (trace_dir / TRACE_NAME).write_text("\n".join(str(t) for t in lines) + "\n")
    data = scenario.model_dump(mode="json", exclude={"base_dir", "events", "links"})
    data["links"] = [
        {
            "name": "bond",
            "trace": TRACE_NAME,
            "delay_ms": min(link.delay_ms for link in scenario.links),
            "queue_bytes": sum(link.queue_bytes for link in scenario.links),
        }
    ]
    return parse_scenario(data, f"{scenario.name} ({SINGLE_LINK})", trace_dir, scenario.name)
