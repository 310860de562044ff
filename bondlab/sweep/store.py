"""A sweep's results on disk: one parquet file per point, named by its key, written atomically.

    OUT/sweep.json           what was swept (parameter names, scenarios, schedulers, seeds)
    OUT/points/<key>.parquet one row per point
    OUT/report/              written by `bondlab sweep --report`

A file appears only once complete (written to a hidden temporary name in the same directory, then
`os.replace`d), so a sweep killed at any moment leaves whole points or none: the file name is the
record that a point is done. Unreadable files are treated as missing and run again.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

log = logging.getLogger(__name__)

# Columns every row has besides the swept values and the metrics.
ID_COLUMNS = ["scenario", "scenario_path", "scheduler", "seed"]
TAIL_COLUMNS = ["point_key", "bondlab_version", "error", "seconds"]


def points_dir(out: Path) -> Path:
    return Path(out) / "points"


def cell(value: Any) -> Any:
    """Parquet-friendly: nested values (a swept dict or list) are kept as JSON text."""
    return json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else value


def write_point(out: Path, row: dict[str, Any]) -> Path:
    """Write one point's row as OUT/points/<point_key>.parquet, all at once or not at all."""
    directory = points_dir(out)
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / f"{row['point_key']}.parquet"
    tmp = directory / f".{row['point_key']}.{uuid.uuid4().hex[:8]}.tmp"
    table = pa.Table.from_pylist([{k: cell(v) for k, v in row.items()}])
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    return final


def remove_stale_temporaries(out: Path, older_than_s: float = 600.0) -> int:
    """Temporary files of a writer killed mid-write (old ones only: another sweep may be writing)."""
    n = 0
    for tmp in points_dir(out).glob(".*.tmp"):
        try:
            if time.time() - tmp.stat().st_mtime > older_than_s:
                tmp.unlink()
                n += 1
        except FileNotFoundError:
            pass
    return n


def _read(path: Path) -> pa.Table | None:
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        log.warning("%s: unreadable, will run this point again (%s)", path, exc)
        return None
    if table.num_rows != 1 or "point_key" not in table.column_names:
        log.warning("%s: not a sweep point, ignored", path)
        return None
    return table


def load_points(out: Path, keys: set[str] | None = None) -> pd.DataFrame:
    """Every readable point under OUT (only `keys`, if given) as one DataFrame, one row per point."""
    files = sorted(points_dir(out).glob("*.parquet"))
    if keys is not None:
        files = [f for f in files if f.stem in keys]
    tables = [t for t in map(_read, files) if t is not None]
    if not tables:
        return pd.DataFrame(columns=ID_COLUMNS + TAIL_COLUMNS)
    # permissive: an int column in one file and a float one in another become float; a column
    # missing from a file (a failed point has no metrics) becomes null there.
    return pa.concat_tables(tables, promote_options="permissive").to_pandas()


def write_manifest(out: Path, info: dict[str, Any]) -> None:
    """OUT/sweep.json: parameter names merged with any earlier sweep into the same directory."""
    path = Path(out) / "sweep.json"
    old = read_manifest(out)
    params = list(dict.fromkeys([*old.get("params", []), *info.get("params", [])]))
    data = {**old, **info, "params": params}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".sweep.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def read_manifest(out: Path) -> dict[str, Any]:
    path = Path(out) / "sweep.json"
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return {}
