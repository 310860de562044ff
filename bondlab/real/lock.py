"""One real run at a time per machine: an flock'ed file that names its holder's pid.

Two real runs at once would not collide in the kernel (namespaces are named per process), but they
would share the host's cores, and under TCG (or on a busy host) real time is what a real run
measures: both would come out wrong. So the second is refused with one line naming the holder.
flock locks die with their process, even on SIGKILL, so a crashed run never leaves a stale lock;
the pid in the file is only there to be reported.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_PATH = Path(os.environ.get("BONDLAB_REAL_LOCK", "/run/bondlab-real.lock"))


class LockHeld(RuntimeError):
    """Another process holds the real-run lock; str() is one line naming it."""


def holder(path: Path = LOCK_PATH) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


@contextmanager
def real_run_lock(path: Path = LOCK_PATH) -> Iterator[None]:
    """Hold the lock for the block, or raise LockHeld at once (never wait: a queued run would
    start at a moment nobody chose)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = holder(path)
            who = f"pid {pid}" if pid else "another process"
            raise LockHeld(
                f"real run: another real run is in progress ({who}, lock {path}); "
                "wait for it to finish, real runs need the machine to themselves"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)
