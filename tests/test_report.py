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
    METRIC_COLUMNS,
    PLOT_KINDS,
    ReportFiles,
    comparison_table,
    load_delays,
    markdown_table,
    write_report,
)
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
        write_outputs(directory, result.metrics, result.timeseries, result.messages,
                      result.delays_ms if scheduler == "dwrr" else None)
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
    expected = {f"seed-asymmetric-{kind}.png" for kind in PLOT_KINDS} | {"overview-on-time.png"}
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
    assert list(table["scheduler"]) == ["rr", "dwrr"]  # registry order, not file order
    assert set(table["scenario"]) == {"seed-asymmetric"} and set(table["backend"]) == {"sim"}
    by_scheduler = {run.scheduler: run for run in runs}
    for row in table.to_dict("records"):
        metrics = _metrics(by_scheduler[row["scheduler"]])
        assert row["seed"] == 1
        for key in METRIC_COLUMNS:
            assert row[key] == metrics[key], key
        links = metrics["links"]
        assert row["link_share"] == ", ".join(
            f"{name} {e['share'] * 100:.0f}%/{e['capacity_share'] * 100:.0f}%" for name, e in links.items())


def test_comparison_table_matches_csv(report: ReportFiles, runs: list[StoredRun]) -> None:
    table = comparison_table(runs)
    pd.testing.assert_frame_equal(table, pd.read_csv(report.csv), check_dtype=False)


def test_markdown_has_header_and_one_line_per_run(report: ReportFiles, runs: list[StoredRun]) -> None:
    lines = [line for line in report.markdown.read_text().splitlines() if line.startswith("|")]
    header, rule, *body = lines
    assert "on time" in header and "goodput (Mbps)" in header and "link share" in header
    assert re.fullmatch(r"\|(-+:?\|)+", rule)
    assert len(body) == len(runs)
    widths = {len(line) for line in lines}
    assert len(widths) == 1, "rows are padded to the same width"
    for line, run in zip(body, sorted(runs, key=lambda r: r.scheduler != "rr"), strict=True):
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
        "| name   | value |\n"
        "|--------|------:|\n"
        "| a\\|b   |  1.5% |\n"
        "| longer |       |\n"
    )


def test_write_report_without_runs_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no runs"):
        write_report([], tmp_path)
