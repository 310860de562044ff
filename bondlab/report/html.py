"""One self-contained HTML page per run or per comparison: tables that sort, figures embedded.

Why HTML beside the Markdown: the Markdown is for the terminal and git; a page is what one mails
or opens from a notebook: the figures travel inside it (PNG as data URIs), the tables sort on a
click (or by `#sort=<column>` / `#sort=<column>,asc` in the address, so a sorted view can be
shared), and every run row links to the run's own section: its scenario as run, its metadata and
every metric it stored. Built from what `write_report` drew; nothing is recomputed.
"""

from __future__ import annotations

import base64
import html
import json
import math
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from bondlab import __version__
from bondlab.report.data import by_scenario, slug
from bondlab.report.table import MD_VIEW, comparison_table, markdown_view, seed_summary
from bondlab.results import StoredRun

_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1200px;padding:0 1em;color:#222}
h1{font-size:1.5em}h2{margin-top:2em;border-bottom:1px solid #ddd}h3{margin-top:1.5em}
table{border-collapse:collapse;margin:1em 0;font-size:13px}
th,td{border:1px solid #ddd;padding:3px 7px;text-align:right}
th{background:#f4f4f4;cursor:pointer;user-select:none}th.asc::after{content:" \\25B2"}
th.desc::after{content:" \\25BC"}td:first-child,th:first-child{text-align:left}
img{max-width:100%;display:block;margin:1em 0}pre{background:#f7f7f7;padding:1em;overflow:auto}
.meta{color:#555}.invalid{color:#b00;font-weight:bold}
"""
# Click a header to sort by it (again to reverse); `#sort=col` or `#sort=col,asc` sorts on load.
# Cells sort as numbers when they read as one (units and signs stripped), else as text. When the
# images have loaded, the body carries how many did (a headless check reads it).
_SCRIPT = """
function key(td){const t=td.textContent.trim();const n=parseFloat(t.replace(/[^0-9.eE+-]/g,''));
 return isNaN(n)||!/[0-9]/.test(t)?t.toLowerCase():n}
function sortTable(table,col,asc){const body=table.tBodies[0];const rows=[...body.rows];
 rows.sort((a,b)=>{const x=key(a.cells[col]),y=key(b.cells[col]);
  const c=(typeof x===typeof y)?(x<y?-1:x>y?1:0):(typeof x==='number'?-1:1);return asc?c:-c});
 rows.forEach(r=>body.appendChild(r));
 [...table.tHead.rows[0].cells].forEach((th,i)=>{th.classList.remove('asc','desc');
  if(i===col)th.classList.add(asc?'asc':'desc')})}
document.querySelectorAll('table.sortable').forEach(t=>{[...t.tHead.rows[0].cells].forEach((th,i)=>{
 th.addEventListener('click',()=>sortTable(t,i,th.classList.contains('desc')))})});
function fromHash(){const m=location.hash.match(/sort=([^,&]+)(,asc)?/);if(!m)return;
 const want=decodeURIComponent(m[1]).toLowerCase();
 document.querySelectorAll('table.sortable').forEach(t=>{const i=[...t.tHead.rows[0].cells]
  .findIndex(th=>th.textContent.trim().toLowerCase()===want);if(i>=0)sortTable(t,i,!!m[2])})}
fromHash();window.addEventListener('hashchange',fromHash);
window.addEventListener('load',()=>{document.body.dataset.imagesLoaded=
 [...document.images].filter(i=>i.complete&&i.naturalWidth>0).length});
"""


def anchor(scenario: str, backend: str, scheduler: str, seed: int) -> str:
    """A run's section id: the table's rows (comparison_table) and the sections share it."""
    return f"run-{slug(scenario)}-{backend}-{scheduler}-{seed}"


def run_anchor(run: StoredRun) -> str:
    return anchor(run.scenario, run.backend, run.scheduler, run.seed)


def _table(frame: pd.DataFrame, links: Sequence[str] | None = None) -> str:
    """A sortable table of preformatted cells; `links`: an anchor per row for its first cell."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for i, values in enumerate(frame.itertuples(index=False, name=None)):
        cells = [html.escape("" if v is None else str(v)) for v in values]
        if links is not None and cells:
            cells[0] = f'<a href="#{links[i]}">{cells[0]}</a>'
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return f'<table class="sortable"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _image(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">'


def _value(v: Any) -> str:
    if isinstance(v, float):
        return "" if math.isnan(v) else f"{v:.6g}"
    return json.dumps(v) if isinstance(v, dict | list) else str(v)


def _run_section(run: StoredRun) -> str:
    m, meta = run.metrics, run.meta
    scalars = {k: v for k, v in m.items() if not isinstance(v, dict | list)}
    metrics = pd.DataFrame({"metric": list(scalars), "value": [_value(v) for v in scalars.values()]})
    links = pd.DataFrame(
        [{"link": name, **{k: _value(v) for k, v in e.items()}} for name, e in (m.get("links") or {}).items()]
    )
    facts = {
        "scenario": run.scenario,
        "scheduler": run.scheduler,
        "seed": run.seed,
        "backend": run.backend,
        "bondlab": meta.get("bondlab_version", ""),
        "git revision": meta.get("git_revision", ""),
        "stored at": str(run.path),
    }
    parts = [
        f'<section id="{run_anchor(run)}"><h3>{html.escape(run.scenario)} · {html.escape(run.scheduler)}'
        f" · seed {run.seed} · {html.escape(run.backend)}</h3>",
        '<p class="meta">'
        + " · ".join(f"{k}: {html.escape(str(v))}" for k, v in facts.items() if v != "")
        + "</p>",
    ]
    if m.get("valid") is False:
        parts.append(f'<p class="invalid">not a measurement: {html.escape(str(m.get("invalid_reason")))}</p>')
    parts.append(_table(metrics))
    if len(links):
        parts.append(_table(links))
    scenario = meta.get("scenario")
    if scenario:
        text = yaml.safe_dump(scenario, sort_keys=False)
        parts.append(f"<details><summary>scenario as run</summary><pre>{html.escape(text)}</pre></details>")
    parts.append('<p><a href="#top">back to the table</a></p></section>')
    return "\n".join(parts)


def render_html(runs: Sequence[StoredRun], plots: Sequence[Path], title: str) -> str:
    """The page: the runs' table (rows link to their sections), means over seeds when there are
    several, each scenario's figures, then every run's section."""
    ordered = comparison_table(runs)
    anchors = [anchor(r.scenario, r.backend, r.scheduler, r.seed) for r in ordered.itertuples(index=False)]
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    body = [
        f'<h1 id="top">{html.escape(title)}</h1>',
        f'<p class="meta">{len(runs)} run(s) · bondlab {__version__} · written {now}. Ranked within each '
        "scenario by decodable frames, then goodput; click a header to sort.</p>",
        _table(markdown_view(ordered), anchors),
    ]
    summary = seed_summary(ordered)
    if len(summary) and (summary["seeds"] > 1).any():
        view = summary[["scenario", "backend", "scheduler", "seeds"]].copy()
        for metric in ("decodable_ratio", "goodput_bps", "on_time_ratio", "p95_delay_ms"):
            label, fmt = MD_VIEW[metric]
            view[label] = [
                fmt(mean) + ("" if pd.isna(half) else f" ± {fmt(half).rstrip('%')}")
                for mean, half in zip(summary[metric], summary[f"{metric}_ci95"], strict=True)
            ]
        body += ["<h2>Means over seeds (± the 95 % interval)</h2>", _table(view)]
    groups = by_scenario(runs)
    for scenario in groups:
        stem = slug(scenario)
        mine = [p for p in plots if p.name.startswith(stem + "-")]
        if mine:
            body.append(f"<h2>{html.escape(scenario)}</h2>")
            body += [_image(p) for p in mine]
    others = [p for p in plots if not any(p.name.startswith(slug(s) + "-") for s in groups)]
    body += [_image(p) for p in others]
    body.append("<h2>Runs</h2>")
    order = {a: i for i, a in enumerate(anchors)}
    body += [_run_section(r) for r in sorted(runs, key=lambda r: order[run_anchor(r)])]
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body>{''.join(body)}<script>{_SCRIPT}</script></body></html>"
    )


def _markdown_label(metric: str) -> tuple[str, Any]:
    from bondlab.report.table import _MD_VIEW

    return _MD_VIEW[metric]


def write_html(
    runs: Sequence[StoredRun],
    path: Path,
    title: str | None = None,
    plots: Sequence[Path] | None = None,
    progress: bool = False,
) -> Path:
    """Write the page to `path`, embedding `plots` (drawn already, e.g. by `compare`), or else
    drawing them (write_report) into a temporary folder that goes once they are embedded."""
    path = Path(path)
    if not runs:
        raise ValueError("no complete runs to report")
    if title is None:
        first = runs[0]
        title = (
            f"bondlab run: {first.scenario} {first.scheduler} seed {first.seed} ({first.backend})"
            if len(runs) == 1
            else f"bondlab comparison: {len(runs)} runs over {len({r.scenario for r in runs})} scenario(s)"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    if plots is not None:
        path.write_text(render_html(runs, plots, title))
        return path
    from bondlab.report import write_report

    with tempfile.TemporaryDirectory(prefix="bondlab-report-") as tmp:
        files = write_report(list(runs), Path(tmp), progress)
        path.write_text(render_html(runs, files.plots, title))
    return path
