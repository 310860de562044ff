"""`bondlab bench --long`, shortened: ten simulated minutes of bonded cellular traces.

A one-hour run may only keep what its results need (a timeseries row per interval and link, a
record per frame, a delay per packet: ~0.55 MB per simulated minute here); per-packet bookkeeping
that is never forgotten (a set of every sequence number seen cost ~0.5 MB more per minute) makes
the growth exceed the bound. RSS is what a user sees, so it is what is measured.
"""

from bondlab.bench import LONG_SCENARIO, long_run

# Measured here: 0.55 MB per simulated minute (minutes 2-10) with the timeseries rows, the
# sender's frame records and the receiver's frames in typed columns; 1.31-1.39 with them as
# Python objects (tuples and records), 1.74-1.80 with the receiver's old set of every sequence
# number on top. The bound (was 1.6) fails the object storage coming back.
RSS_GROWTH_BOUND_MB_PER_MIN = 0.9


def test_memory_growth_per_simulated_minute_stays_bounded():
    out = long_run(duration_s=600.0, scenario=LONG_SCENARIO)
    ratios = {k: v for k, v in out.items() if "cost_ratio" in k}
    print(f"\nRSS by minute {out['rss_by_window_mb']} MB, peak {out['peak_rss_mb']} MB")
    print(f"growth {out['rss_growth_mb_per_sim_min']} MB per simulated minute; cost last/first: {ratios}")
    assert out["frames_total"] == 600 * 30  # the whole run happened (the traces loop past their end)
    assert out["rss_growth_mb_per_sim_min"] < RSS_GROWTH_BOUND_MB_PER_MIN
