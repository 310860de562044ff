"""Seeds as statistics (issue 16): 95 % intervals over seeds in the leaderboard and its figure,
and a sentence naming the ranks the seeds do not order."""

import math

import pandas as pd
import pytest
from matplotlib.axes import Axes
from test_leaderboard import stored

from bondlab.report.leaderboard import (
    leaderboard_rows,
    leaderboard_table,
    markdown_leaderboard,
    plot_leaderboard,
)
from bondlab.report.stats import ci_half_width, mean_ci, overlap_note, overlapping_ranks, seed_means, t975


def test_the_t_interval_is_students():
    assert t975(1) == 12.706 and t975(2) == 4.303 and t975(200) == 1.96
    mean, half = mean_ci([1.0, 2.0, 3.0])
    assert mean == 2.0
    assert half == pytest.approx(4.303 * 1.0 / math.sqrt(3))
    assert math.isnan(mean_ci([5.0])[1])
    with pytest.raises(ValueError):
        t975(0)


def test_the_replicate_is_the_seed_averaged_over_scenarios():
    """Scenario a is easy, b hard; per seed their mean moves little: the interval is over those
    per-seed means, not over all four runs (which would count the scenarios' gap as noise)."""
    rows = pd.DataFrame(
        {"scenario": ["a", "a", "b", "b"], "seed": [1, 2, 1, 2], "decodable_ratio": [1.0, 0.98, 0.6, 0.62]}
    )
    per_seed = seed_means(rows, "decodable_ratio")
    assert per_seed.to_dict() == {1: pytest.approx(0.8), 2: pytest.approx(0.8)}
    assert ci_half_width(rows, "decodable_ratio") == pytest.approx(0.0, abs=1e-12)
    uneven = rows.assign(seed=[1, 2, 3, 4])  # each scenario at its own seeds: no replicate
    assert seed_means(uneven, "decodable_ratio") is None
    assert math.isnan(ci_half_width(uneven, "decodable_ratio"))


def test_ranks_are_ordered_only_where_intervals_part():
    assert overlapping_ranks([0.97, 0.92, 0.91, 0.80], [0.001, 0.02, 0.02, 0.01]) == [(2, 3)]
    assert overlapping_ranks([0.9, 0.8, 0.7], [0.06, 0.06, 0.06]) == [(1, 3)]
    assert overlapping_ranks([0.9, 0.8], [0.01, 0.01]) == []
    assert overlapping_ranks([0.9, 0.89], [math.nan, 0.1]) == []
    assert "Ranks 2-3" in overlap_note([0.97, 0.92, 0.91], [0.001, 0.02, 0.02], "decodable")
    assert "No 95 % intervals" in overlap_note([0.9, 0.8], [math.nan, math.nan], "decodable")


def runs_over_seeds(tmp_path, seeds):
    runs = []
    for seed in seeds:
        for scenario in ("a", "b"):
            runs.append(stored(tmp_path, "dwrr", 0.95 + 0.01 * (seed % 2), 5e6 + 1e5 * seed, scenario, seed))
            runs.append(stored(tmp_path, "rr", 0.60 - 0.02 * (seed % 2), 3e6, scenario, seed))
            runs.append(stored(tmp_path, "srtla", 0.94 + 0.02 * (seed % 2), 4e6, scenario, seed))
    return runs


def test_the_leaderboard_shows_intervals_and_what_they_do_not_separate(tmp_path):
    rows = leaderboard_rows(runs_over_seeds(tmp_path, range(1, 6)))
    table = leaderboard_table(rows)
    assert list(table["scheduler"]) == ["dwrr", "srtla", "rr"]
    assert (table["seeds"] == 5).all()
    dwrr = table.iloc[0]
    per_seed = [0.95 + 0.01 * (s % 2) for s in range(1, 6)]
    assert dwrr["decodable_ratio_ci95"] == pytest.approx(mean_ci(per_seed)[1])
    text = markdown_leaderboard(rows, {}, None)
    assert f"{dwrr['decodable_ratio'] * 100:.1f}% ± {dwrr['decodable_ratio_ci95'] * 100:.1f}" in text
    assert "Ranks 1-2: each one's 95 % interval of decodable overlaps the next one's" in text


def test_one_seed_has_no_interval_and_says_so(tmp_path):
    text = markdown_leaderboard(leaderboard_rows(runs_over_seeds(tmp_path, [3])), {}, None)
    assert "% ±" not in text
    assert "No 95 % intervals for decodable" in text
    assert "| seeds |" not in text


def test_the_figure_draws_each_points_interval(tmp_path, monkeypatch):
    drawn = []
    real = Axes.errorbar

    def spy(self, x, y, **kw):
        drawn.append((kw.get("xerr"), kw.get("yerr")))
        return real(self, x, y, **kw)

    monkeypatch.setattr(Axes, "errorbar", spy)
    rows = leaderboard_rows(runs_over_seeds(tmp_path, range(1, 4)))
    plot_leaderboard(rows, {}, tmp_path / "f.png")
    assert len(drawn) == 6  # 3 schedulers x 2 scenarios
    assert all(x is not None and y is not None for x, y in drawn)
    assert sum(y > 0 for _, y in drawn) == 2  # dwrr's goodput moves with the seed; the others' do not
    drawn.clear()
    plot_leaderboard(leaderboard_rows(runs_over_seeds(tmp_path, [1])), {}, tmp_path / "g.png")
    assert drawn == []


def test_the_comparison_adds_means_over_seeds_only_when_there_are_several(tmp_path):
    from bondlab.report.table import comparison_table, markdown_report, seed_summary

    runs = [r for r in runs_over_seeds(tmp_path, range(1, 4)) if r.scheduler != "srtla"]
    table = comparison_table(runs)
    summary = seed_summary(table)
    assert len(summary) == 4 and (summary["seeds"] == 3).all()
    a_dwrr = summary[(summary["scenario"] == "a") & (summary["scheduler"] == "dwrr")].iloc[0]
    values = [0.95 + 0.01 * (s % 2) for s in (1, 2, 3)]
    assert a_dwrr["decodable_ratio"] == pytest.approx(sum(values) / 3)
    assert a_dwrr["decodable_ratio_ci95"] == pytest.approx(mean_ci(values)[1])
    text = markdown_report(table, {}, tmp_path / "o.png")
    assert "## Means over seeds" in text and "### a" in text
    assert f"{a_dwrr['decodable_ratio'] * 100:.1f}% ± {a_dwrr['decodable_ratio_ci95'] * 100:.1f}" in text
    assert "the seeds separate them" in text
    one = comparison_table([r for r in runs if r.seed == 1])
    assert "Means over seeds" not in markdown_report(one, {}, tmp_path / "o.png")
