"""Finding and removing what testbeds left behind: bondlab's namespaces and interfaces, and the
processes inside a namespace.

Why a module of its own: a namespace stays alive while a process is inside it, so deleting one
means killing what runs there first (`delete_netns`, used by `Testbed.close`). A run killed by
SIGKILL closes nothing; every name carries its owner's pid (`PREFIX` + pid, see
`Testbed`), so `cleanup_stale()` removes what belongs to dead owners and `leftovers()` lists what
exists now (`python -m bondlab.real.netns leftovers|cleanup`).
"""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterable
from pathlib import Path

from bondlab.procs import pid_alive
from bondlab.real.netns_commands import IP, NETNS_DIR, run

PREFIX = "bl"
SYS_NET = Path("/sys/class/net")


def check_prefix(prefix: str) -> None:
    if not re.fullmatch(r"[a-z]{1,4}", prefix):
        raise ValueError(f"prefix must be 1-4 lowercase letters, got {prefix!r}")


def _ns_pattern(prefix: str) -> re.Pattern[str]:
    return re.compile(rf"{re.escape(prefix)}(\d+)-([0-9a-f]+)-([srp])")


def _link_pattern(prefix: str) -> re.Pattern[str]:
    return re.compile(rf"{re.escape(prefix)}(\d+)l(\d+)([sr])")


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


def delete_netns(names: Iterable[str]) -> list[str]:
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
    check_prefix(prefix)
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
    still = delete_netns(stale_ns)
    removed += [f"netns:{n}" for n in stale_ns if n not in still]
    return removed
