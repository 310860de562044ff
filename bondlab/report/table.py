"""The comparison table (CSV and Markdown): one row per run, decodable frames first."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from bondlab.report.data import run_order, slug
from bondlab.report.stats import mean_ci, overlap_note
from bondlab.results import StoredRun

KEY_COLUMNS = ("scenario", "backend", "scheduler", "seed")
# What mattered first: frames a viewer could decode, then the bytes that arrived in time.
METRIC_COLUMNS = (
    "decodable_ratio",
    "goodput_bps",
    "on_time_ratio",
    "mean_bitrate_bps",
    "p95_delay_ms",
    "retransmissions",
    "congestion_messages",
    "packets_lost",
)
RANK_COLUMNS = ("decodable_ratio", "goodput_bps")
COLUMNS = (*KEY_COLUMNS, *METRIC_COLUMNS, "link_share")
MISSING = "–"


def comparison_table(runs: Iterable[StoredRun]) -> pd.DataFrame:
    """One row per run. Scenarios in name order; within a scenario rows are ranked by
    `decodable_ratio`, then `goodput_bps` (both best first, missing values last), ties in
    backend, scheduler (registry order) and seed order.

    Metric values are copied unchanged from metrics.json; `link_share` is text such as
    "lte-a 84%/83%, lte-b 16%/17%" (share of bytes sent / share of capacity, per link).
    """
    rows = [_table_row(run) for run in sorted(runs, key=_rank)]
    return pd.DataFrame(rows, columns=list(COLUMNS))


def _rank(run: StoredRun) -> tuple[Any, ...]:
    return (run.scenario, *(_descending(run.metrics.get(key)) for key in RANK_COLUMNS), *run_order(run))


def _descending(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.inf
    return math.inf if math.isnan(number) else -number


def _table_row(run: StoredRun) -> dict[str, Any]:
    row: dict[str, Any] = {
        "scenario": run.scenario,
        "backend": run.backend,
        "scheduler": run.scheduler,
        "seed": run.seed,
    }
    row.update({key: run.metrics.get(key) for key in METRIC_COLUMNS})
    row["link_share"] = link_share_text(run.metrics.get("links") or {})
    return row


def link_share_text(links: dict[str, dict[str, Any]]) -> str:
    return ", ".join(
        f"{name} {percent(e.get('share'), 0)}/{percent(e.get('capacity_share'), 0)}"
        for name, e in links.items()
    )


# -- markdown ------------------------------------------------------------------------------------

_NUMBER = re.compile(r"^[-+]?(\d[\d,]*)?(\.\d+)?(e[-+]?\d+)?\s*%?$|^" + MISSING + "$", re.IGNORECASE)


def markdown_table(df: pd.DataFrame) -> str:
    """GitHub Markdown table padded to column width, so it also reads well in a terminal.

    Cells are str() of the values (format them first); columns whose cells all look numeric
    are right-aligned; NaN and None become empty cells.
    """
    header = [_md_cell(c) for c in df.columns]
    body = [[_md_cell(v) for v in row] for row in df.itertuples(index=False, name=None)]
    columns = list(zip(header, *body, strict=True)) if header else []
    widths = [max(3, *(len(cell) for cell in col)) for col in columns]
    right = [
        bool(body) and all(_NUMBER.match(row[i]) or not row[i] for row in body) for i in range(len(header))
    ]

    def line(cells: Sequence[str]) -> str:
        padded = [c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right, strict=True)]
        return "| " + " | ".join(padded) + " |"

    rule = (
        "|"
        + "|".join("-" * (w + 1) + ":" if r else "-" * (w + 2) for w, r in zip(widths, right, strict=True))
        + "|"
    )
    return "\n".join([line(header), rule, *(line(row) for row in body)]) + "\n"


def _md_cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value).replace("|", "\\|").replace("\n", " ")


def is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def missing_as_dash(fn: Callable[[Any], str]) -> Callable[[Any], str]:
    def wrapped(value: Any) -> str:
        return MISSING if is_missing(value) else fn(value)

    return wrapped


def percent(value: float | None, decimals: int = 1) -> str:
    return MISSING if is_missing(value) else f"{value * 100:.{decimals}f}%"


MD_VIEW: dict[str, tuple[str, Callable[[Any], str]]] = {
    "scenario": ("scenario", str),
    "backend": ("backend", str),
    "scheduler": ("scheduler", str),
    "seed": ("seed", str),
    "decodable_ratio": ("decodable", missing_as_dash(percent)),
    "goodput_bps": ("goodput (Mbps)", missing_as_dash(lambda v: f"{v / 1e6:.2f}")),
    "on_time_ratio": ("on time", missing_as_dash(percent)),
    "mean_bitrate_bps": ("bitrate (Mbps)", missing_as_dash(lambda v: f"{v / 1e6:.2f}")),
    "p95_delay_ms": ("p95 delay (ms)", missing_as_dash(lambda v: f"{v:.0f}")),
    "retransmissions": ("retx", missing_as_dash(lambda v: f"{int(v)}")),
    "congestion_messages": ("cong. msgs", missing_as_dash(lambda v: f"{int(v)}")),
    "packets_lost": ("lost pkts", missing_as_dash(lambda v: f"{int(v)}")),
    "link_share": ("link share (bytes/capacity)", str),
}


def markdown_view(table: pd.DataFrame) -> pd.DataFrame:
    """The comparison table with units a reader wants: percentages, Mbps, whole milliseconds."""
    return pd.DataFrame({MD_VIEW[c][0]: [MD_VIEW[c][1](v) for v in table[c]] for c in table.columns})


SUMMARY_METRICS = ("decodable_ratio", "goodput_bps", "on_time_ratio", "p95_delay_ms")
_HALF: dict[str, Callable[[float], str]] = {
    "decodable_ratio": lambda h: f"{h * 100:.1f}",
    "goodput_bps": lambda h: f"{h / 1e6:.2f}",
    "on_time_ratio": lambda h: f"{h * 100:.1f}",
    "p95_delay_ms": lambda h: f"{h:.0f}",
}


def seed_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per scenario, backend and scheduler: the number of seeds and, per SUMMARY_METRICS, the mean
    over seeds and its 95 % half width (`<metric>_ci95`, NaN below two seeds); ranked within a
    scenario by mean decodable, then goodput."""
    rows = []
    for (scenario, backend, scheduler), group in table.groupby(
        ["scenario", "backend", "scheduler"], sort=False
    ):
        row: dict[str, Any] = {"scenario": scenario, "backend": backend, "scheduler": scheduler}
        row["seeds"] = group["seed"].nunique()
        for metric in SUMMARY_METRICS:
            row[metric], row[f"{metric}_ci95"] = mean_ci(
                pd.to_numeric(group[metric], errors="coerce").to_list()
            )
        rows.append(row)
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    return out.sort_values(
        ["scenario", "decodable_ratio", "goodput_bps"], ascending=[True, False, False], kind="stable"
    ).reset_index(drop=True)


def markdown_seed_summary(summary: pd.DataFrame) -> str:
    """The means over seeds as `mean ± half width`, a table and an overlap sentence per scenario."""
    parts = []
    for scenario, group in summary.groupby("scenario", sort=True):
        cells: dict[str, list[str]] = {
            "backend": list(group["backend"]),
            "scheduler": list(group["scheduler"]),
            "seeds": [str(n) for n in group["seeds"]],
        }
        for metric in SUMMARY_METRICS:
            label, fmt = MD_VIEW[metric]
            cells[label] = [
                fmt(m) + ("" if is_missing(h) else f" ± {_HALF[metric](h)}")
                for m, h in zip(group[metric], group[f"{metric}_ci95"], strict=True)
            ]
        note = overlap_note(list(group["decodable_ratio"]), list(group["decodable_ratio_ci95"]), "decodable")
        parts += [f"### {scenario}\n", markdown_table(pd.DataFrame(cells)), note + "\n"]
    return "\n".join(parts)


def markdown_report(table: pd.DataFrame, sections: dict[str, list[Path]], overview: Path) -> str:
    n_scenarios = table["scenario"].nunique()
    parts = [
        "# bondlab comparison\n",
        f"{len(table)} runs in {n_scenarios} scenario(s), ranked within each scenario by *decodable* "
        "(share of frames that were on time and so was every frame back to the last I-frame: what a "
        "viewer sees), then by *goodput* (bytes of on-time frames). *On time* is the share of frames "
        "whose every packet arrived by the playout deadline; *link share* is the share of bytes sent on "
        "each link / that link's share of the bonded capacity.\n",
        markdown_table(markdown_view(table)),
    ]
    summary = seed_summary(table)
    if len(summary) and (summary["seeds"] > 1).any():
        parts += [
            "## Means over seeds\n",
            "Per scenario and scheduler, the mean over seeds `±` the half width of its 95 % "
            "confidence interval (Student's t over the seeds' values), ranked by mean decodable.\n",
            markdown_seed_summary(summary),
        ]
    parts.append(f"![Decodable frames per scenario]({overview.name})\n")
    for scenario, plots in sections.items():
        parts.append(f"## {scenario}\n")
        parts.extend(f"![{scenario} {p.stem.removeprefix(slug(scenario) + '-')}]({p.name})\n" for p in plots)
    return "\n".join(parts)
