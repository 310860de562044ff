"""Per-packet loss processes on the radio hop: independent (Bernoulli) and Gilbert-Elliott bursts."""

from __future__ import annotations

import random
from typing import Any


class LossProcess:
    """Independent loss `p`, optionally with a Gilbert-Elliott two-state chain on top.

    The chain steps once per packet: good -> bad with p_good_bad, bad -> good with p_bad_good;
    in each state the packet is lost with loss_good / loss_bad. Mean burst length is 1/p_bad_good.
    """

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.bad = False

    def lost(self, p: float, gilbert: dict[str, Any] | None) -> bool:
        rnd = self.rng.random
        if gilbert is not None:
            if self.bad:
                self.bad = rnd() >= gilbert["p_bad_good"]
            else:
                self.bad = rnd() < gilbert["p_good_bad"]
            if rnd() < (gilbert["loss_bad"] if self.bad else gilbert["loss_good"]):
                return True
        return p > 0 and rnd() < p
