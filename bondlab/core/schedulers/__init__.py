"""Registry of schedulers: one name each, with the display name and colour every plot uses."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bondlab.core.schedulers.base import Scheduler
from bondlab.core.schedulers.dwrr import DeficitWeightedRoundRobin
from bondlab.core.schedulers.rr import RoundRobin


@dataclass(frozen=True)
class SchedulerInfo:
    name: str
    display: str
    color: str
    factory: Callable[[int, int, float], Scheduler]  # (n_links, quantum_bytes, max_credit_quanta)
    backends: tuple[str, ...] = ("sim", "real")


SCHEDULERS: dict[str, SchedulerInfo] = {
    "rr": SchedulerInfo("rr", "Round-robin", "#d95f02", lambda n, q, c: RoundRobin(n)),
    "dwrr": SchedulerInfo("dwrr", "DWRR", "#1b9e77", lambda n, q, c: DeficitWeightedRoundRobin(n, q, c)),
    # librist's own multi-peer weighted mode: librist splits packets; core only sets peer weights.
    "rist-weighted": SchedulerInfo(
        "rist-weighted",
        "librist weighted",
        "#7570b3",
        lambda n, q, c: DeficitWeightedRoundRobin(n, q, c),
        ("real",),
    ),
}
DEFAULT_SCHEDULER = "dwrr"


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
    "Scheduler",
    "SchedulerInfo",
    "make_scheduler",
    "scheduler_names",
]
