"""Rate controller: cut at once below bitrate x headroom, raise slowly with hysteresis."""

from bondlab.core.rate_control import RateController


def make(**kw):
    args = dict(
        start_bitrate=6_000_000,
        min_bitrate=500_000,
        max_bitrate=12_000_000,
        headroom=1.1,
        raise_hold_s=1.0,
        raise_step=0.15,
    )
    args.update(kw)
    return RateController(**args)


def test_no_message_while_capacity_covers_headroom():
    """Capacity at bitrate x headroom (not more) sends nothing."""
    rc = make()
    assert rc.update(0.1, 6_600_001) is None


def test_cut_below_headroom_recommends_capacity_over_headroom():
    """Below bitrate x 1.1, the message recommends total / 1.1 as an integer."""
    rc = make()
    msg = rc.update(1.0, 5_500_000)
    assert msg is not None and msg.type == "congestion-control"
    assert msg.recommended_bitrate == 5_000_000 and isinstance(msg.recommended_bitrate, int)
    assert rc.bitrate == 5_000_000


def test_cut_is_clamped_to_min_bitrate():
    """The recommendation never goes below the encoder's minimum."""
    rc = make()
    assert rc.update(1.0, 10_000).recommended_bitrate == 500_000


def test_raise_waits_for_hold_and_is_bounded_by_step():
    """Capacity back: no raise before the hold time, then at most +15 % per step."""
    rc = make(start_bitrate=4_000_000)
    assert rc.update(0.0, 20_000_000) is None
    assert rc.update(0.5, 20_000_000) is None
    msg = rc.update(1.0, 20_000_000)
    assert msg is not None and msg.reason == "recovery"
    assert msg.recommended_bitrate == 4_600_000


def test_no_oscillation_on_capacity_hovering_at_threshold():
    """Capacity alternating just above/below the raise threshold causes no raise at all."""
    rc = make(start_bitrate=5_000_000)
    msgs = []
    for i in range(100):
        cap = 5_000_000 * 1.1 * (1.06 if i % 2 else 1.02)
        msgs.append(rc.update(i * 0.1, cap))
    assert all(m is None for m in msgs)


def test_longer_hold_after_a_cut():
    """Right after a cut, raising waits three hold times even if capacity jumps back."""
    rc = make()
    rc.update(0.0, 3_300_000)  # cut to 3 Mbps
    times = [0.1 * i for i in range(1, 60)]
    raised = [t for t in times if rc.update(t, 20_000_000) is not None]
    assert raised and raised[0] >= 3.0


def test_never_exceeds_max_bitrate():
    """Raises stop at the encoder's maximum."""
    rc = make(start_bitrate=11_000_000)
    for i in range(200):
        rc.update(i * 0.1, 100_000_000)
    assert rc.bitrate == 12_000_000


def test_cut_deadband_ignores_a_small_shortfall():
    """Capacity a few percent under bitrate x headroom is no reason for a quality change;
    past the deadband it is."""
    rc = make()
    assert rc.update(1.0, 6_000_000 * 1.1 * (1 - rc.cut_deadband / 2)) is None
    assert rc.update(1.1, 6_000_000 * 1.1 * (1 - 2 * rc.cut_deadband)) is not None


def test_settle_no_second_cut_while_the_first_takes_effect():
    """Within settle_s of a cut, capacity that still carries the new bitrate cuts no further;
    once settled, the same shortfall cuts."""
    rc = make()
    rc.update(1.0, 5_500_000)  # -> 5 Mbps
    assert rc.bitrate == 5_000_000
    assert rc.update(1.0 + rc.settle_s / 2, 5_100_000) is None
    assert rc.update(1.0 + rc.settle_s + 0.1, 5_100_000) is not None


def climb_then_fail(rc):
    """Raise once (6 -> 7.5 Mbps with raise_step 0.25), then congestion: returns the failed bitrate."""
    t = 0.0
    while rc.update(t, 20_000_000) is None:
        t += 0.1
    failed = rc.bitrate
    rc.update(t + 0.1, failed * 1.0)  # capacity at the bitrate itself: below bitrate x headroom
    return failed, t + 0.1


def test_failure_memory_caps_raises_below_the_bitrate_that_failed():
    """A raise that ran into congestion: for retry_after_s raises stop retry_margin below it,
    although the capacity would allow more (but not so much more that it clears the memory)."""
    rc = make(raise_step=0.25)
    failed, t = climb_then_fail(rc)
    capacity = failed * 1.1 * (1 + rc.clear_margin) * 0.95
    for i in range(1, 200):
        rc.update(t + 0.1 * i, capacity)
    assert rc.bitrate <= failed * (1 - rc.retry_margin) + 1
    free = make(raise_step=0.25, retry_margin=0.0, retry_after_s=0.0)
    failed, t = climb_then_fail(free)
    for i in range(1, 200):
        free.update(t + 0.1 * i, capacity)
    assert free.bitrate > failed


def test_failure_memory_forgets_when_capacity_clearly_rose():
    """Counted capacity far above the failed bitrate (clear_margin) lifts the memory at once."""
    rc = make(raise_step=0.25)
    failed, t = climb_then_fail(rc)
    for i in range(1, 200):
        rc.update(t + 0.1 * i, failed * 1.1 * (1 + rc.clear_margin) * 1.3)
    assert rc.bitrate > failed


def test_a_cut_without_a_raise_before_it_is_not_remembered():
    """A cut from the start bitrate (cold start, a link lost) found no wall: raises are not capped."""
    rc = make()
    rc.update(1.0, 5_500_000)  # 6 -> 5 Mbps, no raise before
    for i in range(1, 200):
        rc.update(1.0 + 0.1 * i, 20_000_000)
    assert rc.bitrate > 6_000_000
