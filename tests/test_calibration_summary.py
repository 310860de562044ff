"""The calibration summary (README block): counts, failures one line each, provenance, splicing."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from test_calibrate import BASE

from bondlab.real.calibrate import calibration_table
from bondlab.real.calibration_summary import BEGIN, END, splice, summary_markdown
from bondlab.results import StoredRun

METRICS = BASE  # the synthetic run's metrics, shared with test_calibrate.py


def run(backend: str, scenario: str, seed: int, moving: bool = False, **changes: Any) -> StoredRun:
    metrics = {**copy.deepcopy(METRICS), **changes}
    spec: dict[str, Any] = {"links": [{"name": "a"}, {"name": "b"}]}
    if moving:
        spec["events"] = [{"t": 5, "link": "a", "set": {"capacity_bps": 1}}]
    meta = {
        "scenario_name": scenario,
        "scheduler": "dwrr",
        "seed": seed,
        "backend": backend,
        "scenario": spec,
        "git_revision": "abc1234",
        "started_utc": "2026-12-07T18:00:00+00:00",
    }
    return StoredRun(Path("/nonexistent"), meta, metrics)


def pairs() -> list[tuple[StoredRun, StoredRun]]:
    return [
        (run("sim", "steady", 1), run("real", "steady", 1)),
        (run("sim", "cliff", 1, True), run("real", "cliff", 1, True, goodput_bps=3_000_000.0)),
        (
            run("sim", "cliff", 2, True),
            run("real", "cliff", 2, True, valid=False, invalid_reason="3 frames late"),
        ),
    ]


def test_counts_pairs_within_bounds_and_gives_each_failure_a_line() -> None:
    ps = pairs()
    text = summary_markdown(calibration_table(ps), pd.DataFrame(), ps, "bondlab calibrate x/ --seeds 1,2")
    assert "`bondlab calibrate x/ --seeds 1,2` on 2026-12-07 at bondlab abc1234" in text
    assert "**1 of 3** pairs within every bound; dynamic scenarios (events or traces) 0 of 2 (0 %)" in text
    assert "1 real run(s) invalid" in text
    lines = [line for line in text.splitlines() if line.startswith("- cliff seed")]
    assert len(lines) == 2
    assert lines[0].startswith("- cliff seed 1: goodput")
    assert lines[1] == "- cliff seed 2: real run not valid: 3 frames late"
    row = next(line for line in text.splitlines() if line.startswith("| cliff"))
    assert "0/2" in row and "5.00 / 4.00" in row  # pairs within bounds; mean goodput over seeds


def test_splice_replaces_only_what_lies_between_the_markers(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{BEGIN}\nold table\n{END}\nafter\n")
    splice(readme, "new table\n")
    assert readme.read_text() == f"intro\n{BEGIN}\nnew table\n{END}\nafter\n"
    readme.write_text("no markers\n")
    with pytest.raises(ValueError, match="markers"):
        splice(readme, "x\n")
