"""The sim's block-drawn random streams give exactly the numbers per-packet calls would."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from bondlab.sim.link import JitterDraws
from bondlab.sim.loss import Draws


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32), takes=st.lists(st.integers(0, 700), min_size=1, max_size=12))
def test_draws_are_the_generators_own_values_in_order(seed, takes):
    """Takes of any size, across refills (block 256 here), continue random.Random's stream."""
    reference = random.Random(seed)
    draws = Draws(random.Random(seed), block=256)
    for n in takes:
        assert draws.take(n) == [reference.random() for _ in range(n)]
        assert draws.random() == reference.random()


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    steps=st.lists(
        st.tuples(st.integers(1, 300), st.sampled_from([(30.0, 5.0), (2.0, 8.0), (45.0, 0.5)])), max_size=8
    ),
)
def test_jitter_delays_are_the_per_packet_formula(seed, steps):
    """Each delay is max(delay + jitter x (2r - 1), 0) / 1000 of the stream's next r, whatever the
    state changes in between (a change recomputes the block's delays)."""
    reference = random.Random(seed)
    jitter = JitterDraws(random.Random(seed))
    for n, (delay_ms, jitter_ms) in steps:
        want = []
        for _ in range(n):
            d = delay_ms + jitter_ms * (2.0 * reference.random() - 1.0)
            want.append((d if d > 0.0 else 0.0) / 1000.0)
        assert jitter.delays_s(n, delay_ms, jitter_ms) == want
