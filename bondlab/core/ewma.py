"""Exponentially weighted moving average, the smoother librist itself uses (alpha = 1/8)."""

from __future__ import annotations


class Ewma:
    """EWMA whose first sample initialises the value, so start-up is not biased towards zero."""

    def __init__(self, alpha: float = 0.125) -> None:
        if not 0.0 < alpha <= 1.0:
            raise ValueError(f"alpha must be in (0, 1], got {alpha}")
        self.alpha = alpha
        self.value: float | None = None

    def update(self, sample: float) -> float:
        if self.value is None:
            self.value = float(sample)
        else:
            self.value += self.alpha * (float(sample) - self.value)
        return self.value

    def reset(self, value: float | None = None) -> None:
        self.value = value

    def get(self, default: float = 0.0) -> float:
        return default if self.value is None else self.value
