"""Report over two real short runs: files, table values against metrics.json, Markdown shape."""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

import bondlab.sim.runner
from bondlab.report import (
    COLUMNS,
    KEY_COLUMNS,
    METRIC_COLUMNS,
    OVERVIEW_FILE,
    PLOT_KINDS,
    ReportFiles,
    capacity_totals,
    comparison_table,
    controller_up,
    load_delays,
    markdown_table,
    write_report,
)
from bondlab.report.data import down_spans
from bondlab.results import StoredRun, find_runs, run_dir, write_outputs, write_run_json
from bondlab.scenario import load_scenario

SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "seed-asymmetric.yaml"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> list[StoredRun]:
    results = tmp_path_factory.mktemp("results")
    scenario = load_scenario(SCENARIO, ["duration_s=10"])
    for scheduler in ("dwrr", "rr"):
        directory = run_dir(results, scenario, scheduler, 1)
        write_run_json(directory, scenario, scheduler, 1, "sim")
        result = bondlab.sim.runner.run_sim(scenario, scheduler)
        # Only DWRR stores per-packet delays, so the delay plot exercises both the CDF and the fallback.
        write_outputs(
            directory,
            result.metrics,
            result.timeseries,
            result.messages,
            result.delays_ms if scheduler == "dwrr" else None,
        )
    return find_runs(results)


@pytest.fixture(scope="module")
def report(runs: list[StoredRun], tmp_path_factory: pytest.TempPathFactory) -> ReportFiles:
    def no_simulation(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the report must read stored runs, not simulate")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(bondlab.sim.runner, "run_sim", no_simulation)
        mp.setattr(bondlab.sim.runner.SimRun, "run", no_simulation)
        return write_report(runs, tmp_path_factory.mktemp("report"))


def _metrics(run: StoredRun) -> dict:
    return json.loads((run.path / "metrics.json").read_text())


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC, f"{path.name} is not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_report_writes_every_plot_as_png(report: ReportFiles) -> None:
    expected = {f"seed-asymmetric-{kind}.png" for kind in PLOT_KINDS} | {OVERVIEW_FILE}
    assert {p.name for p in report.plots} == expected
    for path in report.plots:
        width, height = _png_size(path)
        assert width >= 800 and height >= 500, f"{path.name} is {width}x{height}"
        assert path.stat().st_size > 10_000, f"{path.name} looks empty"
    assert plt.get_fignums() == []  # nothing left open in pyplot


def test_csv_has_one_row_per_run_with_metrics_json_values(report: ReportFiles, runs: list[StoredRun]) -> None:
    table = pd.read_csv(report.csv)
    assert list(table.columns) == list(COLUMNS)
    assert len(table) == len(runs) == 2
    # Ranked by decodable frames, then goodput (DWRR does better than blind round-robin here).
    ranked = sorted(runs, key=lambda r: (-r.metrics["decodable_ratio"], -r.metrics["goodput_bps"]))
    assert list(table["scheduler"]) == [r.scheduler for r in ranked]
    assert set(table["scenario"]) == {"seed-asymmetric"} and set(table["backend"]) == {"sim"}
    by_scheduler = {run.scheduler: run for run in runs}
    for row in table.to_dict("records"):
        metrics = _metrics(by_scheduler[row["scheduler"]])
        assert row["seed"] == 1
        for key in METRIC_COLUMNS:
            assert row[key] == metrics[key], key
        links = metrics["links"]
        assert row["link_share"] == ", ".join(
            f"{name} {e['share'] * 100:.0f}%/{e['capacity_share'] * 100:.0f}%" for name, e in links.items()
        )


def test_comparison_table_matches_csv(report: ReportFiles, runs: list[StoredRun]) -> None:
    table = comparison_table(runs)
    pd.testing.assert_frame_equal(table, pd.read_csv(report.csv), check_dtype=False)


def test_markdown_has_header_and_one_line_per_run(report: ReportFiles, runs: list[StoredRun]) -> None:
    lines = [line for line in report.markdown.read_text().splitlines() if line.startswith("|")]
    header, rule, *body = lines
    assert "on time" in header and "goodput (Mbps)" in header and "link share" in header
    names = [c.strip() for c in header.strip("|").split("|")]
    assert names[len(KEY_COLUMNS)] == "decodable"  # what mattered comes first
    assert re.fullmatch(r"\|(-+:?\|)+", rule)
    assert len(body) == len(runs)
    widths = {len(line) for line in lines}
    assert len(widths) == 1, "rows are padded to the same width"
    ranked = sorted(runs, key=lambda r: (-r.metrics["decodable_ratio"], -r.metrics["goodput_bps"]))
    for line, run in zip(body, ranked, strict=True):
        metrics = _metrics(run)
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[2] == run.scheduler
        assert f"{metrics['goodput_bps'] / 1e6:.2f}" in cells
        assert f"{metrics['on_time_ratio'] * 100:.1f}%" in cells
    text = report.markdown.read_text()
    for path in report.plots:
        assert f"]({path.name})" in text


def test_delays_file_is_read_when_present(runs: list[StoredRun]) -> None:
    by_scheduler = {run.scheduler: run for run in runs}
    assert load_delays(by_scheduler["rr"]) is None
    delays = load_delays(by_scheduler["dwrr"])
    assert delays is not None and len(delays) > 1000
    p95 = _metrics(by_scheduler["dwrr"])["p95_delay_ms"]
    assert np.percentile(delays, 95) == pytest.approx(p95, rel=1e-3)


def test_markdown_table_pads_aligns_and_escapes() -> None:
    df = pd.DataFrame({"name": ["a|b", "longer"], "value": ["1.5%", None]})
    assert markdown_table(df) == (
        "| name   | value |\n|--------|------:|\n| a\\|b   |  1.5% |\n| longer |       |\n"
    )


def test_write_report_without_runs_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no runs"):
        write_report([], tmp_path)


# -- synthetic runs: ranking -------------------------------------------------------------------------


def _stored(
    scenario: str, scheduler: str, seed: int = 1, backend: str = "sim", **metrics: object
) -> StoredRun:
    meta = {"scenario_name": scenario, "scheduler": scheduler, "seed": seed, "backend": backend}
    return StoredRun(Path("/nonexistent"), meta, {"links": {}, **metrics})


def test_table_leads_with_decodable_and_ranks_by_decodable_then_goodput() -> None:
    runs = [
        _stored("b-scenario", "rr", decodable_ratio=0.5, goodput_bps=9e6),
        _stored("a-scenario", "rr", decodable_ratio=0.90, goodput_bps=1e6),
        _stored("a-scenario", "dwrr", decodable_ratio=0.90, goodput_bps=3e6),  # tie on decodable: goodput
        _stored(
            "a-scenario", "dwrr", seed=2, decodable_ratio=0.95, goodput_bps=0.5e6
        ),  # decodable beats goodput
        _stored("a-scenario", "rr", seed=2, goodput_bps=8e6),  # no decodable_ratio: last
        _stored("b-scenario", "dwrr", decodable_ratio=0.7, goodput_bps=1e6),
    ]
    table = comparison_table(runs)
    assert list(table.columns[: len(KEY_COLUMNS) + 2]) == [*KEY_COLUMNS, "decodable_ratio", "goodput_bps"]
    got = list(zip(table["scenario"], table["scheduler"], table["seed"], strict=True))
    assert got == [
        ("a-scenario", "dwrr", 2),
        ("a-scenario", "dwrr", 1),
        ("a-scenario", "rr", 1),
        ("a-scenario", "rr", 2),
        ("b-scenario", "dwrr", 1),
        ("b-scenario", "rr", 1),
    ]


# -- synthetic timeseries: what the totals plot draws ------------------------------------------------


def _ts(rows: list[dict[str, object]]) -> pd.DataFrame:
    return pd.DataFrame(rows)


def test_counted_total_leaves_out_a_link_the_controller_believes_down() -> None:
    # lte-b: the controller believes it down at t=0.2 while its stale estimate is still high.
    ts = _ts(
        [
            {
                "t": 0.1,
                "link": "a",
                "capacity_bps": 5e6,
                "up": True,
                "est_capacity_bps": 4e6,
                "health": 1.0,
                "weight": 4e6,
                "est_up": True,
                "counted_capacity_bps": 3.5e6,
                "bitrate_bps": 6e6,
            },
            {
                "t": 0.1,
                "link": "b",
                "capacity_bps": 5e6,
                "up": True,
                "est_capacity_bps": 9e6,
                "health": 1.0,
                "weight": 9e6,
                "est_up": True,
                "counted_capacity_bps": 4.0e6,
                "bitrate_bps": 6e6,
            },
            {
                "t": 0.2,
                "link": "a",
                "capacity_bps": 5e6,
                "up": True,
                "est_capacity_bps": 4e6,
                "health": 0.5,
                "weight": 2e6,
                "est_up": True,
                "counted_capacity_bps": 1.5e6,
                "bitrate_bps": 6e6,
            },
            {
                "t": 0.2,
                "link": "b",
                "capacity_bps": 0.0,
                "up": False,
                "est_capacity_bps": 9e6,
                "health": 1.0,
                "weight": 0.0,
                "est_up": False,
                "counted_capacity_bps": 0.0,
                "bitrate_bps": 6e6,
            },
        ]
    )
    tot = capacity_totals(ts)
    assert list(tot.index) == [0.1, 0.2]
    assert list(tot["counted_bps"]) == [7.5e6, 1.5e6]  # counted_capacity_bps, not the estimate
    assert list(tot["capacity_bps"]) == [10e6, 5e6]
    assert list(tot["bitrate_bps"]) == [6e6, 6e6]
    # Even if a runner left a stale count on a link the controller believes down, it is not drawn.
    ts.loc[3, "counted_capacity_bps"] = 9e6
    assert capacity_totals(ts)["counted_bps"].iloc[1] == 1.5e6


def test_counted_total_of_an_old_run_is_the_sum_of_weights() -> None:
    """Runs stored before counted_capacity_bps / est_up: weight (estimate x health, 0 when down)."""
    ts = _ts(
        [
            {
                "t": 1.0,
                "link": "a",
                "capacity_bps": 4e6,
                "up": True,
                "est_capacity_bps": 4e6,
                "health": 0.5,
                "weight": 2e6,
                "bitrate_bps": 3e6,
            },
            {
                "t": 1.0,
                "link": "b",
                "capacity_bps": 4e6,
                "up": False,
                "est_capacity_bps": 4.4e6,
                "health": 1.0,
                "weight": 0.0,
                "bitrate_bps": 3e6,
            },
        ]
    )
    tot = capacity_totals(ts)
    assert tot.loc[1.0, "counted_bps"] == 2e6  # not 8.4e6, the estimates summed over every link
    assert tot.loc[1.0, "capacity_bps"] == 4e6  # the down link's capacity is not usable
    assert list(controller_up(ts)) == [True, False]  # weight > 0 stands in for est_up
    bare = ts.drop(columns=["weight", "up"])
    assert "counted_bps" not in capacity_totals(bare)
    assert capacity_totals(bare).loc[1.0, "capacity_bps"] == 8e6


def test_all_down_counts_nothing() -> None:
    ts = _ts(
        [
            {
                "t": t,
                "link": link,
                "capacity_bps": 0.0,
                "up": False,
                "est_capacity_bps": 4.4e6,
                "health": 1.0,
                "weight": 0.0,
                "est_up": False,
                "counted_capacity_bps": 0.0,
                "bitrate_bps": 5e5,
            }
            for t in (1.0, 1.1)
            for link in ("a", "b")
        ]
    )
    tot = capacity_totals(ts)
    assert (tot["counted_bps"] == 0).all() and (tot["capacity_bps"] == 0).all()


def test_down_spans_cover_the_intervals_ending_at_down_samples() -> None:
    t = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    assert down_spans(t, [True, False, False, True, True, False]) == [
        pytest.approx((0.1, 0.3)),
        pytest.approx((0.5, 0.6)),
    ]
    assert down_spans(t, [True] * 6) == []
    assert down_spans([], []) == []


def test_report_over_an_old_run_without_the_new_columns(tmp_path: Path) -> None:
    """A stored run from before counted_capacity_bps, est_up and delivered_bps: every plot still drawn."""
    scenario = load_scenario(SCENARIO, ["duration_s=2"])
    directory = run_dir(tmp_path / "results", scenario, "dwrr", 1)
    write_run_json(directory, scenario, "dwrr", 1, "sim")
    result = bondlab.sim.runner.run_sim(scenario, "dwrr")
    old = result.timeseries.drop(
        columns=[c for c in ("counted_capacity_bps", "est_up", "delivered_bps") if c in result.timeseries]
    )
    write_outputs(directory, result.metrics, old, result.messages, None)
    files = write_report(find_runs(tmp_path / "results"), tmp_path / "report")
    assert {p.name for p in files.plots} >= {"seed-asymmetric-bitrate.png", "seed-asymmetric-estimator.png"}
    assert plt.get_fignums() == []


def test_error_bars_of_equal_values_are_never_negative():
    """The float mean of equal values can fall a hair outside them; matplotlib refuses negative
    error bars, and a compare over seeds that all measured the same died drawing its plots. The
    whiskers are the mean's 95 % interval over seeds, clipped to the percent axis."""
    from bondlab.report.figures import mean_interval

    for values in ([0.1] * 3, [0.1] * 7, [0.7] * 3, [100.0] * 3):
        _, (below, above) = mean_interval(values)
        assert below >= 0.0 and above >= 0.0
    mean, (below, above) = mean_interval([96.0, 99.0, 100.0])
    assert below == pytest.approx(4.303 * np.std([96.0, 99.0, 100.0], ddof=1) / np.sqrt(3))
    assert above == pytest.approx(100.0 - mean)  # clipped at 100 %
    assert mean_interval([42.0]) == (42.0, (0.0, 0.0))
