"""The emulated network: a sender and a receiver namespace joined by one veth pair per link.

    sender ns  bl<pid>-<hex>-s          receiver ns  bl<pid>-<hex>-r
      bl<pid>l0s 10.200.0.1/30  <-veth->  bl<pid>l0r 10.200.0.2/30
      bl<pid>l1s 10.200.1.1/30  <-veth->  bl<pid>l1r 10.200.1.2/30   ...

Each link is its own /30, so a packet to 10.200.<i>.2 leaves by link i through the connected
route alone: no policy routing. Addresses exist only inside the namespaces; the host's
interfaces and routes are never touched (the veth ends are created directly in their
namespaces). IPv6 address generation is off on the veths so no ND/MLD chatter crosses the links.

Commands run as iproute2 subprocesses (bondlab.real.netns_commands): `ip -batch` sets a whole
testbed up with three process starts, live changes go through one `tc -batch` per namespace.

Cleanup: deleting the two namespaces removes the veths and their qdiscs, but a namespace stays
alive while a process is inside it, so `close()` first kills every process found in them. It
runs on leaving the `with` block (also on exceptions), on SIGINT/SIGTERM/SIGHUP (handlers that
raise KeyboardInterrupt/SystemExit are installed while the testbed is open, the previous ones
restored afterwards) and at interpreter exit (atexit). Only SIGKILL escapes; `cleanup_stale()`
(bondlab.real.netns_cleanup) removes what such runs left (names carry the owner's pid),
`leftovers()` lists it.
"""

from __future__ import annotations

import atexit
import os
import secrets
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from bondlab.real.forked import ForkedProcess, RunProcess, fork_main
from bondlab.real.netns_cleanup import PREFIX, check_prefix, cleanup_stale, delete_netns, leftovers
from bondlab.real.netns_commands import IP, TC, NetnsError, TcBatch, call_in_netns, run

SUBNET = 200  # links use 10.SUBNET.<index>.0/30
_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def netem_available() -> bool:
    """Whether this kernel can hold bondlab's shaping tree (netem root, htb child, bfifo leaf).

    Tries it for real on `lo` of a throwaway namespace (deleted again, whatever happens). False
    when not root. The kernel loads sch_netem on demand where the module exists.
    """
    if os.geteuid() != 0:
        return False
    name = f"{PREFIX}{os.getpid()}-{secrets.token_hex(3)}-p"
    try:
        if run([IP, "netns", "add", name], check=False).returncode != 0:
            return False
        tree = (
            "qdisc add dev lo root handle 1: netem delay 1ms loss gemodel 1% 10% 50% 0%\n"
            "qdisc add dev lo parent 1:1 handle 10: htb default 1\n"
            "class add dev lo parent 10: classid 10:1 htb rate 1mbit ceil 1mbit burst 1600 quantum 1514\n"
            "qdisc add dev lo parent 10:1 handle 20: bfifo limit 10000\n"
        )
        return run([TC, "-n", name, "-batch", "-"], input=tree, check=False).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False
    finally:
        delete_netns([name])


def can_run_vm() -> tuple[bool, str]:
    """(ok, reason): QEMU, a /boot kernel, vng and busybox are present (see bondlab.real.vm)."""
    from bondlab.real.vm import vm_prerequisites

    return vm_prerequisites()


@dataclass(frozen=True)
class LinkEnds:
    name: str
    index: int
    sender_dev: str
    receiver_dev: str
    sender_ip: str
    receiver_ip: str
    prefixlen: int = 30


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _raise_exit(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


class Testbed:
    """Sender and receiver namespaces with one veth pair per link; a context manager.

    with Testbed(["lte-a", "lte-b"]) as tb:
        tb.shape(scenario.links[0])                  # qdiscs from bondlab.real.shaping
        tb.popen("receiver", ["ristreceiver", ...])
        tb.apply("lte-a", rate_argv(...))            # live change (tc batch, returns at once)
    """

    __test__ = False  # not a pytest class, whatever its name

    def __init__(
        self,
        links: int | Iterable[str] = 1,
        *,
        prefix: str = PREFIX,
        subnet: int = SUBNET,
        handle_signals: bool = True,
    ) -> None:
        check_prefix(prefix)
        names = [f"link{i}" for i in range(links)] if isinstance(links, int) else list(links)
        if not 1 <= len(names) <= 64 or len(set(names)) != len(names):
            raise ValueError("need 1 to 64 distinct link names")
        if not 0 <= subnet <= 255:
            raise ValueError("subnet must be 0..255")
        self.prefix = prefix
        self.pid = os.getpid()
        base = f"{prefix}{self.pid}-{secrets.token_hex(3)}"
        self.sender_ns = f"{base}-s"
        self.receiver_ns = f"{base}-r"
        self.links: dict[str, LinkEnds] = {
            name: LinkEnds(
                name,
                i,
                f"{prefix}{self.pid}l{i}s",
                f"{prefix}{self.pid}l{i}r",
                f"10.{subnet}.{i}.1",
                f"10.{subnet}.{i}.2",
            )
            for i, name in enumerate(names)
        }
        self.handle_signals = handle_signals
        self._procs: list[RunProcess] = []
        self._batches: dict[str, TcBatch] = {}
        self._previous: dict[int, Any] = {}
        self._state = "new"
        self._lock = threading.Lock()

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> Testbed:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> Testbed:
        """Create namespaces, veths and addresses; on any failure remove what was made, re-raise."""
        with self._lock:
            if self._state != "new":
                raise RuntimeError(f"testbed already {self._state}")
            self._state = "open"
        self._install_signal_handlers()
        atexit.register(self.close)
        try:
            root = [f"netns add {self.sender_ns}", f"netns add {self.receiver_ns}"]
            root += [
                f"link add {e.sender_dev} netns {self.sender_ns} type veth peer name {e.receiver_dev} "
                f"netns {self.receiver_ns}"
                for e in self.links.values()
            ]
            run([IP, "-batch", "-"], input="\n".join(root) + "\n")
            for ns, side in ((self.sender_ns, "sender"), (self.receiver_ns, "receiver")):
                lines = ["link set dev lo up"]
                for e in self.links.values():
                    dev = e.sender_dev if side == "sender" else e.receiver_dev
                    ip = e.sender_ip if side == "sender" else e.receiver_ip
                    lines += [
                        f"link set dev {dev} addrgenmode none",
                        f"address add {ip}/{e.prefixlen} dev {dev}",
                        f"link set dev {dev} up",
                    ]
                run([IP, "-n", ns, "-batch", "-"], input="\n".join(lines) + "\n")
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Stop our processes, delete both namespaces (veths and qdiscs go with them). Idempotent."""
        with self._lock:
            if self._state in ("closing", "closed"):
                return
            self._state = "closing"
        main = threading.current_thread() is threading.main_thread()
        old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS) if main else None
        try:
            for batch in self._batches.values():
                try:
                    batch.close()
                except OSError:
                    pass
            self._batches.clear()
            for proc in self._procs:
                if proc.poll() is None:
                    proc.terminate()
            for proc in self._procs:
                try:
                    proc.wait(timeout=2)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            self._procs.clear()
            still = delete_netns([self.sender_ns, self.receiver_ns])
        finally:
            self._restore_signal_handlers()
            atexit.unregister(self.close)
            self._state = "closed"
            if old_mask is not None:
                signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        if still:
            raise NetnsError(f"could not delete namespaces {', '.join(still)}")

    def _install_signal_handlers(self) -> None:
        if not self.handle_signals or threading.current_thread() is not threading.main_thread():
            return
        for sig in _SIGNALS:
            previous = signal.getsignal(sig)
            if previous is signal.SIG_IGN:
                continue  # whoever ignores it (nohup) keeps ignoring it
            self._previous[sig] = previous
            signal.signal(sig, _raise_interrupt if sig == signal.SIGINT else _raise_exit)

    def _restore_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig, previous in self._previous.items():
            signal.signal(sig, previous if previous is not None else signal.SIG_DFL)
        self._previous.clear()

    # -- shaping -----------------------------------------------------------------------------

    def netns(self, side: str) -> str:
        """Namespace name for "sender"/"s" or "receiver"/"r"."""
        if side in ("sender", "s"):
            return self.sender_ns
        if side in ("receiver", "r"):
            return self.receiver_ns
        raise ValueError(f"side must be 'sender' or 'receiver', got {side!r}")

    def _batch(self, netns: str) -> TcBatch:
        if self._state != "open":
            raise RuntimeError("testbed is not open")
        if netns not in self._batches:
            self._batches[netns] = TcBatch(netns)
        return self._batches[netns]

    def apply(self, link_name: str, argv: Sequence[str], *, wait: bool = False) -> None:
        """Apply a tc argv (from bondlab.real.shaping) to one of `link_name`'s two ends.

        The end, hence the namespace, is the device named after "dev". Queued to the
        namespace's tc batch: returns at once; `wait=True` (or sync()) checks it took effect.
        """
        ends = self.links[link_name]
        try:
            dev = argv[list(argv).index("dev") + 1]
        except (ValueError, IndexError):
            raise ValueError(f"no 'dev <name>' in {argv!r}") from None
        if dev == ends.sender_dev:
            netns = self.sender_ns
        elif dev == ends.receiver_dev:
            netns = self.receiver_ns
        else:
            raise ValueError(
                f"{dev} is not an end of link {link_name} ({ends.sender_dev}, {ends.receiver_dev})"
            )
        self._batch(netns).send(argv)
        if wait:
            self.sync()

    def mark(self) -> dict[str, int]:
        """A marker in every namespace's tc batch after what was applied so far (no waiting); pass
        the result to `applied_at` once tc had time to process it."""
        return {ns: batch.mark() for ns, batch in self._batches.items()}

    def applied_at(self, marks: dict[str, int]) -> float | None:
        """CLOCK_MONOTONIC by which tc had processed everything before `marks` (None if not yet)."""
        times = [self._batches[ns].done_at.get(line) for ns, line in marks.items()]
        return None if any(t is None for t in times) else max(times, default=None)

    def sync(self, timeout: float = 10.0) -> None:
        """Wait until every applied command was processed; NetnsError listing those that failed."""
        errors = []
        for batch in list(self._batches.values()):
            errors += batch.sync(timeout)
        if errors:
            raise NetnsError("tc failed: " + "; ".join(errors))

    def shape(
        self,
        link: Any,
        *,
        name: str | None = None,
        rate_bps: float | None = None,
        packet_bytes: int | None = None,
    ) -> None:
        """Install a link's whole qdisc tree from a LinkSpec (or a timeline state dict + name)."""
        from bondlab.real import shaping

        link_name = name if name is not None else link.name
        ends = self.links[link_name]
        kwargs: dict[str, Any] = {"rate_bps": rate_bps}
        if packet_bytes is not None:
            kwargs["packet_bytes"] = packet_bytes
        for argv in shaping.link_argvs(link, ends.sender_dev, ends.receiver_dev, **kwargs):
            self.apply(link_name, argv)
        self.sync()

    def qdiscs(self, link_name: str) -> str:
        """`tc -s qdisc show` of both ends (for debugging and stats)."""
        ends = self.links[link_name]
        out = []
        for netns, dev in ((self.sender_ns, ends.sender_dev), (self.receiver_ns, ends.receiver_dev)):
            out.append(run([TC, "-n", netns, "-s", "qdisc", "show", "dev", dev]).stdout)
        return "".join(out)

    # -- processes ---------------------------------------------------------------------------

    def exec_argv(self, side: str, argv: Sequence[str]) -> list[str]:
        """argv wrapped to run inside a namespace (`ip netns exec`, which also remounts /sys)."""
        return [IP, "netns", "exec", self.netns(side), *argv]

    def popen(self, side: str, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
        """Start a process in a namespace; close() terminates it (then kills it after 2 s)."""
        if self._state != "open":
            raise RuntimeError("testbed is not open")
        proc = subprocess.Popen(self.exec_argv(side, argv), **kwargs)
        self._procs.append(proc)
        return proc

    def fork(self, side: str, module: str, args: Sequence[str]) -> ForkedProcess:
        """`python -m MODULE ARGS` in a namespace as a fork of this process (real/forked.py: no
        imports to pay again); close() stops it like a popen'd one."""
        if self._state != "open":
            raise RuntimeError("testbed is not open")
        proc = fork_main(self.netns(side), module, args)
        self._procs.append(proc)
        return proc

    def run(
        self, side: str, argv: Sequence[str], *, timeout: float | None = None, **kwargs: Any
    ) -> subprocess.CompletedProcess[Any]:
        """subprocess.run inside a namespace."""
        return subprocess.run(self.exec_argv(side, argv), timeout=timeout, **kwargs)

    def call(
        self, side: str, fn: Callable[..., Any], *args: Any, timeout: float | None = None, **kwargs: Any
    ) -> Any:
        """fn(*args, **kwargs) in a forked child inside a namespace (see call_in_netns)."""
        return call_in_netns(self.netns(side), fn, *args, timeout=timeout, **kwargs)


def _main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    command = args[0] if args else "check"
    if command == "leftovers":
        for item in leftovers():
            print(item)
        return 0
    if command == "cleanup":
        for item in cleanup_stale():
            print(f"removed {item}")
        return 0
    if command == "check":
        ok, reason = can_run_vm()
        print(f"netem here: {'yes' if netem_available() else 'no'}")
        print(f"VM fallback: {'yes' if ok else 'no'} ({reason})")
        return 0
    print("usage: python -m bondlab.real.netns [check|leftovers|cleanup]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(_main())
