"""Notebooks are examples users copy from: they must run top to bottom.

Each has a cell tagged `parameters`; the test runs it with papermill, as a user would
(`papermill notebooks/quickstart.ipynb out.ipynb -p DURATION_S 30`), with small settings (short
scenarios, one seed, few trials, one worker, a temporary output directory).
"""

import nbformat
import papermill
import pytest

from conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
QUICK = {"DURATION_S": 5, "SEEDS": [1], "TRIALS": 2, "WORKERS": 1}


def test_there_are_notebooks():
    assert {p.name for p in NOTEBOOKS} >= {"quickstart.ipynb", "rr_vs_dwrr.ipynb", "tuning.ipynb"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path, tmp_path):
    """Every cell executes without error and a metrics table is shown; committed without outputs."""
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert not [c for c in code if c.get("outputs") or c.get("execution_count")], "commit without outputs"
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "one cell tagged `parameters`"
    out = tmp_path / path.name
    papermill.execute_notebook(
        str(path),
        str(out),
        parameters={**QUICK, "OUT_DIR": str(tmp_path), "RESULTS": str(tmp_path)},
        kernel_name="python3",
        cwd=str(path.parent),
        progress_bar=False,
    )
    nb = nbformat.read(out, as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and "DURATION_S = 5" in injected[0].source
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert any("on_time_ratio" in str(o.get("data", {})) for o in outputs)
    assert any("image/png" in o.get("data", {}) for o in outputs), "no plot shown"
