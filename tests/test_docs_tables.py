"""The scheduler tables in the docs are what the code gives today: two of their scenarios are run
again with every scheduler and their rows must equal the committed ones (scripts/docs.sh made them;
runs are deterministic for a scenario and seed)."""

import pandas as pd
import pytest

from bondlab.api import simulate
from bondlab.readme_block import block_in, page_with
from bondlab.report.crosstab import markdown

from conftest import ROOT, SCENARIOS

SCHEDULERS = ["rr", "dwrr", "minrtt", "edpf", "blest", "srtla", "redundant", "redundant-all"]
METRICS = ["decodable_ratio", "on_time_ratio", "goodput_bps"]


@pytest.mark.parametrize(("table", "scenario"), [("bundled", "black-hole"), ("added", "weak-modem")])
def test_a_scheduler_table_row_is_what_the_code_gives(table, scenario):
    page = page_with(f"schedulers {table}", ROOT)
    assert page is not None
    block = block_in(page, f"schedulers {table}")
    assert block.strip("\n") == (
        ROOT / "results" / "examples" / "schedulers" / f"{table}.md"
    ).read_text().strip("\n")
    rows = []
    for scheduler in SCHEDULERS:
        out = simulate(SCENARIOS / f"{scenario}.yaml", scheduler, None, results=None)
        rows.append(
            {"scenario": scenario, "scheduler": scheduler, "seed": 0, **{m: out.metrics[m] for m in METRICS}}
        )
    [fresh] = [ln for ln in markdown(pd.DataFrame(rows)).splitlines() if ln.startswith(f"| {scenario} |")]
    assert fresh in block.splitlines(), (fresh, block)
