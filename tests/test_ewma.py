"""EWMA: the smoother every estimate goes through."""

import pytest

from bondlab.core.ewma import Ewma


def test_first_sample_initialises():
    """The first sample is taken as is, not blended with zero."""
    e = Ewma(0.125)
    assert e.update(80.0) == 80.0


def test_update_moves_alpha_of_the_gap():
    """Each later sample moves the value by alpha times the gap."""
    e = Ewma(0.25)
    e.update(100.0)
    assert e.update(200.0) == pytest.approx(125.0)
    assert e.update(125.0) == pytest.approx(125.0)


def test_converges_to_a_constant_input():
    """A constant input is reached geometrically: (1 - alpha)^n of the gap remains."""
    e = Ewma(0.125)
    e.update(0.0)
    for _ in range(40):
        e.update(1.0)
    assert e.get() == pytest.approx(1 - 0.875**40)


@pytest.mark.parametrize("alpha", [0.0, -0.1, 1.5])
def test_rejects_alpha_outside_unit_interval(alpha):
    """alpha must lie in (0, 1]."""
    with pytest.raises(ValueError):
        Ewma(alpha)


def test_reset_forgets():
    """After reset, the next sample initialises again; get() gives the default while empty."""
    e = Ewma()
    e.update(5.0)
    e.reset()
    assert e.get(default=-1.0) == -1.0
    assert e.update(9.0) == 9.0
