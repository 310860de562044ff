"""The sweep report as a reader meets it (issue 16 item 10): titled after its spec, shares that end
at 100 %, and a best setting at the edge of the grid said out loud."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")


from bondlab.sweep.report import plot_parameter, write_sweep_report  # noqa: E402
from bondlab.sweep.store import write_point  # noqa: E402


def points(out: Path, best_alpha: float) -> None:
    """A made-up surface over alpha (0.05 .. 0.4): decodable peaks at `best_alpha`, capped at 1."""
    for k, alpha in enumerate((0.05, 0.1, 0.2, 0.4)):
        for seed in (1, 2):
            ratio = min(1.0, 1.02 - abs(alpha - best_alpha))
            write_point(
                out,
                {
                    "bonding.alpha": alpha,
                    "scenario": "s",
                    "scenario_path": "s.yaml",
                    "scheduler": "dwrr",
                    "seed": seed,
                    "decodable_ratio": ratio,
                    "on_time_ratio": 1.0,  # flat at 100 %: matplotlib's own limits ran to 105
                    "goodput_bps": 4e6 + 1e5 * k,
                    "p95_delay_ms": 100.0,
                    "point_key": f"k{k}s{seed}",
                    "bondlab_version": "0",
                    "error": None,
                    "seconds": 1.0,
                },
            )
    (out / "sweep.json").write_text(
        json.dumps({"params": ["bonding.alpha"], "spec": "specs/alpha-scan.yaml"})
    )


def test_the_report_is_titled_after_its_spec_and_flags_a_best_setting_at_the_edge(tmp_path: Path) -> None:
    points(tmp_path, best_alpha=0.4)
    text = write_sweep_report(tmp_path).markdown.read_text()
    assert text.startswith("# Sweep report: alpha-scan\n")
    assert "**At the edge of the grid:** the best `bonding.alpha` (0.4) is the largest value swept" in text


def test_no_edge_note_when_the_best_lies_inside(tmp_path: Path) -> None:
    points(tmp_path, best_alpha=0.1)
    assert "At the edge of the grid" not in write_sweep_report(tmp_path).markdown.read_text()


def test_share_axes_end_at_100_percent(tmp_path: Path) -> None:
    points(tmp_path, best_alpha=0.2)
    from bondlab.sweep.store import load_points

    fig = plot_parameter(load_points(tmp_path), "bonding.alpha")
    shares = [ax for ax in fig.axes if ax.get_title() in ("decodable frames, %", "frames on time, %")]
    assert len(shares) == 2
    for ax in shares:
        assert 100.0 <= ax.get_ylim()[1] <= 102.0
        assert max(t for t in ax.get_yticks() if t <= ax.get_ylim()[1]) <= 100.0


def test_delay_axes_label_more_than_one_tick_within_a_decade() -> None:
    import matplotlib.pyplot as plt

    from bondlab.report.outcomes import _log_ms_axis

    fig, ax = plt.subplots()
    ax.plot([40, 300], [0, 1])
    _log_ms_axis(ax)
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    lo, hi = ax.get_xlim()
    shown = [t for t in ax.get_xticks() if lo <= t <= hi]
    assert len(shown) >= 3 and len(labels) >= 3, labels
    plt.close(fig)
