"""Registry of schedulers: one name each, with the display name and colour every plot uses.

Core's own schedulers only: anything that reads link state (the sim's oracle) registers itself
from its backend, so importing core never imports the sim. Code outside core that lists or
makes schedulers by name imports bondlab.schedulers, which has them all."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bondlab.core.schedulers.base import FeedbackScheduler, LinkFeedback, Scheduler
from bondlab.core.schedulers.blest import Blest
from bondlab.core.schedulers.dwrr import DeficitWeightedRoundRobin
from bondlab.core.schedulers.edpf import Edpf
from bondlab.core.schedulers.minrtt import MinRtt
from bondlab.core.schedulers.redundant import Redundant
from bondlab.core.schedulers.rr import RoundRobin
from bondlab.core.schedulers.srtla import Srtla


@dataclass(frozen=True)
class SchedulerInfo:
    name: str
    display: str
    color: str
    factory: Callable[[int, int, float], Scheduler]  # (n_links, quantum_bytes, max_credit_quanta)
    backends: tuple[str, ...] = ("sim", "real")
    description: str = ""


SCHEDULERS: dict[str, SchedulerInfo] = {
    "rr": SchedulerInfo(
        "rr",
        "Round-robin",
        "#d95f02",
        lambda n, q, c: RoundRobin(n),
        description="blind rotation over every link, the baseline",
    ),
    "dwrr": SchedulerInfo(
        "dwrr",
        "DWRR",
        "#1b9e77",
        lambda n, q, c: DeficitWeightedRoundRobin(n, q, c),
        description="deficit weighted round robin by capacity x health x backlog",
    ),
    # librist's own multi-peer weighted mode: librist splits packets; core only sets peer weights.
    "rist-weighted": SchedulerInfo(
        "rist-weighted",
        "librist weighted",
        "#7570b3",
        lambda n, q, c: DeficitWeightedRoundRobin(n, q, c),
        ("real",),
        description="librist splits packets itself by the weights core sets",
    ),
    "minrtt": SchedulerInfo(
        "minrtt",
        "minRTT",
        "#e7298a",
        lambda n, q, c: MinRtt(n),
        description="lowest smoothed RTT with room in its window (Linux MPTCP default)",
    ),
    "edpf": SchedulerInfo(
        "edpf",
        "EDPF",
        "#66a61e",
        lambda n, q, c: Edpf(n),
        description="earliest expected arrival; holds packets no link delivers by the deadline",
    ),
    "blest": SchedulerInfo(
        "blest",
        "BLEST",
        "#e6ab02",
        lambda n, q, c: Blest(n),
        description="minRTT that skips a slow link whose packet would land after the fast link's",
    ),
    "srtla": SchedulerInfo(
        "srtla",
        "srtla",
        "#a6761d",
        lambda n, q, c: Srtla(n),
        description="SRT link aggregation: window 1..60 grown by ACKs, cut by NAKs",
    ),
    "redundant": SchedulerInfo(
        "redundant",
        "Redundant I-frames",
        "#666666",
        lambda n, q, c: Redundant(n, q, c),
        description="I-frame packets on the two healthiest links, the rest by DWRR",
    ),
    "redundant-all": SchedulerInfo(
        "redundant-all",
        "Redundant all",
        "#1f78b4",
        lambda n, q, c: Redundant(n, q, c, every_packet=True),
        description="every packet on the two healthiest links",
    ),
}
DEFAULT_SCHEDULER = "dwrr"


def register_scheduler(info: SchedulerInfo) -> None:
    """Add a scheduler defined outside core: the sim registers its oracle (bondlab/sim/oracle.py),
    which reads link state and so cannot live here. bondlab.schedulers is the full registry."""
    if info.name in SCHEDULERS and SCHEDULERS[info.name] != info:
        raise ValueError(f"scheduler {info.name!r} is already registered")
    SCHEDULERS[info.name] = info


def scheduler_names(backend: str = "sim") -> list[str]:
    return [name for name, info in SCHEDULERS.items() if backend in info.backends]


def make_scheduler(
    name: str, n_links: int, quantum_bytes: int = 1500, max_credit_quanta: float = 2.0
) -> Scheduler:
    try:
        info = SCHEDULERS[name]
    except KeyError:
        raise ValueError(f"unknown scheduler {name!r} (choose from {', '.join(SCHEDULERS)})") from None
    return info.factory(n_links, quantum_bytes, max_credit_quanta)


__all__ = [
    "DEFAULT_SCHEDULER",
    "SCHEDULERS",
    "FeedbackScheduler",
    "LinkFeedback",
    "Scheduler",
    "SchedulerInfo",
    "make_scheduler",
    "register_scheduler",
    "scheduler_names",
]
