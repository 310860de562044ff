"""Results layout shared by runners and readers: results/<scenario>/<run-id>/{run.json, metrics.json,
timeseries.parquet, delays_ms.npy, delay_capture_s.npy, frames.parquet, messages.json, run.log,
complete.json}.

A run is complete only when `complete.json` (the marker) is in its directory: it is written last,
names the writer's token and the size of every file it vouches for. Runners build a run in a hidden
staging directory next to the final one (`.<run-id>.partial-<pid>-<rand>`: run.json first, run.log
while it runs, outputs, marker) and swap it in with renames (`publish_run`), so a crash leaves the
previous complete run (or none) plus a hidden partial directory, never a half-written run under the
real name, and two writers of one run id leave one complete run, the last to finish. Every file is
written under a unique temporary name in its own directory and `os.replace`d. Readers (`find_runs`,
`load_run`, `bondlab.load_results`) refuse or skip anything without the marker. Runners write here;
reports and notebooks only read.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import platform
import re
import secrets
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, TypeVar

import numpy as np
import pandas as pd

import bondlab
from bondlab.procs import pid_alive
from bondlab.scenario import Scenario

DEFAULT_RESULTS = Path("results")
_T = TypeVar("_T")
MARKER = "complete.json"  # written last: its presence is what makes a run directory a result
FRAMES_FILE = "frames.parquet"
DELAY_TIMES_FILE = "delay_capture_s.npy"
INCOMPLETE = "incomplete.json"  # optional: why a run stopped (a fault); never needed to refuse one
_HIDDEN = re.compile(r"^\.(?P<run>.+)\.(?P<kind>partial|old)-(?P<pid>\d+)-[0-9a-f]+$")
log = logging.getLogger(__name__)


class IncompleteRunError(FileNotFoundError):
    """A run directory that is not a complete result (interrupted, failed, or still being written)."""


def git_revision() -> str:
    here = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        return rev + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def run_id(scheduler: str, seed: int, backend: str = "sim") -> str:
    return f"{scheduler}-{seed}" if backend == "sim" else f"{backend}-{scheduler}-{seed}"


def run_dir(results: Path, scenario: Scenario, scheduler: str, seed: int, backend: str = "sim") -> Path:
    """Where a run lives: RESULTS/<scenario>/<run id>, refused (ValueError) unless that is a folder
    two levels inside RESULTS (a name of dots or with a separator would put it elsewhere)."""
    results = Path(results)
    parts = (scenario.name, run_id(scheduler, seed, backend))
    for part in parts:
        if part in ("", ".", "..") or "/" in part or os.sep in part or part.startswith("."):
            raise ValueError(f"{part!r} cannot name a folder inside the results directory {results}")
    path = results.joinpath(*parts)
    if path.resolve().parent.parent != results.resolve():
        raise ValueError(f"{path} is not a run folder inside the results directory {results}")
    return path


# -- writing ---------------------------------------------------------------------------------------


def atomic_write(path: Path, write: Callable[[IO[bytes]], object]) -> None:
    """Write `path` whole or not at all: `write` fills a temporary file with a name unique to this
    writer in the same directory (so two writers never share it), which is flushed, synced and
    renamed over `path`. A crash leaves at most a hidden `.<name>.<pid>-<rand>.tmp`."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _atomic_write(path: Path, text: str) -> None:
    atomic_write(path, lambda fh: fh.write((text + "\n").encode()))


def write_run_json(
    directory: Path,
    scenario: Scenario,
    scheduler: str,
    seed: int,
    backend: str,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Written before the run starts, so every result can be traced to what made it. Written into
    an existing run directory (in place), it first withdraws the marker: that run is no longer
    complete until its new outputs are."""
    from bondlab.reuse import trace_digests

    directory.mkdir(parents=True, exist_ok=True)
    (directory / MARKER).unlink(missing_ok=True)
    (directory / "metrics.json").unlink(missing_ok=True)
    meta = {
        "scenario": scenario.resolved(),
        "scenario_name": scenario.name,
        "seed": seed,
        "scheduler": scheduler,
        "backend": backend,
        "bondlab_version": bondlab.__version__,
        "git_revision": git_revision(),
        "python": platform.python_version(),
        "started_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "trace_sha256": trace_digests(scenario),  # what the traces held: bondlab/reuse.py reads it
        **(extra or {}),
    }
    path = directory / "run.json"
    _atomic_write(path, json.dumps(meta, indent=2))
    return path


def write_outputs(
    directory: Path,
    metrics: dict[str, Any],
    timeseries: pd.DataFrame,
    messages: list[dict[str, Any]],
    delays_ms: np.ndarray | None = None,
    token: str | None = None,
    *,
    frames: pd.DataFrame | None = None,
    delay_capture_s: np.ndarray | None = None,
) -> None:
    """Every output file atomically, then the marker (last: it is what completes the run).

    `frames` (frames.parquet): one row per frame, t (capture, run clock), bytes, iframe, on_time,
    decodable; `delay_capture_s` (delay_capture_s.npy): the capture time (run clock) of each
    packet in delays_ms.npy. Both worlds write them: calibration compares phases of a run."""
    directory.mkdir(parents=True, exist_ok=True)
    atomic_write(directory / "timeseries.parquet", lambda fh: timeseries.to_parquet(fh, index=False))
    if delays_ms is not None:
        delays = np.asarray(delays_ms, dtype=np.float32)
        atomic_write(directory / "delays_ms.npy", lambda fh: np.save(fh, delays))
    if frames is not None:
        atomic_write(directory / FRAMES_FILE, lambda fh: frames.to_parquet(fh, index=False))
    if delay_capture_s is not None:
        times = np.asarray(delay_capture_s, dtype=np.float32)
        atomic_write(directory / DELAY_TIMES_FILE, lambda fh: np.save(fh, times))
    _atomic_write(directory / "messages.json", json.dumps(messages, indent=2))
    _atomic_write(directory / "metrics.json", json.dumps(metrics, indent=2))
    write_marker(directory, token)


def write_marker(directory: Path, token: str | None = None) -> None:
    """complete.json: the writer's token and the files it completed (names and sizes, for a person
    looking into the directory; readers only need the marker to exist)."""
    files = {
        p.name: p.stat().st_size
        for p in sorted(directory.iterdir())
        if p.is_file() and not p.name.startswith(".") and p.name not in (MARKER, INCOMPLETE, "run.log")
    }
    marker = {
        "token": token or directory.name,
        "finished_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "files": files,
    }
    _atomic_write(directory / MARKER, json.dumps(marker, indent=2))


def mark_incomplete(directory: Path, reason: str) -> None:
    """Record why a run stopped (incomplete.json) in its staging directory; it has no marker, so
    no reader takes it for a result whether or not this note is there."""
    try:  # best effort: it runs while another error propagates, which it must not replace
        (directory / MARKER).unlink(missing_ok=True)
        tmp = directory / f".{INCOMPLETE}.{os.getpid()}-{secrets.token_hex(4)}.tmp"
        tmp.write_text(json.dumps({"reason": reason}, indent=2) + "\n")
        os.replace(tmp, directory / INCOMPLETE)
    except OSError:
        pass


def cleanup_stale(parent: Path) -> list[Path]:
    """Remove hidden staging (and swapped-out) directories under `parent` whose writer pid is dead."""
    removed = []
    if not parent.is_dir():
        return removed
    for entry in parent.iterdir():
        m = _HIDDEN.match(entry.name)
        if m and entry.is_dir() and int(m["pid"]) != os.getpid() and not pid_alive(int(m["pid"])):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def begin_run(final: Path) -> Path:
    """A fresh hidden staging directory next to `final` (stale ones of dead writers removed first)."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    cleanup_stale(final.parent)
    staging = final.parent / f".{final.name}.partial-{os.getpid()}-{secrets.token_hex(4)}"
    staging.mkdir()
    return staging


def publish_run(staging: Path, final: Path, attempts: int = 50) -> Path:
    """Swap a complete staging directory in as `final`: move any previous run aside, rename, delete
    the old one. Another writer may slip its own run in between; then ours replaces it (the last to
    finish wins) and the loser is deleted whole. Readers see the old run, the new one, or briefly
    none, never a mix."""
    if not (staging / MARKER).is_file():
        raise IncompleteRunError(f"{staging}: not complete (no {MARKER}), not published")
    if final.exists() and not is_run_folder(final):
        raise FileExistsError(f"{final}: exists and is not a run folder; not replaced by the run")
    for _ in range(attempts):
        aside: Path | None = final.parent / f".{final.name}.old-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            os.rename(final, aside)  # type: ignore[arg-type]
        except FileNotFoundError:
            aside = None
        try:
            os.rename(staging, final)
        except OSError as exc:
            if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                # Another writer published in between: its run goes aside next time round (the
                # last to finish wins); the one we moved aside is older than both.
                if aside is not None:
                    shutil.rmtree(aside, ignore_errors=True)
                continue
            if aside is not None:  # any other failure keeps the previous run where it was
                with contextlib.suppress(OSError):
                    os.rename(aside, final)
            raise
        if aside is not None:
            shutil.rmtree(aside, ignore_errors=True)
        return final
    raise OSError(f"{final}: could not publish the run (other writers kept replacing it)")


def is_run_folder(path: Path) -> bool:
    """A run's own folder (complete or not), as opposed to a folder of runs."""
    return path.is_dir() and any((path / name).is_file() for name in ("run.json", "metrics.json", MARKER))


# -- reading ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredRun:
    path: Path
    meta: dict[str, Any]
    metrics: dict[str, Any]
    # The writer's token from complete.json when loaded (load_run): the files read later (time
    # series, frames, delays, messages) are checked to come from that same run.
    token: str | None = field(default=None, compare=False)

    def _same_run(self) -> None:
        """IncompleteRunError if another run was published over this one since it was loaded."""
        if self.token is not None and _marker_token(self.path) != self.token:
            raise IncompleteRunError(
                f"{self.path}: replaced by another run since it was loaded; load it again"
            )

    @property
    def scenario(self) -> str:
        return str(self.meta["scenario_name"])

    @property
    def scheduler(self) -> str:
        return str(self.meta["scheduler"])

    @property
    def backend(self) -> str:
        return str(self.meta.get("backend", "sim"))

    @property
    def seed(self) -> int:
        return int(self.meta["seed"])

    def _read(self, read: Callable[[], _T]) -> _T:
        """`read()`, then the check that the run was not replaced meanwhile (a file read across a
        publish fails or mixes two runs: either way the replacement is what is reported)."""
        try:
            out = read()
        except (OSError, ValueError):
            self._same_run()
            raise
        self._same_run()
        return out

    def timeseries(self) -> pd.DataFrame:
        return self._read(lambda: pd.read_parquet(self.path / "timeseries.parquet"))

    def frames(self) -> pd.DataFrame | None:
        """frames.parquet (see write_outputs), or None for a run stored before it existed."""
        path = self.path / FRAMES_FILE
        return self._read(lambda: pd.read_parquet(path) if path.exists() else None)

    def delays(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(delay ms, capture time s) per packet, or None where either file is missing."""
        d, t = self.path / "delays_ms.npy", self.path / DELAY_TIMES_FILE
        if not (d.exists() and t.exists()):
            return None
        return self._read(lambda: (np.load(d), np.load(t)))

    def messages(self) -> list[dict[str, Any]]:
        path = self.path / "messages.json"
        return self._read(lambda: json.loads(path.read_text()) if path.exists() else [])


def incomplete_reason(directory: Path) -> str | None:
    """None for a complete run directory; else one phrase saying why it is not one."""
    directory = Path(directory)
    note = directory / INCOMPLETE
    stated = None
    if note.is_file():
        try:
            stated = "incomplete: " + str(json.loads(note.read_text())["reason"])
        except (ValueError, KeyError, OSError):
            stated = None
    if _HIDDEN.match(directory.name):
        return stated or "incomplete: a hidden staging directory (a run being written, or one that stopped)"
    if not (directory / MARKER).is_file():
        return stated or f"incomplete (no {MARKER}: interrupted, failed or still being written)"
    return None


def _marker_token(directory: Path) -> str | None:
    try:
        return str(json.loads((Path(directory) / MARKER).read_text()).get("token"))
    except (OSError, ValueError, AttributeError):
        return None


def load_run(directory: Path, attempts: int = 5) -> StoredRun:
    """A complete run, read as one snapshot; IncompleteRunError (one line saying why) for anything
    else. A publish swaps a whole directory in, so the marker's writer token, read before and after
    the files, says whether they all came from one run; if not (another writer published in
    between), the read is tried again."""
    directory = Path(directory)
    for _ in range(attempts):
        why = incomplete_reason(directory)
        if why is not None:
            raise IncompleteRunError(f"{directory}: {why}")
        before = _marker_token(directory)
        try:
            meta = json.loads((directory / "run.json").read_text())
            metrics = json.loads((directory / "metrics.json").read_text())
        except FileNotFoundError:
            continue  # caught between a publish's two renames: read again
        if before is not None and _marker_token(directory) == before:
            return StoredRun(directory, meta, metrics, token=before)
    why = incomplete_reason(directory)
    raise IncompleteRunError(f"{directory}: {why or f'replaced while being read, {attempts} times'}")


def run_directories(results: Path) -> list[Path]:
    """Candidate run directories under `results` (<scenario>/<run-id>/ holding run.json or
    metrics.json), hidden staging directories left out."""
    found = set()
    for name in ("run.json", "metrics.json", MARKER):
        for p in Path(results).glob(f"*/*/{name}"):
            if not any(part.startswith(".") for part in p.relative_to(results).parts[:-1]):
                found.add(p.parent)
    return sorted(found)


def find_runs(results: Path = DEFAULT_RESULTS) -> list[StoredRun]:
    """Every complete run under `results`; incomplete ones are skipped with a logged note."""
    runs = []
    for directory in run_directories(results):
        why = incomplete_reason(directory)
        if why is None:
            runs.append(load_run(directory))
        else:
            log.warning("note: skipping %s: %s", directory, why)
    return runs
