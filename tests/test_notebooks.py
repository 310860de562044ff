"""Notebooks are examples users copy from: they must run top to bottom.

Each has a cell tagged `parameters`; like papermill, the test adds a cell after it with small
settings (short scenarios, one seed, few trials, one worker, a temporary output directory).
"""

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
QUICK = "DURATION_S = 5\nSEEDS = [1]\nTRIALS = 2\nWORKERS = 1\nOUT_DIR = {tmp!r}\nRESULTS = {tmp!r}\n"


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
    nb.cells.insert(tagged[0] + 1, nbformat.v4.new_code_cell(QUICK.format(tmp=str(tmp_path))))
    NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert any("on_time_ratio" in str(o.get("data", {})) for o in outputs)
    assert any("image/png" in o.get("data", {}) for o in outputs), "no plot shown"
