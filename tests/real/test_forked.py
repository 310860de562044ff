"""bondlab.real.forked: run processes forked from a warm interpreter into their namespace.

Needs root for the namespaces (skipped otherwise); no netem, no VM. The target module is written
into a temporary folder: its main(argv) reports where it ran, or misbehaves on request.
"""

from __future__ import annotations

import os
import signal
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from bondlab.real.netns import Testbed
from bondlab.real.netns_commands import TC

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")

TARGET = textwrap.dedent(
    """
    import os, signal, sys, time

    def main(argv):
        out, how = argv
        fds = " ".join(sorted(os.listdir("/proc/self/fd")))  # before this function opens any
        with open(out, "w") as fh:
            fh.write(os.readlink("/proc/self/ns/net") + "\\n")
            fh.write(fds + "\\n")
            fh.write(str(signal.getsignal(signal.SIGTERM)) + "\\n")
            fh.write(" ".join(sys.argv) + "\\n")
        if how == "sleep":
            time.sleep(60)
        if how == "raise":
            raise RuntimeError("target failed")
        if how == "exit":
            sys.exit(7)
        if how == "log":  # as real/proc.py's start_process: basicConfig to the run's own log file
            import logging
            logging.basicConfig(level=logging.INFO, handlers=[logging.FileHandler(out + ".log")])
            logging.getLogger("child").info("the child's line")
        return 3
    """
)


@pytest.fixture()
def target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "forked_target.py").write_text(TARGET)
    monkeypatch.syspath_prepend(str(tmp_path))
    return "forked_target"


def ns_of(tb: Testbed, side: str) -> str:
    out = tb.run(side, ["readlink", "/proc/self/ns/net"], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_a_fork_runs_main_in_its_namespace_with_a_clean_slate(tmp_path: Path, target: str) -> None:
    """The child is in the namespace it was given (not the parent's), its status is main's
    return value, its argv is the module's, and it holds no descriptor but stdio (a copy of
    the tc batch's pipe would keep tc alive) and default signal handling."""
    out = tmp_path / "out.txt"
    keep = open(tmp_path / "parent-holds-this", "w")  # noqa: SIM115 - a descriptor the child must not see
    try:
        with Testbed(["a"]) as tb:
            tb.apply(
                "a", [TC, "qdisc", "add", "dev", tb.links["a"].sender_dev, "root", "pfifo"], wait=True
            )  # a tc batch
            proc = tb.fork("sender", target, [str(out), "return"])
            assert proc.wait(timeout=30) == 3
            net, fds, handler, argv = out.read_text().splitlines()
            assert net == ns_of(tb, "sender") != os.readlink("/proc/self/ns/net")
            assert set(fds.split()) <= {"0", "1", "2", "3"}  # 3: the listing's own directory
            assert handler == str(signal.SIG_DFL)
            assert argv == f"{target} {out} return"
    finally:
        keep.close()


@pytest.mark.parametrize(("how", "status"), [("exit", 7), ("raise", 1)])
def test_a_fork_that_exits_or_raises_gives_its_status(
    tmp_path: Path, target: str, how: str, status: int
) -> None:
    with Testbed(["a"]) as tb:
        proc = tb.fork("receiver", target, [str(tmp_path / "out.txt"), how])
        assert proc.wait(timeout=30) == status
        assert proc.poll() == status


def test_a_signalled_fork_reads_like_popen_and_close_stops_the_rest(tmp_path: Path, target: str) -> None:
    """A death by signal is a negative returncode (what faults.how_it_ended reads); wait() with a
    timeout raises TimeoutExpired while it runs; leaving the Testbed stops a fork still running."""
    with Testbed(["a"]) as tb:
        killed = tb.fork("sender", target, [str(tmp_path / "k.txt"), "sleep"])
        left = tb.fork("sender", target, [str(tmp_path / "l.txt"), "sleep"])
        with pytest.raises(subprocess.TimeoutExpired):
            killed.wait(timeout=0.2)
        killed.send_signal(signal.SIGKILL)
        assert killed.wait(timeout=10) == -signal.SIGKILL
        killed.send_signal(signal.SIGTERM)  # reaped: a no-op, never a signal to a reused pid
    assert left.poll() == -signal.SIGTERM
    time.sleep(0.1)
    assert not Path(f"/proc/{left.pid}").exists()


def test_a_fork_logs_to_its_own_file_not_to_the_parents_handlers(tmp_path: Path, target: str) -> None:
    """Direct mode forks from the CLI, whose log handlers must not swallow the run process's
    configuration (logging.basicConfig is a no-op while the root logger has handlers)."""
    import logging

    parent_log = tmp_path / "parent.log"
    handler = logging.FileHandler(parent_log)
    logging.getLogger().addHandler(handler)
    try:
        with Testbed(["a"]) as tb:
            out = tmp_path / "child.txt"
            assert tb.fork("sender", target, [str(out), "log"]).wait(timeout=30) == 3
        assert "the child's line" in (tmp_path / "child.txt.log").read_text()
        assert "the child's line" not in parent_log.read_text()
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()
