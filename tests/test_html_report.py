"""`bondlab report`, `run --report` and `compare --report`: one self-contained HTML page, opened
in a real headless browser (Chromium from Debian) to check its figures load and its table sorts
(issue 16)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from bondlab.cli.main import main

from conftest import SCENARIOS

SHORT = ["--set", "duration_s=3"]


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("html")
    for scheduler in ("dwrr", "rr"):
        for seed in ("1", "2"):
            argv = ["run", str(SCENARIOS / "seed-asymmetric.yaml"), "--scheduler", scheduler, "--seed", seed]
            assert main([*argv, *SHORT, "--results", str(root), "-q"]) == 0
    return root


@pytest.fixture(scope="module")
def page(results, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("page") / "all.html"
    assert main(["report", str(results), "-o", str(out), "-q"]) == 0
    return out


def test_the_page_holds_its_figures_tables_and_a_section_per_run(page):
    text = page.read_text()
    images = re.findall(r'<img alt="[^"]*" src="data:image/png;base64,', text)
    assert len(images) >= 5  # the scenario's figures and the overview, embedded
    assert not (page.parent / "comparison.md").exists()  # drawn in a temporary folder, not beside it
    for scheduler in ("dwrr", "rr"):
        for seed in (1, 2):
            anchor = f"run-seed-asymmetric-sim-{scheduler}-{seed}"
            assert f'<section id="{anchor}">' in text and f'href="#{anchor}"' in text
    assert "Means over seeds" in text and "scenario as run" in text


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip("no chromium: scripts/setup.sh installs Debian's")
    return found


def dump_dom(url: str) -> str:
    argv = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
    argv += ["--virtual-time-budget=5000", "--dump-dom", url]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def first_table_column(dom: str, column: int) -> list[str]:
    table = dom.split('<table class="sortable">', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr>(.*?)</tr>", table.split("<tbody>", 1)[1], flags=re.S)
    return [re.sub(r"<[^>]+>", "", re.findall(r"<td>(.*?)</td>", r, flags=re.S)[column]) for r in rows]


def test_a_browser_loads_every_figure_and_sorts_the_table(page):
    dom = dump_dom(page.as_uri())
    n_images = dom.count("<img ")
    assert re.search(rf'<body[^>]*data-images-loaded="{n_images}"', dom), "not every figure loaded"
    header = re.findall(
        r"<th[^>]*>(.*?)</th>", dom.split('<table class="sortable">', 1)[1].split("</tr>", 1)[0]
    )
    goodput = header.index("goodput (Mbps)")
    # Ranked by decodable, then goodput (best first); sorted ascending by goodput from the address.
    sorted_dom = dump_dom(page.as_uri() + "#sort=goodput%20(Mbps),asc")
    values = [float(v) for v in first_table_column(sorted_dom, goodput)]
    assert values == sorted(values) and len(values) == 4
    assert 'class="asc"' in sorted_dom


def test_run_and_compare_write_the_page(tmp_path, capsys):
    argv = ["run", str(SCENARIOS / "seed-asymmetric.yaml"), *SHORT, "--results", str(tmp_path), "-q"]
    assert main([*argv, "--report"]) == 0
    run_page = tmp_path / "seed-asymmetric" / "dwrr-1" / "report" / "report.html"
    assert run_page.read_text().count("<img ") >= 4
    out = tmp_path / "cmp"
    argv = ["compare", str(SCENARIOS / "seed-asymmetric.yaml"), *SHORT, "--results", str(tmp_path)]
    assert main([*argv, "--out", str(out), "--report", "-q"]) == 0
    assert "<section id=" in (out / "report.html").read_text()
    assert f"report: {out / 'report.html'}" in capsys.readouterr().out


def test_bad_paths_are_one_line(tmp_path, capsys):
    assert main(["report", str(tmp_path / "none")]) == 2
    assert (
        capsys.readouterr().err.strip()
        == f"error: report: {tmp_path / 'none'}: no such run or results directory"
    )
    assert main(["report", str(tmp_path)]) == 2
    assert "no complete runs" in capsys.readouterr().err
