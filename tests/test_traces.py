"""Mahimahi traces: rates, repeats, opportunity indexing and one-line errors for bad files."""

import re

import numpy as np
import pytest

from bondlab.sim.service import Segment, ServiceCurve
from bondlab.traces import MTU_BYTES, load_trace, opportunity_index_at, opportunity_time_ms

from conftest import SCENARIOS

MBPS = 1e6


def _trace(tmp_path, text, name="t.up"):
    path = tmp_path / name
    path.write_text(text)
    return load_trace(path)


def _half_busy(tmp_path):
    """Period 100 ms: one opportunity each ms for 1..50, then a single one at 100 (the period end)."""
    return _trace(tmp_path, "".join(f"{ms}\n" for ms in range(1, 51)) + "100\n")


def test_one_line_trace_is_12_mbps(tmp_path):
    """A one-line "1" trace is one 1500-byte opportunity per ms, i.e. 12 Mbps, in every window."""
    tr = _trace(tmp_path, "1\n")
    assert MTU_BYTES == 1500
    assert tr.period_ms == 1
    assert tr.mean_rate_bps == pytest.approx(12 * MBPS)
    series = tr.rate_series_bps(0.0, 1.0, 0.1)
    assert len(series) == 10
    assert series == pytest.approx(np.full(10, 12 * MBPS))


def test_repeated_timestamps_each_count(tmp_path):
    """Every line is one opportunity, so repeated timestamps add capacity rather than collapse."""
    assert _trace(tmp_path, "1\n1\n1\n", "triple.up").mean_rate_bps == pytest.approx(36 * MBPS)
    tr = _trace(tmp_path, "5\n5\n10\n", "repeat.up")
    assert tr.period_ms == 10
    assert tr.mean_rate_bps == pytest.approx(3 * 1500 * 8 / 0.010)
    assert tr.opportunities_before(6.0) == 2
    assert tr.opportunities_before(4.0) == 0


def test_rate_series_wraps_around_the_period(tmp_path):
    """rate_series_bps keeps repeating the trace past its last line, from any start time."""
    tr = _half_busy(tmp_path)
    busy, idle = 50 * 1500 * 8 / 0.05, 1 * 1500 * 8 / 0.05  # 12 Mbps, then 0.24 Mbps
    # Window edges at x.5 ms never coincide with an opportunity.
    series = tr.rate_series_bps(0.0005, 0.4, 0.05)
    assert series == pytest.approx([busy, idle] * 4)
    later = tr.rate_series_bps(0.0005 + 3 * 0.1, 0.4, 0.05)  # three periods on: the same pattern
    assert later == pytest.approx(series)
    shifted = tr.rate_series_bps(0.0505, 0.2, 0.05)  # start in the idle half and cross the wrap
    assert shifted == pytest.approx([idle, busy, idle, busy])


def test_index_and_time_round_trip_across_repeats(tmp_path):
    """opportunity_index_at(opportunity_time_ms(i)) finds i's time again, in later cycles too."""
    tr = _trace(tmp_path, "3\n3\n7\n9\n9\n9\n12\n")
    n, period = len(tr.times_list), tr.period_ms
    checked = 0
    for i in range(4 * n):
        t = opportunity_time_ms(tr, i)
        if t % period == 0:
            continue  # the period end has its own test below
        first = opportunity_index_at(tr, t, strictly_after=False)
        after = opportunity_index_at(tr, t, strictly_after=True)
        assert opportunity_time_ms(tr, first) == t and first <= i < after, i
        assert first == 0 or opportunity_time_ms(tr, first - 1) < t, i  # the first of equal times
        assert opportunity_time_ms(tr, after - 1) == t < opportunity_time_ms(tr, after), i
        checked += 1
    assert checked == 4 * (n - 1)
    assert opportunity_time_ms(tr, n) == period + 3  # the second cycle starts one period later
    # Between opportunities: the next one at or after t, in any cycle.
    for cycle in range(3):
        base = cycle * period
        assert opportunity_time_ms(tr, opportunity_index_at(tr, base + 4.5, False)) == base + 7
        assert opportunity_time_ms(tr, opportunity_index_at(tr, base + 1.0, False)) == base + 3


def test_index_and_time_round_trip_on_a_bundled_trace():
    """The round trip holds on a real trace around its first two wrap points."""
    tr = load_trace(SCENARIOS / "traces" / "ATT-LTE-driving.up")
    n, period = len(tr.times_list), tr.period_ms
    for i in [*range(0, 50), *range(n - 50, n + 50), *range(2 * n - 50, 2 * n + 50)]:
        t = opportunity_time_ms(tr, i)
        if t % period == 0:
            continue
        first = opportunity_index_at(tr, t, strictly_after=False)
        assert opportunity_time_ms(tr, first) == t and first <= i, i
        assert opportunity_index_at(tr, t, strictly_after=True) > i, i


def test_index_round_trip_at_the_period_end(tmp_path):
    """The opportunity at exactly the period (the trace's last line) is found at its own time."""
    tr = _trace(tmp_path, "1\n")
    assert [opportunity_index_at(tr, opportunity_time_ms(tr, i), False) for i in range(4)] == [0, 1, 2, 3]
    tr = _trace(tmp_path, "2\n5\n5\n", "end.up")
    assert opportunity_time_ms(tr, 1) == 5.0
    assert opportunity_index_at(tr, 5.0, strictly_after=False) == 1


def test_opportunities_before_excludes_the_period_end(tmp_path):
    """opportunities_before(t) counts only opportunities strictly before t, at the period end too."""
    tr = _half_busy(tmp_path)
    assert tr.opportunities_before(99.5) == 50
    assert tr.opportunities_before(100.0) == 50
    assert tr.opportunities_before(100.5) == 51
    assert list(tr.opportunities_before(np.array([0.0, 1.0, 200.0, 201.0]))) == [0, 0, 101, 102]


def test_cycles_end_at_the_period_in_every_repeat(tmp_path):
    """Cycle k holds the times (k * period, (k + 1) * period]; strictly_after steps past the period end."""
    tr = _trace(tmp_path, "2\n5\n5\n", "end.up")  # opportunities at 2, 5, 5, 7, 10, 10, 12, ...
    assert [opportunity_index_at(tr, t, False) for t in (0.0, 5.0, 10.0, 15.0)] == [0, 1, 4, 7]
    assert [opportunity_index_at(tr, t, True) for t in (0.0, 5.0, 10.0, 15.0)] == [0, 3, 6, 9]
    assert opportunity_index_at(tr, -1.0, False) == opportunity_index_at(tr, -1.0, True) == 0
    # The window ending at the period end holds the opportunities at that end: (0, 5], (5, 10], ...
    assert tr.rate_series_bps(0.0, 0.015, 0.005) == pytest.approx(np.array([3, 3, 3]) * 1500 * 8 / 0.005)


def test_idle_packet_within_the_rounding_slack_takes_a_fresh_opportunity(tmp_path):
    """The trace service never hands one opportunity to two packets, even within its float-rounding slack."""
    curve = ServiceCurve([Segment(0.0, None, _trace(tmp_path, "1\n"), 0.0, 0.0, True)])
    assert curve.serve(0.0, 1500) == pytest.approx(0.001)  # the opportunity at 1 ms
    assert curve.serve(0.001 + 1e-10, 1500) == pytest.approx(0.002)  # 1 ms is used: the next one
    # An unused opportunity a hair (float rounding) before the arrival still serves it at once.
    assert curve.serve(0.003 + 1e-10, 1500) == pytest.approx(0.003 + 1e-10)


@pytest.mark.parametrize("data", [bytes(range(128, 256)), b"1\n2\x00\n3\n"], ids=["not-utf8", "nul-bytes"])
def test_binary_trace_is_not_a_text_trace_file(tmp_path, data):
    """A binary file is reported as not a text trace (naming it), not as a codec error or a bad line."""
    path = tmp_path / "blob.up"
    path.write_bytes(data)
    with pytest.raises(ValueError, match=r"blob\.up: not a text trace file$"):
        load_trace(path)


@pytest.mark.parametrize(
    "text, lineno, words",
    [
        ("1\n2\nabc\n4\n", 3, "not an integer"),
        ("1\n\n2.5\n", 3, "not an integer"),  # blank lines still count in the numbering
        ("1\n-4\n", 2, "negative"),
        ("5\n9\n7\n", 3, "decrease"),
    ],
)
def test_bad_line_raises_value_error_naming_line(tmp_path, text, lineno, words):
    """A non-integer, negative or decreasing line raises ValueError naming the file and its line number."""
    path = tmp_path / "bad.up"
    path.write_text(text)
    with pytest.raises(ValueError) as info:
        load_trace(path)
    msg = str(info.value)
    assert "\n" not in msg
    assert re.search(rf"\bline {lineno}\b", msg), msg
    assert words in msg and "bad.up" in msg


def test_empty_trace_raises_value_error(tmp_path):
    """A trace without a single opportunity is an error, not a zero-rate link."""
    path = tmp_path / "blank.up"
    path.write_text("\n\n")
    with pytest.raises(ValueError, match="empty"):
        load_trace(path)


def test_missing_trace_raises_file_not_found(tmp_path):
    """A missing trace raises FileNotFoundError naming the path."""
    with pytest.raises(FileNotFoundError, match="nowhere.up"):
        load_trace(tmp_path / "nowhere.up")


@pytest.mark.parametrize("name, mbps", [("ATT-LTE-driving.up", 0.83), ("TMobile-UMTS-driving.up", 0.94)])
def test_bundled_trace_mean_rates(name, mbps):
    """The bundled cellular traces carry their documented mean rates."""
    tr = load_trace(SCENARIOS / "traces" / name)
    assert tr.mean_rate_bps == pytest.approx(mbps * MBPS, abs=0.01 * MBPS)
    # The mean over one whole period of the rate series agrees with mean_rate_bps.
    series = tr.rate_series_bps(0.0, tr.period_ms / 1000, tr.period_ms / 1000 / 100)
    assert series.mean() == pytest.approx(tr.mean_rate_bps, rel=1e-3)
