"""Health factor edges: 1 when healthy, smooth fall, 0 past the limits."""

import pytest

from bondlab.core.health import falloff, health


def test_healthy_link_is_one():
    """No loss and a short RTT give health 1."""
    assert health(0.0, 40.0, loss_limit=0.2, rtt_limit_ms=1000) == 1.0


@pytest.mark.parametrize("loss,rtt", [(0.2, 10.0), (0.5, 10.0), (0.0, 1000.0), (0.0, 5000.0)])
def test_zero_at_and_past_either_limit(loss, rtt):
    """Reaching the loss or the RTT limit makes health exactly 0."""
    assert health(loss, rtt, loss_limit=0.2, rtt_limit_ms=1000) == 0.0


def test_monotone_and_continuous_between_knee_and_limit():
    """Between knee and limit the curve falls monotonically without jumps."""
    values = [falloff(x / 1000 * 1000, 1000) for x in range(0, 1001, 5)]
    assert values[0] == 1.0 and values[-1] == 0.0
    assert all(b <= a for a, b in zip(values, values[1:]))
    assert max(a - b for a, b in zip(values, values[1:])) < 0.02


def test_midpoint_of_fall_is_half():
    """The raised cosine is 0.5 halfway between knee (limit/2) and limit."""
    assert falloff(750.0, 1000.0) == pytest.approx(0.5)


def test_factors_multiply():
    """A link both lossy and slow is worse than either alone."""
    both = health(0.15, 750.0, 0.2, 1000)
    assert both == pytest.approx(health(0.15, 0.0, 0.2, 1000) * health(0.0, 750.0, 0.2, 1000))
    assert both < min(health(0.15, 0.0, 0.2, 1000), health(0.0, 750.0, 0.2, 1000))
