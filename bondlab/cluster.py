"""Where many runs go at once: a dask.distributed cluster, local or remote, behind one code path.

Sweeps, the tuner and regression runs hand their points to `run_all`; whether the workers are a
LocalCluster on this machine (the default: one process per core) or a cluster at `--address` is
the only difference, so a user who outgrows one machine changes one flag. A point that raises is
returned with a one-line error and never stops the others.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from tqdm import tqdm

from bondlab.main_guard import why_workers_cannot_start


@dataclass(frozen=True)
class Outcome:
    """One point's fate: its result, or the one line saying why it failed."""

    item: Any
    result: Any = None
    error: str | None = None
    seconds: float = 0.0


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if text.startswith(type(exc).__name__) else f"{type(exc).__name__}: {text}"


def _guarded(fn: Callable[[Any], Any], item: Any) -> tuple[Any, str | None, float]:
    """Runs on a worker: never raises, so a bad point is a row, not a dead sweep."""
    start = time.perf_counter()
    try:
        return fn(item), None, time.perf_counter() - start
    except Exception as exc:  # noqa: BLE001 - every failure becomes the point's error line
        return None, one_line(exc), time.perf_counter() - start


@contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Start local workers with SIGINT ignored, which they inherit (through exec) for good.

    A terminal's Ctrl-C reaches every process of the group, and a worker would die on it with a
    traceback; the process that started the cluster shuts it down instead. The price: a Ctrl-C
    during the few seconds of start-up is not seen (SIGTERM is, by callers that handle it).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


# A worker samples its own threads' stacks every 10 ms for the dashboard's profile page: ~10 % of a
# CPU-bound sim point measured here (`bondlab bench --sweep`, 1.04 -> 1.14 points/s on one worker).
# Local clusters start without a dashboard, so nobody would read it. Remote clusters keep their own config.
#
# The scheduler hands a worker its next point only when it finished the last (saturation 1.0, not
# dask's default 1.1, which queues two on a one-thread worker): points differ in length, and with
# two queued one worker sat idle at the end of each batch while the other still had two to run.
QUIET_WORKERS = {
    "distributed.scheduler.worker-saturation": 1.0,
    "distributed.worker.profile.enabled": False,
    "distributed.worker.profile.interval": "10s",
    "distributed.worker.profile.cycle": "100s",
}


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)))


CONNECT_TIMEOUT_S = 5


@contextmanager
def dask_client(workers: int | None = None, address: str | None = None) -> Iterator[Any]:
    """A dask Client: to the scheduler at `address`, else a LocalCluster of `workers` processes.

    None (run_all then runs inline, in this process) when local workers cannot start from the
    running program (bondlab.main_guard), after one line on stderr saying why and what to change.
    """
    import dask
    from dask.distributed import Client, LocalCluster

    for name in ("distributed", "distributed.worker", "distributed.scheduler", "distributed.nanny"):
        logging.getLogger(name).setLevel(logging.ERROR)
    if address is not None:
        try:
            # A scheduler answers within a second on a network worth sweeping over; 20 s of
            # silence before the error read as a hang.
            client = Client(address, timeout=f"{CONNECT_TIMEOUT_S}s")
        except (OSError, TimeoutError) as exc:
            raise ConnectionError(
                f"no dask scheduler answers at {address} within {CONNECT_TIMEOUT_S} s: {one_line(exc)}"
            ) from exc
        try:
            yield client
        finally:
            client.close()
        return
    n = workers or default_workers()
    if n < 1:
        raise ValueError(f"--workers must be at least 1 (got {n})")
    reason = why_workers_cannot_start()
    if reason is not None:
        print(
            f"bondlab: running here, one point at a time, not on {n} worker processes: {reason}",
            file=sys.stderr,
        )
        yield None
        return
    with warnings.catch_warnings(), _sigint_ignored(), dask.config.set(QUIET_WORKERS):
        # dashboard_address=None still starts the scheduler's HTTP server, which warns when the
        # default port is taken (another cluster is up): noise, the server is not used.
        warnings.filterwarnings("ignore", message=r"Port \d+ is already in use")
        cluster = LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            # CRITICAL, not ERROR: at shutdown a worker's heartbeat can race the closing scheduler
            # and log a traceback; a point's own failure comes back as its error line instead.
            silence_logs=logging.CRITICAL,
        )
    try:
        with Client(cluster) as client:
            yield client
    finally:
        cluster.close()


def run_all(
    fn: Callable[[Any], Any],
    items: Iterable[Any],
    client: Any | None = None,
    desc: str = "points",
    progress: bool = True,
) -> Iterator[Outcome]:
    """Run `fn(item)` for every item on the client's workers (inline if client is None), as they finish.

    The progress bar shows points done, failed so far and the time left.
    """
    todo = list(items)
    bar = tqdm(total=len(todo), desc=desc, unit="pt", disable=not progress, dynamic_ncols=True)
    failed = 0
    try:
        if client is None:
            outcomes: Iterator[tuple[Any, tuple[Any, str | None, float]]] = (
                (item, _guarded(fn, item)) for item in todo
            )
        else:
            from dask.distributed import as_completed

            futures = {client.submit(_guarded, fn, item, pure=False): item for item in todo}
            outcomes = ((futures[f], f.result()) for f in as_completed(futures))
        for item, (result, error, seconds) in outcomes:
            failed += error is not None
            bar.set_postfix(failed=failed, refresh=False)
            bar.update(1)
            yield Outcome(item, result, error, seconds)
    finally:
        bar.close()
