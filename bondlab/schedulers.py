"""Every scheduler by name: core's own and the sim's oracle (which registers itself on import).

Core's registry (bondlab.core.schedulers) stays free of the sim; the CLI, specs, reports and
leaderboards list and make schedulers through this module so the oracle is always among them.
"""

from __future__ import annotations

import bondlab.sim.oracle  # noqa: F401  (registers "oracle")
from bondlab.core.schedulers import (
    DEFAULT_SCHEDULER,
    SCHEDULERS,
    SchedulerInfo,
    make_scheduler,
    scheduler_names,
)

__all__ = ["DEFAULT_SCHEDULER", "SCHEDULERS", "SchedulerInfo", "make_scheduler", "scheduler_names"]
