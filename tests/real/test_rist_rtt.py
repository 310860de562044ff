"""The real sender hands the estimator librist's RTT without its smoother's start-up bias."""

import pytest

from bondlab.real.transport import LIBRIST_PING_INTERVAL_S, LIBRIST_RTT_EWMA, unbiased_rtt_ms


@pytest.mark.parametrize("rtt", [12.0, 92.0, 640.0])
def test_librists_zero_started_rtt_reads_as_the_rtt_from_the_first_reply(rtt):
    """librist's EWMA starts at 0 and folds in a reply per ping: after n replies it reads
    (1 - (7/8)^n) of the RTT (84 ms on a 92 ms link after 20). Unbiased, it reads the RTT."""
    eight_times = 0.0
    for n in range(1, 60):
        eight_times += rtt - eight_times * LIBRIST_RTT_EWMA  # rist-common.c, in float here
        raw = eight_times / 8
        assert unbiased_rtt_ms(raw, (n - 1) * LIBRIST_PING_INTERVAL_S) == pytest.approx(rtt, rel=1e-9)
    assert raw == pytest.approx(rtt, rel=1e-3)  # settled: nothing left to take out


def test_a_settled_rtt_is_left_as_it_is_and_a_change_still_shows():
    assert unbiased_rtt_ms(100.0, 30.0) == pytest.approx(100.0)
    assert unbiased_rtt_ms(150.0, 30.0) == pytest.approx(150.0)
