"""Run processes as forks of a warm interpreter, each joined to its network namespace.

Why: in the TCG VM the guest reads the host's tree over 9p, and a fresh `python -m
bondlab.real.sender` spent 43 s importing (pandas, pydantic, numpy, cffi: thousands of file
reads) before its first packet; capture and receiver ~10 s each, three processes a run. The run
orchestrator imports those modules once per VM boot and forks each run process from itself:
the child joins the namespace with setns(2), as `ip netns exec` would, and calls the module's
`main(argv)`; its exit status is main's return value, a signal death is a negative returncode,
as with subprocess.Popen.
"""

from __future__ import annotations

import gc
import importlib
import logging
import os
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Sequence
from typing import Any, Union

from bondlab.real.netns_commands import setns

# Run processes: the modules the orchestrator warms up (imports) before the first run.
RUN_PROCESSES = ("bondlab.real.capture", "bondlab.real.receiver", "bondlab.real.sender")


def warm_up() -> None:
    """Import every run process's module in this process, so that forks start warm."""
    for name in RUN_PROCESSES:
        importlib.import_module(name)


class ForkedProcess:
    """The subprocess.Popen calls the orchestrator makes (poll, wait, send_signal, terminate, kill)
    on a forked child; `returncode` is -N after a death by signal N, as Popen's."""

    def __init__(self, pid: int, args: list[str]) -> None:
        self.pid, self.args = pid, args
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if timeout is None:
            while self.returncode is None:
                _pid, status = os.waitpid(self.pid, 0)
                self.returncode = os.waitstatus_to_exitcode(status)
            return self.returncode
        end = time.monotonic() + timeout
        while self.poll() is None:
            if time.monotonic() >= end:
                raise subprocess.TimeoutExpired(self.args, timeout)
            time.sleep(min(0.02, max(end - time.monotonic(), 0.0)))
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:  # never signal a reaped pid: it may be somebody else's by now
            os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def fork_main(netns: str, module: str, args: Sequence[str]) -> ForkedProcess:
    """`python -m MODULE ARGS...` inside namespace `netns`, as a fork of this process."""
    main = importlib.import_module(module).main
    argv = [str(a) for a in args]
    sys.stdout.flush()
    sys.stderr.flush()
    gc.collect()  # no garbage left for the child to collect (see _child)
    pid = os.fork()
    if pid == 0:
        _child(netns, module, main, argv)  # never returns
    return ForkedProcess(pid, [module, *argv])


def _child(netns: str, module: str, main: object, argv: list[str]) -> None:
    """The child's whole life: a clean slate as exec would give (default signal handling, no
    inherited descriptors but stdio: a copy of the tc batch's pipe would keep tc from ever seeing
    its end), the namespace, main(argv), then _exit: never the parent's finally blocks or atexit
    hooks (the Testbed's would delete the namespaces). Inherited objects are frozen out of the
    collector: one that owned a descriptor, finalised here, would close a number the child reuses."""
    status = 1
    try:
        gc.freeze()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        os.closerange(3, os.sysconf("SC_OPEN_MAX"))
        _forget_log_handlers()
        setns(netns)
        sys.argv = [module, *argv]
        result = main(argv)  # type: ignore[operator]
        status = result if isinstance(result, int) else 0
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(status)


def _forget_log_handlers() -> None:
    """Drop the parent's log handlers (direct mode: the CLI's), now, while their descriptors are
    closed and none of the child's own is open yet: the run process then configures its own log
    file (real/proc.py), and no handler of the parent's can later close a number the child reuses."""
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    for logger in loggers:
        if isinstance(logger, logging.Logger):
            logger.handlers.clear()


# What the orchestrator holds for a run process: a fork (real runs) or a Popen (tests, tools).
RunProcess = Union["subprocess.Popen[Any]", ForkedProcess]
