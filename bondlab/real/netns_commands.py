"""How bondlab runs something against a network namespace: ip/tc commands, a long-lived tc batch,
and a Python function in a forked child that joined the namespace.

Commands are iproute2 binaries by full path (/usr/sbin/ip, /usr/sbin/tc: inside the VM busybox
applets come first on PATH), run as subprocesses rather than through pyroute2: the same argv
can be pasted into a shell to debug, and `ip -batch` sets a whole testbed up with three process
starts (a process start costs 0.2-0.7 s in the TCG VM). Live changes (events, 100 ms trace
steps) go through one long-lived `tc -batch` process per namespace, which applies a line in
about 10 ms in the VM where a `tc` process per change would take ~0.5 s.

`call_in_netns` runs a Python function inside a namespace without starting a new program: a fork
of this process joins the namespace with setns(2) and pickles the result back.
"""

from __future__ import annotations

import ctypes
import os
import pickle
import re
import select
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

IP = "/usr/sbin/ip"
TC = "/usr/sbin/tc"
NETNS_DIR = Path("/run/netns")
CLONE_NEWNET = 0x40000000


class NetnsError(RuntimeError):
    """An ip/tc command failed; the message holds the command line and its error output."""


def run(
    argv: Sequence[str], *, input: str | None = None, timeout: float = 60.0, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run an ip/tc command, capturing output; NetnsError (command + stderr) if it fails."""
    proc = subprocess.run(
        list(argv),
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=None if input is not None else subprocess.DEVNULL,
    )
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip()
        raise NetnsError(f"{shlex.join(argv)} exited {proc.returncode}: {detail}")
    return proc


def setns(name: str) -> None:
    """Join network namespace `name` (this thread; a forked child is all one thread)."""
    fd = os.open(NETNS_DIR / name, os.O_RDONLY | os.O_CLOEXEC)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns({name}): {os.strerror(err)}")
    finally:
        os.close(fd)


def call_in_netns(
    name: str, fn: Callable[..., Any], *args: Any, timeout: float | None = None, **kwargs: Any
) -> Any:
    """Run fn(*args, **kwargs) in a forked child that joined namespace `name`; return its result.

    The result (or the exception, re-raised here) travels back pickled. The child is a fork of
    this process: fn should not rely on locks other threads may hold. TimeoutError after
    `timeout` seconds (the child is killed).
    """
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        try:
            os.close(rfd)
            try:
                setns(name)
                outcome: tuple[bool, Any] = (True, fn(*args, **kwargs))
            except BaseException as exc:  # everything goes back to the parent
                outcome = (False, exc)
            try:
                data = pickle.dumps(outcome)
            except Exception as exc:
                data = pickle.dumps((False, RuntimeError(f"result not picklable: {exc!r}")))
            with os.fdopen(wfd, "wb") as fh:
                fh.write(data)
        finally:
            os._exit(0)
    os.close(wfd)
    chunks = []
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        while True:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([rfd], [], [], wait)
            if not ready:
                os.kill(pid, signal.SIGKILL)
                what = getattr(fn, "__name__", fn)
                raise TimeoutError(f"{what} in netns {name}: no result after {timeout} s")
            chunk = os.read(rfd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    except BaseException:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        raise
    finally:
        os.close(rfd)
        os.waitpid(pid, 0)
    if not chunks:
        raise RuntimeError(f"{getattr(fn, '__name__', fn)} in netns {name}: child died without a result")
    ok, value = pickle.loads(b"".join(chunks))
    if ok:
        return value
    raise value


class TcBatch:
    """One long-lived `tc -n <ns> -force -batch -`: a command costs a line, not a process.

    send() returns at once; sync() waits until tc has processed everything sent so far (a
    deliberately failing command, see mark(), marks the spot on stderr) and returns the
    failures since the last sync, as "command line: error" strings.
    """

    def __init__(self, netns: str) -> None:
        self.netns = netns
        self._proc = subprocess.Popen(
            [TC, "-n", netns, "-force", "-batch", "-"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self._sent: dict[int, list[str]] = {}
        self._count = 0
        self._synced = 0
        self._errors: list[str] = []
        self.done_at: dict[int, float] = {}  # marker line -> CLOCK_MONOTONIC when tc reached it
        self._markers: set[int] = set()  # marker lines not answered yet
        self._cond = threading.Condition()
        self._write_lock = threading.RLock()
        self._reader = threading.Thread(target=self._read, name=f"tc-batch-{netns}", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._proc.stderr is not None
        pending: list[str] = []
        for raw in self._proc.stderr:
            line = raw.strip()
            match = re.fullmatch(r"Command failed -:(\d+)", line)
            if match is None:
                if line:
                    pending.append(line)
                continue
            lineno = int(match.group(1))
            with self._cond:
                argv = self._sent.pop(lineno, None)
                if argv is not None and lineno in self._markers:
                    self._markers.discard(lineno)
                    self._synced = max(self._synced, lineno)
                    self.done_at[lineno] = time.monotonic()
                else:
                    shown = shlex.join(argv) if argv else f"line {lineno}"
                    self._errors.append(f"{shown}: {' '.join(pending) or 'failed'}")
                self._cond.notify_all()
            pending = []
        with self._cond:
            self._synced = sys.maxsize  # tc is gone: nobody will answer
            self._cond.notify_all()

    def send(self, argv: Sequence[str]) -> int:
        """Queue one tc command (argv as for subprocess, starting with the tc binary); its line number."""
        if not argv or Path(argv[0]).name != "tc":
            raise ValueError(f"not a tc command: {argv!r}")
        words = list(argv[1:])
        if any(not w or re.search(r"[\s\"'\\#]", w) for w in words):
            raise ValueError(f"tc batch lines cannot carry blanks or quotes: {argv!r}")
        if self._proc.poll() is not None:
            raise NetnsError(f"tc batch for {self.netns} has exited ({self._proc.returncode})")
        assert self._proc.stdin is not None
        with self._write_lock:  # line numbers follow the order of writes
            with self._cond:
                self._count += 1
                lineno = self._count
                self._sent[lineno] = [TC, "-n", self.netns, *words]
            try:
                self._proc.stdin.write(" ".join(words) + "\n")
                self._proc.stdin.flush()
            except BrokenPipeError:
                raise NetnsError(f"tc batch for {self.netns} has exited") from None
        return lineno

    def mark(self) -> int:
        """Queue a marker after everything sent so far, without waiting: `done_at[returned line]`
        is set when tc has processed it (how late a live link change took effect).

        The marker is a command that fails at once: deleting the root qdisc of `lo`, which has
        none (noqueue; bondlab never gives it one). It used to be `qdisc show dev <no such
        device>`, but a missing device name makes the kernel try to load a module for it
        (request_module "netdev-<name>", a modprobe run): 0.5 s in the TCG VM idle, 1.4-2.6 s
        under a run's load, which read as link changes applied that late."""
        with self._write_lock:
            token = self._count + 1
            with self._cond:
                self._markers.add(token)
            self.send([TC, "qdisc", "del", "dev", "lo", "root"])
        return token

    def sync(self, timeout: float = 10.0) -> list[str]:
        """Wait for tc to catch up; the failures since the last sync (and forget them)."""
        token = self.mark()
        with self._cond:
            if not self._cond.wait_for(lambda: self._synced >= token, timeout):
                raise NetnsError(f"tc batch for {self.netns}: no answer within {timeout} s")
            errors, self._errors = self._errors, []
        if self._synced == sys.maxsize:
            errors.append(f"tc batch for {self.netns} exited ({self._proc.poll()})")
        return errors

    def close(self) -> None:
        if self._proc.stdin is not None and not self._proc.stdin.closed:
            try:
                self._proc.stdin.close()
            except BrokenPipeError:
                pass
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._reader.join(timeout=5)
