"""Link health in [0, 1] from smoothed loss and RTT; weight = smoothed capacity x health.

Curve: each factor is 1 up to `knee` x limit, then falls as a raised-cosine to 0 at the limit,
and stays 0 beyond. The cosine is smooth at both ends, so weights do not jump when a link drifts
across the knee. The two factors multiply: a link that is both lossy and slow is worse than either.
"""

from __future__ import annotations

import math

KNEE = 0.5


def falloff(value: float, limit: float, knee: float = KNEE) -> float:
    """1 below knee*limit, 0 at/after limit, raised-cosine in between."""
    if value >= limit:
        return 0.0
    start = knee * limit
    if value <= start:
        return 1.0
    x = (value - start) / (limit - start)
    return 0.5 * (1.0 + math.cos(math.pi * x))


def health(loss: float, rtt_ms: float, loss_limit: float, rtt_limit_ms: float) -> float:
    """Health factor of a link; 0 past either limit."""
    return falloff(loss, loss_limit) * falloff(rtt_ms, rtt_limit_ms)
