"""The emulated network: a sender and a receiver namespace joined by one veth pair per link.

    sender ns  bl<pid>-<hex>-s          receiver ns  bl<pid>-<hex>-r
      bl<pid>l0s 10.200.0.1/30  <-veth->  bl<pid>l0r 10.200.0.2/30
      bl<pid>l1s 10.200.1.1/30  <-veth->  bl<pid>l1r 10.200.1.2/30   ...

Each link is its own /30, so a packet to 10.200.<i>.2 leaves by link i through the connected
route alone: no policy routing. Addresses exist only inside the namespaces; the host's
interfaces and routes are never touched (the veth ends are created directly in their
namespaces). IPv6 address generation is off on the veths so no ND/MLD chatter crosses the links.

Commands are iproute2 binaries by full path (/usr/sbin/ip, /usr/sbin/tc: inside the VM busybox
applets come first on PATH), run as subprocesses rather than through pyroute2: the same argv
can be pasted into a shell to debug, and `ip -batch` sets a whole testbed up with three process
starts (a process start costs 0.2-0.7 s in the TCG VM). Live changes (events, 100 ms trace
steps) go through one long-lived `tc -batch` process per namespace, which applies a line in
about 10 ms in the VM where a `tc` process per change would take ~0.5 s.

Cleanup: deleting the two namespaces removes the veths and their qdiscs, but a namespace stays
alive while a process is inside it, so `close()` first kills every process found in them. It
runs on leaving the `with` block (also on exceptions), on SIGINT/SIGTERM/SIGHUP (handlers that
raise KeyboardInterrupt/SystemExit are installed while the testbed is open, the previous ones
restored afterwards) and at interpreter exit (atexit). Only SIGKILL escapes; `cleanup_stale()`
removes what such runs left (names carry the owner's pid), `leftovers()` lists it.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import pickle
import re
import secrets
import select
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bondlab.procs import pid_alive

IP = "/usr/sbin/ip"
TC = "/usr/sbin/tc"
PREFIX = "bl"
NETNS_DIR = Path("/run/netns")
SYS_NET = Path("/sys/class/net")
CLONE_NEWNET = 0x40000000
SUBNET = 200  # links use 10.SUBNET.<index>.0/30
_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class NetnsError(RuntimeError):
    """An ip/tc command failed; the message holds the command line and its error output."""


def _check_prefix(prefix: str) -> None:
    if not re.fullmatch(r"[a-z]{1,4}", prefix):
        raise ValueError(f"prefix must be 1-4 lowercase letters, got {prefix!r}")


def _ns_pattern(prefix: str) -> re.Pattern[str]:
    return re.compile(rf"{re.escape(prefix)}(\d+)-([0-9a-f]+)-([srp])")


def _link_pattern(prefix: str) -> re.Pattern[str]:
    return re.compile(rf"{re.escape(prefix)}(\d+)l(\d+)([sr])")


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


def netns_pids(name: str) -> list[int]:
    """Processes whose network namespace is /run/netns/<name> (a /proc scan, no process start)."""
    try:
        inode = os.stat(NETNS_DIR / name).st_ino
    except FileNotFoundError:
        return []
    target = f"net:[{inode}]"
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{entry}/ns/net") == target:
                pids.append(int(entry))
        except OSError:
            continue
    return pids


def _kill_netns_processes(name: str, grace_s: float = 2.0) -> None:
    pids = [p for p in netns_pids(name) if p != os.getpid()]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace_s
        while pids and time.monotonic() < deadline:
            pids = [p for p in pids if pid_alive(p) and not _is_zombie(p)]
            time.sleep(0.02)
        if not pids:
            return


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def _delete_netns(names: Iterable[str]) -> list[str]:
    """Kill what runs inside, delete; the names that still exist afterwards."""
    names = [n for n in names if (NETNS_DIR / n).exists()]
    for name in names:
        _kill_netns_processes(name)
    if names:
        run([IP, "-force", "-batch", "-"], input="".join(f"netns delete {n}\n" for n in names), check=False)
    return [n for n in names if (NETNS_DIR / n).exists()]


def leftovers(prefix: str = PREFIX) -> list[str]:
    """bondlab namespaces ("netns:<name>") and host interfaces ("link:<name>") that exist now.

    Includes those of testbeds that are still running; see cleanup_stale for dead owners.
    """
    _check_prefix(prefix)
    found = []
    if NETNS_DIR.is_dir():
        found += [f"netns:{n}" for n in sorted(os.listdir(NETNS_DIR)) if _ns_pattern(prefix).fullmatch(n)]
    if SYS_NET.is_dir():
        found += [f"link:{n}" for n in sorted(os.listdir(SYS_NET)) if _link_pattern(prefix).fullmatch(n)]
    return found


def cleanup_stale(prefix: str = PREFIX) -> list[str]:
    """Remove leftovers whose owning process is dead (crashed or SIGKILLed runs); what was removed.

    The owner pid is part of every name. A live pid (even a reused one) keeps its leftovers.
    """
    removed = []
    stale_ns = []
    for item in leftovers(prefix):
        kind, name = item.split(":", 1)
        pattern = _ns_pattern(prefix) if kind == "netns" else _link_pattern(prefix)
        match = pattern.fullmatch(name)
        if match is None or pid_alive(int(match.group(1))):
            continue
        if kind == "netns":
            stale_ns.append(name)
        else:
            if run([IP, "link", "delete", name], check=False).returncode == 0:
                removed.append(item)
    still = _delete_netns(stale_ns)
    removed += [f"netns:{n}" for n in stale_ns if n not in still]
    return removed


def _setns(name: str) -> None:
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
                _setns(name)
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
        _delete_netns([name])


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


class TcBatch:
    """One long-lived `tc -n <ns> -force -batch -`: a command costs a line, not a process.

    send() returns at once; sync() waits until tc has processed everything sent so far (a
    deliberately failing `qdisc show dev <token>` marks the spot on stderr) and returns the
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
                if argv is not None and argv[-1] == f"bsy{lineno}":
                    self._synced = max(self._synced, lineno)
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

    def sync(self, timeout: float = 10.0) -> list[str]:
        """Wait for tc to catch up; the failures since the last sync (and forget them)."""
        with self._write_lock:
            token = self._count + 1
            self.send([TC, "qdisc", "show", "dev", f"bsy{token}"])
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
        _check_prefix(prefix)
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
        self._procs: list[subprocess.Popen[Any]] = []
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
            still = _delete_netns([self.sender_ns, self.receiver_ns])
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
