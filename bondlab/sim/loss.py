"""Per-packet loss processes on the radio hop: independent (Bernoulli) and Gilbert-Elliott bursts."""

from __future__ import annotations

import random
from typing import Any

import numpy as np

DRAW_BLOCK = 1024


def numpy_twin(rng: random.Random) -> np.random.RandomState:
    """A numpy generator that continues `rng`'s stream bit for bit, a block per C call.

    Both are the same Mersenne Twister (MT19937) with the same 53-bit double from two 32-bit
    outputs, so numpy's legacy `random_sample` given `rng`'s state yields `rng.random()`'s values."""
    _, state, _ = rng.getstate()
    twin = np.random.RandomState()
    twin.set_state(("MT19937", np.array(state[:-1], dtype=np.uint32), state[-1]))
    return twin


class Draws:
    """One random.Random's stream of `random()` values, drawn ahead a block at a time.

    Every consumer of the generator reads it through here, so the values used are the same
    numbers in the same order as calling `rng.random()` each time; only the generator (its numpy
    twin, see `numpy_twin`) runs ahead: its extra draws at the end of a run are never used. A
    burst takes its draws in one slice instead of a Python call per packet.
    """

    __slots__ = ("rng", "buf", "pos", "block")

    def __init__(self, rng: random.Random, block: int = DRAW_BLOCK) -> None:
        self.rng = numpy_twin(rng)
        self.buf: list[float] = []
        self.pos = 0
        self.block = block

    def _refill(self, n: int) -> None:
        """Keep the unused draws and append a new block (at least n)."""
        self.buf = self.buf[self.pos :] + self.rng.random_sample(max(self.block, n)).tolist()
        self.pos = 0

    def take(self, n: int) -> list[float]:
        """The next n draws."""
        end = self.pos + n
        if end > len(self.buf):
            self._refill(n)
            end = n
        out = self.buf[self.pos : end]
        self.pos = end
        return out

    def random(self) -> float:
        """The next draw (as rng.random())."""
        if self.pos >= len(self.buf):
            self._refill(1)
        r = self.buf[self.pos]
        self.pos += 1
        return r


class LossProcess:
    """Independent loss `p`, optionally with a Gilbert-Elliott two-state chain on top.

    The chain steps once per packet: good -> bad with p_good_bad, bad -> good with p_bad_good;
    in each state the packet is lost with loss_good / loss_bad. Mean burst length is 1/p_bad_good.
    """

    def __init__(self, rng: random.Random) -> None:
        self.draws = Draws(rng)
        self.bad = False

    def lost(self, p: float, gilbert: dict[str, Any] | None) -> bool:
        rnd = self.draws.random
        if gilbert is not None:
            if self.bad:
                self.bad = rnd() >= gilbert["p_bad_good"]
            else:
                self.bad = rnd() < gilbert["p_good_bad"]
            if rnd() < (gilbert["loss_bad"] if self.bad else gilbert["loss_good"]):
                return True
        return p > 0 and rnd() < p
