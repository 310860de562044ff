"""core/trains.py: packet-train dispersion as the receiver measures it, and the rate the sender
reads from two reports' sums."""

from __future__ import annotations

import random

import pytest

from bondlab.core.feedback import ReceiverReport, ReportTracker
from bondlab.core.trains import (
    MAX_TRAIN_SPAN_S,
    MIN_TRAIN_PACKETS,
    TrainMeter,
    train_rate_bps,
    train_sums,
)

PKT = 1316


def jittered_train(rng: random.Random, t0: float, n: int, rate_bps: float, jitter_s: float) -> list[float]:
    """Arrivals in send order of n PKT-byte packets leaving a bottleneck at `rate_bps`, each moved
    by uniform +-jitter_s (so they may arrive out of order)."""
    return [t0 + (k + 1) * PKT * 8 / rate_bps + rng.uniform(-jitter_s, jitter_s) for k in range(n)]


def test_slope_is_unbiased_under_jitter_where_the_span_is_not() -> None:
    rng = random.Random(7)
    rate, n, trains = 10e6, 30, 300
    sxx = sxy = 0.0
    naive = []
    meter = TrainMeter()
    for f in range(trains):
        t = jittered_train(rng, f * 0.1, n, rate, 0.005)
        a, b = train_sums([PKT] * n, t)
        sxx += a
        sxy += b
        naive.append((n - 1) * PKT * 8 / (max(t) - min(t)))
        # the same train fed to a meter in arrival order (jitter reorders it)
        for seq, at in sorted(enumerate(t), key=lambda p: p[1]):
            meter.on_packet(f, f * n + seq, PKT, at)
    meter.flush(trains * 0.1 + 1.0)
    got = train_rate_bps(sxx, sxy)
    assert got is not None and abs(got / rate - 1) < 0.03, got
    assert meter.trains == trains
    assert meter.sxx == pytest.approx(sxx) and meter.sxy == pytest.approx(sxy)
    # the jitter matters: first-to-last over-reads the span (by up to 10 ms on ~32 ms)
    assert sum(naive) / trains < 0.9 * rate


def test_exact_train_gives_its_rate_and_sizes_in_send_order() -> None:
    sizes = [1000, 200, 1316, 500, 800]
    rate = 5e6
    acc, t = 0, []
    for s in sizes:
        acc += s
        t.append(1.0 + acc * 8 / rate)
    assert train_rate_bps(*train_sums(sizes, t)) == pytest.approx(rate)


def test_short_trains_count_nothing() -> None:
    n = MIN_TRAIN_PACKETS - 1
    assert train_sums([PKT] * n, [0.001 * k for k in range(n)]) == (0.0, 0.0)
    assert train_sums([PKT] * (n + 1), [0.001 * k for k in range(n)]) == (0.0, 0.0)  # mismatched
    assert train_sums([PKT] * (n + 1), [0.001 * k for k in range(n + 1)])[0] > 0.0
    meter = TrainMeter()
    for seq in range(n):
        meter.on_packet(1, seq, PKT, 0.001 * seq)
    meter.on_packet(2, n, PKT, 0.1)  # closes frame 1's short train
    assert meter.trains == 0 and meter.sxx == meter.sxy == 0.0


def test_a_train_spread_beyond_one_burst_counts_nothing() -> None:
    n = 10
    step = (MAX_TRAIN_SPAN_S + 0.01) / (n - 1)
    assert train_sums([PKT] * n, [k * step for k in range(n)]) == (0.0, 0.0)
    step = (MAX_TRAIN_SPAN_S - 0.01) / (n - 1)
    assert train_sums([PKT] * n, [k * step for k in range(n)])[0] > 0.0


def test_meter_closes_a_train_on_a_new_frame_and_on_flush_after_idle() -> None:
    meter = TrainMeter(idle_s=0.02)
    t1 = [0.001 * k for k in range(6)]
    for seq, t in enumerate(t1):
        meter.on_packet(1, seq, PKT, t)
    assert meter.trains == 0
    meter.flush(t1[-1] + 0.01)  # not idle long enough: still open
    assert meter.trains == 0
    meter.on_packet(2, 6, PKT, 0.1)  # another frame: frame 1's train ends
    sxx1, sxy1 = train_sums([PKT] * 6, t1)
    assert meter.trains == 1 and (meter.sxx, meter.sxy) == (sxx1, sxy1)
    t2 = [0.1 + 0.002 * k for k in range(1, 5)]
    for seq, t in enumerate(t2, start=7):
        meter.on_packet(2, seq, PKT, t)
    meter.flush(t2[-1] + 0.019)
    assert meter.trains == 1
    meter.flush(t2[-1] + 0.021)
    sxx2, sxy2 = train_sums([PKT] * 5, [0.1, *t2])
    assert meter.trains == 2
    assert meter.sxx == pytest.approx(sxx1 + sxx2) and meter.sxy == pytest.approx(sxy1 + sxy2)
    meter.flush(10.0)  # nothing open: nothing changes
    assert meter.trains == 2


def report(number: int, sxx: float, sxy: float) -> ReceiverReport:
    return ReceiverReport(0, number, 0.1 * number, 1000 * number, 10 * number, 0.1 * number, sxx, sxy)


def test_tracker_reads_the_train_rate_from_two_reports_sum_deltas() -> None:
    tr = ReportTracker()
    tr.on_report(0.0, report(1, 5e6, 1.0))
    tr.take(0.0)
    assert tr.train_bps is None  # one report: no interval yet
    tr.on_report(0.1, report(2, 5e6 + 1e6, 1.0 + 0.8))
    tr.take(0.1)
    assert tr.train_bps == pytest.approx(8 * 1e6 / 0.8)
    tr.take(0.2)
    assert tr.train_bps is None  # no new report since
    tr.on_report(0.3, report(3, 6e6 + 1e6, 1.8))  # sxy did not grow
    tr.take(0.3)
    assert tr.train_bps is None
    tr.on_report(0.4, report(4, 8e6, 1.7))  # sxy fell (jitter outweighed the trains)
    tr.take(0.4)
    assert tr.train_bps is None
    tr.on_report(0.5, report(5, 9e6, 1.7 + 0.4))
    tr.take(0.5)
    assert tr.train_bps == pytest.approx(8 * 1e6 / 0.4)


def test_the_sender_reads_the_lower_of_the_slope_and_the_span_rate():
    """On the VM's htb the pooled slope read 2-5x the links' rates while the spans read 0.8x
    (core/trains.py); the tracker takes the lower of the two, whichever it is."""
    from bondlab.core.trains import train_span

    gap = PKT * 8 / 2e6  # 2 Mbps, paced
    times = [k * gap for k in range(8)]
    sizes = [PKT] * 8
    sxx, sxy = train_sums(sizes, times)
    nbytes, span = train_span(sizes, times)
    assert 8 * nbytes / span == pytest.approx(2e6) == train_rate_bps(sxx, sxy)

    def read(sxx, sxy, nbytes, span):
        tr = ReportTracker()
        tr.on_report(0.0, ReceiverReport(0, 1, 0.0, 0, 1))
        tr.take(0.0)
        tr.on_report(0.1, ReceiverReport(0, 2, 0.1, 10 * PKT, 9, 0.1, sxx, sxy, nbytes, span))
        tr.take(0.1)
        return tr.train_bps

    assert read(sxx, sxy / 3, nbytes, span) == pytest.approx(2e6)  # the slope over-reads: the span
    assert read(sxx, sxy, nbytes, span / 3) == pytest.approx(2e6)  # the span over-reads: the slope
    assert read(sxx, sxy, 0, 0.0) == pytest.approx(2e6)  # no span sums (an older receiver): the slope


def test_train_check_reproduces_the_real_run_developers_md_quotes():
    """`python -m bondlab.real.train_check` on the kept real run: the numbers DEVELOPERS.md quotes."""
    from pathlib import Path

    from bondlab.real.train_check import link_rates

    run = Path(__file__).resolve().parent.parent / "results" / "examples" / "real-black-hole-forecast"
    got = {name: (cap, slope, span) for name, cap, slope, span in link_rates(run, 8.0)}
    assert list(got) == ["lte-a", "lte-b", "lte-c"]
    quoted = {"lte-a": (7.72, 13.35, 4.39), "lte-b": (4.82, 3.37, 1.84), "lte-c": (5.79, 10.99, 4.46)}
    for name, values in quoted.items():
        assert [round(v / 1e6, 2) for v in got[name]] == list(values)
