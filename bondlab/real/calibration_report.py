"""The calibration report: calibration.csv, calibration.md and three PNGs per (sim, real) pair.

Why a module of its own: calibrate.py decides (the bounds, the checks, one row per pair) and is
what the real tests assert with; this module only shows what it decided, as files for a reader.
The figures reuse bondlab.report's, so both reports look alike (bondlab/report/pairs.py draws them).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from bondlab.real.calibrate import BOUNDS, Pair, _fmt, _mbps, _ms, _number, _worst, calibration_table, checks
from bondlab.real.calibrate_phases import phase_rows
from bondlab.real.calibration_summary import summary_markdown
from bondlab.report.pairs import PLOT_KINDS as PLOT_KINDS  # re-exported: the kinds of PNG per pair
from bondlab.report.pairs import display_name, pair_plots
from bondlab.report.table import MISSING, is_missing, markdown_table, percent
from bondlab.results import StoredRun


@dataclass(frozen=True)
class CalibrationFiles:
    """What write_calibration wrote: the table as CSV and Markdown, and every PNG (pair by pair)."""

    csv: Path
    markdown: Path
    plots: list[Path] = field(default_factory=list)


# -- markdown ------------------------------------------------------------------------------------


def _summary_row(row: Mapping[str, Any]) -> dict[str, str]:
    found = checks(row)
    out = {
        "scenario": str(row["scenario"]),
        "scheduler": str(row["scheduler"]),
        "seeds sim/real": f"{row['sim_seed']}/{row['real_seed']}",
        "constant rate": "yes" if row["constant_rate"] else "no",
    }
    for bound in BOUNDS:
        worst = _worst(found, bound)
        if worst is None:
            out[f"{bound.label} Δ"] = MISSING
            continue
        where = f" ({worst.name.removeprefix('link share ')})" if bound.metric == "link_share" else ""
        out[f"{bound.label} Δ"] = f"{worst.text()}{where} {'✓' if worst.ok else '✗'}"
    failed = list(dict.fromkeys(c.bound.label for c in found if not c.ok))
    out["result"] = "pass" if not failed else "FAIL: " + ", ".join(failed)
    if not row.get("real_valid", True):
        out["result"] = "INVALID: the real run measured the CPU, not the network (see its metrics.json)"

    notes = [n for n in str(row.get("known_approximations") or "").split("; ") if n]
    out["known approximations"] = str(len(notes)) if notes else "none"
    return out


_INFO: dict[str, tuple[str, Callable[[float], str]]] = {
    "decodable_ratio": ("decodable", percent),
    "p95_delay_ms": ("p95 delay", _ms),
    "mean_bitrate_bps": ("encoder bitrate", _mbps),
    "congestion_messages": ("congestion messages", lambda v: f"{int(v)}"),
}


def _detail_table(row: Mapping[str, Any]) -> str:
    lines = [
        {
            "metric": c.name,
            "sim": _fmt(c.bound, c.sim),
            "real": _fmt(c.bound, c.real),
            "|real − sim| vs bound": c.text(),
            "bound": c.bound.describe(),
            "result": "pass" if c.ok else "FAIL",
        }
        for c in checks(row)
    ]
    for key, (label, fmt) in _INFO.items():
        a, b = row.get(f"{key}_sim"), row.get(f"{key}_real")
        rel = _number(row.get(f"{key}_rel_diff"))
        lines.append(
            {
                "metric": label,
                "sim": MISSING if is_missing(a) else fmt(a),
                "real": MISSING if is_missing(b) else fmt(b),
                "|real − sim| vs bound": MISSING if math.isnan(rel) else f"{rel * 100:.1f} % of sim",
                "bound": "none (information)",
                "result": "",
            }
        )
    return markdown_table(pd.DataFrame(lines))


def _buffers(pairs: Sequence[Pair]) -> str:
    values = sorted({r.metrics.get("real", {}).get("librist_buffer_ms") for _, r in pairs} - {None})
    return f"{', '.join(f'{v:g} ms' for v in values)} here" if values else "not recorded here"


def _markdown(
    table: pd.DataFrame, pairs: Sequence[Pair], plots: Sequence[Sequence[Path]], skipped: Sequence[str] = ()
) -> str:
    rows = [dict(row) for _, row in table.iterrows()]
    bounds = "".join(f"  - **{b.label}**: {b.describe()}\n" for b in BOUNDS)
    parts = [
        "# bondlab calibration: sim vs real\n",
        f"{len(table)} pair(s) of runs, each a sim run and a real run of the same scenario and scheduler. "
        f"{sum(bool(r['within_bounds']) for r in rows)} within every bound.\n",
        markdown_table(pd.DataFrame([_summary_row(r) for r in rows])),
        "- **Acceptance bounds** (`BOUNDS` in bondlab/real/calibrate.py), each |real − sim|:\n"
        + bounds
        + "- **Link share** is each link's share of the bytes sent, checked per link; the summary shows the "
        "worst link. Each Δ cell reads *measured difference ≤ or > the bound*, in % of sim, percentage "
        "points (pp) or ms.\n"
        "- **Delays** are capture → arrival on the wire in both worlds (real runs time packets with a "
        f"capture on the receiver's veths); librist's receiver buffer ({_buffers(pairs)}) is not in them.\n"
        "- **Known approximations**: where the kernel's emulation departs from the scenario, as the "
        "caller reported them (listed per pair below).\n"
        "- **Constant rate**: no events and no capacity traces in the scenario.\n",
    ]
    if skipped:
        parts.append("Left out (each line says why):\n\n" + "".join(f"- {s}\n" for s in skipped))
    for (sim, real), row, files in zip(pairs, rows, plots, strict=True):
        name = display_name(sim.scheduler)
        parts.append(f"## {sim.scenario} · {name} (sim seed {sim.seed}, real seed {real.seed})\n")
        parts.append(_detail_table(row))
        notes = [n for n in str(row.get("known_approximations") or "").split("; ") if n]
        parts.append("Known approximations: none reported.\n" if not notes else "Known approximations:\n")
        if notes:
            parts.append("".join(f"- {n}\n" for n in notes))
        parts.append(_phase_table(sim, real))
        parts.extend(f"![{p.stem}]({p.name})\n" for p in files)
    return "\n".join(parts)


def _phase_table(sim: StoredRun, real: StoredRun) -> str:
    """The pair phase by phase (real/calibrate_phases.py), each cell sim / real."""
    rows = phase_rows(sim, real)
    if not rows:
        return "Phases: not available (a run stored before frames.parquet existed).\n"
    out = []
    for r in rows:
        cells = {"phase": f"{r['start_s']:g}-{r['end_s']:g} s"}
        for key, label, fmt in _PHASE_COLUMNS:
            cells[label] = f"{fmt(r[key + '_sim'])} / {fmt(r[key + '_real'])}"
        cells["result"] = "pass" if r["within_bounds"] else "FAIL: " + r["failures"]
        out.append(cells)
    return "Phase by phase (sim / real; share: bytes delivered per link as the reports counted them):\n\n" + (
        markdown_table(pd.DataFrame(out))
    )


_PHASE_COLUMNS: tuple[tuple[str, str, Callable[[float], str]], ...] = (
    ("goodput_bps", "goodput", _mbps),
    ("on_time_ratio", "on time", percent),
    ("decodable_ratio", "decodable", percent),
    ("p50_delay_ms", "p50", _ms),
    ("p95_delay_ms", "p95", _ms),
)


# -- entry point ---------------------------------------------------------------------------------


def write_calibration(
    pairs: list[Pair],
    out_dir: Path,
    approximations: Mapping[str, Sequence[str]] | None = None,
    skipped: Sequence[str] = (),
    command: str = "bondlab calibrate",
) -> CalibrationFiles:
    """Write calibration.csv, phases.csv (calibrate_phases.phase_rows of every pair),
    calibration.md and the PNGs for each (sim run, real run) pair.
    `approximations`: per scenario name, what the real backend only approximates (e.g.
    bondlab.real.shaping_fidelity.check_expressible(scenario)); shown in the Markdown and the CSV.
    `skipped`: one line per scenario or pair left out, saying why (the real backend cannot express
    it; its runs are not stored), listed too.
    summary.md (calibration_summary.py) is the same at a glance, naming `command` as its source."""
    if not pairs:
        raise ValueError("no (sim, real) pairs to calibrate")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    table = calibration_table(pairs, approximations)  # validates every pair before anything is drawn
    csv_path = out_dir / "calibration.csv"
    table.to_csv(csv_path, index=False)
    share_bound = next(b.limit for b in BOUNDS if b.metric == "link_share")
    plots = [pair_plots(pair, out_dir, share_bound) for pair in pairs]
    phases = pd.DataFrame([row for sim, real in pairs for row in phase_rows(sim, real)])
    phases.to_csv(out_dir / "phases.csv", index=False)
    md_path = out_dir / "calibration.md"
    md_path.write_text(_markdown(table, pairs, plots, skipped))
    summary = summary_markdown(table, phases, pairs, command)
    if skipped:
        summary += "\nLeft out (each line says why):\n\n" + "".join(f"- {s}\n" for s in skipped)
    (out_dir / "summary.md").write_text(summary)
    return CalibrationFiles(csv_path, md_path, [p for files in plots for p in files])
