"""Run a command inside a throwaway virtme-ng VM, for kernels (like CI's) that lack sch_netem.

virtme-ng boots the installed distribution kernel (/boot/vmlinuz-*) in QEMU with the host's root
filesystem shared read-only over 9p, so the venv, the repository and the tc/ip binaries are the
host's own. What to know (all checked with vng 1.42, QEMU TCG, Debian's 6.1 kernel):

* Command line: `vng --run /boot/vmlinuz-<v> --disable-kvm --user root --cpus 2 --memory 1G
  --rwdir <dir>... --exec "<sh script>"` with stdin from /dev/null; no terminal is needed.
* Exit status: vng returns the exit status of the --exec script (0, 3, 7, 23 and 200 were
  checked), so nothing has to be written to a file. The script preloads the modules and then
  `exec`s the command, so the status is the command's own; 125 means the module preload (or cd)
  failed; a command killed by a signal comes back as 255.
* stdout and stderr of the command come back on vng's stdout and stderr, separately, with
  plain "\\n" line ends; kernel messages do not (no --verbose).
* Writes: the guest sees the host tree read-only, except each --rwdir (same path inside).
  /tmp inside is an overlay of the host's /tmp whose writes vanish with the VM; /run is a tmpfs,
  so `ip netns add` (/run/netns) works without any extra mount.
* PATH inside is /sbin:/usr/sbin:/bin:/usr/bin:/run/current-system/sw/bin:...; there is no
  `ping` (iputils is not installed, busybox's is not linked). ip and tc are called by full path
  (/usr/sbin/ip, /usr/sbin/tc) so no busybox applet can shadow them; the guest PATH set here
  starts with the venv's bin.
* KVM: /dev/kvm may exist where KVM does not work (nested, CPU without vmx): the guest then hangs
  at boot. --disable-kvm is the default; kvm=True opts in.
* Speed (TCG): the command starts 20-28 s after vng does (measured with the host's 2 cores
  loaded by other jobs; 14-17 s of it are the guest's udev settling) and the whole VM run of a
  trivial command takes 34-39 s. Guest code runs ~10x slower than on the host and a process
  start costs 0.2-0.7 s (fork/exec of a dynamically linked binary), hence `tc -batch` for live
  changes.
* All processes (vng, virtme-run, qemu) stay in the process group of vng: the runner starts vng
  in a new session and kills the whole group on timeout or Ctrl-C (and SIGTERM/SIGHUP, which
  real/api.py turns into an exception), so no qemu survives.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO

DEFAULT_MODULES = ("veth", "sch_netem", "sch_htb")
MODPROBE_FAILED = 125
QEMU = "qemu-system-x86_64"


class VMError(RuntimeError):
    """The VM cannot be started here (missing kernel, QEMU, vng or busybox)."""


class VMTimeout(subprocess.TimeoutExpired):
    """The command did not finish in time; the VM (process group `pgid`) has been killed."""


class VMBootStalled(VMTimeout):
    """The guest never started the command within the boot budget (TCG boots hang now and then:
    qemu idle at ~0 CPU with the guest silent); the VM has been killed, booting again may work."""

    pgid: int = 0


class VMResult(subprocess.CompletedProcess[str]):
    """CompletedProcess of the command run in the VM, plus the VM run's wall time and the
    process group id it ran in (empty once run_in_vm returns)."""

    elapsed_s: float = 0.0
    pgid: int = 0


def _version_key(path: Path) -> list[object]:
    version = path.name.removeprefix("vmlinuz-")
    return [int(part) if part.isdigit() else part for part in re.split(r"[.-]", version)]


def find_kernel(boot_dir: Path = Path("/boot")) -> Path | None:
    """The running kernel's /boot image if installed, else the newest readable /boot/vmlinuz-*."""
    running = boot_dir / f"vmlinuz-{os.uname().release}"
    if running.is_file() and os.access(running, os.R_OK):
        return running
    candidates = [p for p in boot_dir.glob("vmlinuz-*") if p.is_file() and os.access(p, os.R_OK)]
    if not candidates:
        return None
    try:
        return max(candidates, key=_version_key)
    except TypeError:  # mixed version shapes: fall back to names
        return max(candidates, key=lambda p: p.name)


def find_vng() -> str | None:
    """vng on PATH, else next to this interpreter (the venv's bin)."""
    found = shutil.which("vng")
    if found:
        return found
    for bindir in (Path(sys.executable).parent, Path(sys.prefix) / "bin"):
        candidate = bindir / "vng"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def vm_prerequisites() -> tuple[bool, str]:
    """(ok, reason): whether run_in_vm can work on this machine, and what is missing or in use."""
    missing = []
    qemu = shutil.which(QEMU)
    if not qemu:
        missing.append(f"{QEMU} (apt install qemu-system-x86)")
    kernel = find_kernel()
    if kernel is None:
        missing.append("a readable /boot/vmlinuz-* (apt install linux-image-amd64)")
    vng = find_vng()
    if not vng:
        missing.append("vng (pip install virtme-ng into the venv)")
    if not (shutil.which("busybox") or Path("/bin/busybox").exists()):
        missing.append("busybox (apt install busybox-static)")
    if missing:
        return False, "missing " + ", ".join(missing)
    return True, f"kernel {kernel}, {vng}, TCG emulation (slow: ~10x, boot 12-50 s)"


def guest_script(
    argv: Sequence[str],
    env: Mapping[str, str] | None = None,
    modules: Iterable[str] = DEFAULT_MODULES,
    cwd: str | Path | None = None,
) -> str:
    """The sh script given to --exec: preload modules, cd, then exec the command with env."""
    mods = list(modules)
    parts = []
    if mods:
        parts.append(f"/usr/sbin/modprobe -a {shlex.join(mods)} || exit {MODPROBE_FAILED}")
    if cwd is not None:
        parts.append(f"cd {shlex.quote(str(cwd))} || exit {MODPROBE_FAILED}")
    guest_env = {"PATH": f"{Path(sys.executable).parent}:/usr/sbin:/usr/bin:/sbin:/bin"}
    guest_env.update(env or {})
    for key in guest_env:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise ValueError(f"invalid environment variable name {key!r}")
    assignments = [f"{k}={v}" for k, v in guest_env.items()]
    parts.append("exec " + shlex.join(["/usr/bin/env", *assignments, *argv]))
    return "; ".join(parts)


def build_vng_argv(
    argv: Sequence[str],
    *,
    rwdirs: Iterable[str | Path] = (),
    env: Mapping[str, str] | None = None,
    kernel: str | Path | None = None,
    memory: str = "1G",
    cpus: int = 2,
    modules: Iterable[str] = DEFAULT_MODULES,
    cwd: str | Path | None = None,
    kvm: bool = False,
) -> list[str]:
    """The vng command line for `argv` (no shell involved on the host side).

    KVM stays off unless `kvm=True`: a /dev/kvm that exists is no proof that it works (on this
    project's CI host it is present but the CPU has no vmx, and the guest hangs at boot).
    """
    if not argv:
        raise ValueError("empty command")
    vng = find_vng()
    if vng is None:
        raise VMError("vng not found (pip install virtme-ng)")
    kernel_path = Path(kernel) if kernel is not None else find_kernel()
    if kernel_path is None:
        raise VMError("no readable /boot/vmlinuz-* to boot")
    out = [vng, "--run", str(kernel_path), "--user", "root", "--cpus", str(cpus), "--memory", memory]
    if not kvm:
        out.insert(3, "--disable-kvm")
    for d in rwdirs:
        path = Path(d).resolve()
        if not path.is_dir():
            raise ValueError(f"rwdir {path} is not a directory")
        out += ["--rwdir", str(path)]
    workdir = Path(cwd).resolve() if cwd is not None else Path.cwd()
    out += ["--exec", guest_script(argv, env, modules, workdir)]
    return out


def _pump(stream: IO[str], sink: list[str], echo: IO[str] | None, muted: threading.Event) -> None:
    for line in stream:
        sink.append(line)
        if echo is not None and not muted.is_set():
            try:
                echo.write(line)
                echo.flush()
            except (OSError, ValueError):
                echo = None
    stream.close()


class _Stalled(Exception):
    pass


def _exited(
    pid: int, timeout_s: float, started: Callable[[], bool] | None = None, boot_timeout_s: float = 0.0
) -> bool:
    """Wait for `pid` to exit without reaping it (a zombie leader keeps its process group id);
    _Stalled if `started()` is still false `boot_timeout_s` in."""
    now = time.monotonic()
    deadline, boot_deadline = now + timeout_s, now + boot_timeout_s
    while True:
        try:
            if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                return True
        except ChildProcessError:
            return True
        now = time.monotonic()
        if started is not None:
            if started():
                started = None
            elif now >= boot_deadline:
                raise _Stalled
        if now >= deadline:
            return False
        time.sleep(0.05)


def _killpg(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def _kill_group(proc: subprocess.Popen[str], grace_s: float = 3.0) -> None:
    """SIGTERM, then SIGKILL, the VM's process group; the leader is reaped only afterwards."""
    _killpg(proc.pid, signal.SIGTERM)
    _exited(proc.pid, grace_s)
    _killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def run_in_vm(
    argv: Sequence[str],
    rwdirs: Iterable[str | Path] = (),
    timeout_s: float = 600.0,
    env: Mapping[str, str] | None = None,
    *,
    kernel: str | Path | None = None,
    memory: str = "1G",
    cpus: int = 2,
    modules: Iterable[str] = DEFAULT_MODULES,
    cwd: str | Path | None = None,
    forward_output: bool = True,
    kvm: bool = False,
    started: Callable[[], bool] | None = None,
    boot_timeout_s: float = 300.0,
) -> VMResult:
    """Boot a VM, run `argv` as root inside it, return its exit status and output.

    stdout/stderr are captured and, with `forward_output`, echoed line by line to ours as they
    come. On timeout the VM's whole process group is killed and VMTimeout (a TimeoutExpired)
    is raised with the output so far; on KeyboardInterrupt/SystemExit the group is killed
    before the exception propagates. `started`: a check that the guest has begun the command
    (e.g. a file it writes first); false for `boot_timeout_s` means the boot stalled: the VM is
    killed and VMBootStalled raised.
    """
    cmd = build_vng_argv(
        argv,
        rwdirs=rwdirs,
        env=env,
        kernel=kernel,
        memory=memory,
        cpus=cpus,
        modules=modules,
        cwd=cwd,
        kvm=kvm,
    )
    host_env = dict(os.environ)
    vng_dir = str(Path(cmd[0]).parent)
    host_env["PATH"] = vng_dir + os.pathsep + host_env.get("PATH", "/usr/bin:/bin")
    out: list[str] = []
    err: list[str] = []
    start = time.monotonic()
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        env=host_env,
        start_new_session=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    # Muted while the VM is being killed: qemu's "terminating on signal 15" is not news to a user
    # who pressed Ctrl-C or sent SIGTERM, and the caller prints its own line.
    muted = threading.Event()
    pumps = [
        threading.Thread(
            target=_pump, args=(proc.stdout, out, sys.stdout if forward_output else None, muted), daemon=True
        ),
        threading.Thread(
            target=_pump, args=(proc.stderr, err, sys.stderr if forward_output else None, muted), daemon=True
        ),
    ]
    for t in pumps:
        t.start()
    try:
        finished = _exited(proc.pid, timeout_s, started, boot_timeout_s)
    except _Stalled:
        _kill_group(proc)
        for t in pumps:
            t.join(timeout=5)
        stalled = VMBootStalled(cmd, boot_timeout_s, output="".join(out), stderr="".join(err))
        stalled.pgid = proc.pid
        raise stalled from None
    except BaseException:
        muted.set()
        _kill_group(proc)
        raise
    if not finished:
        _kill_group(proc)
        for t in pumps:
            t.join(timeout=5)
        timeout_exc = VMTimeout(cmd, timeout_s, output="".join(out), stderr="".join(err))
        timeout_exc.pgid = proc.pid
        raise timeout_exc
    # vng has exited and is not reaped yet, so its group id cannot have been reused: sweep the
    # group (normally empty, vng waits for qemu) before reaping.
    _killpg(proc.pid, signal.SIGKILL)
    returncode = proc.wait()
    for t in pumps:
        t.join(timeout=10)
    result = VMResult(cmd, returncode, "".join(out), "".join(err))
    result.elapsed_s = time.monotonic() - start
    result.pgid = proc.pid
    return result


def main(args: Sequence[str] | None = None) -> int:
    """`python -m bondlab.real.vm CMD...`: run CMD in the VM (cwd and the cwd tree writable)."""
    argv = list(sys.argv[1:] if args is None else args)
    if not argv or argv[0] in ("-h", "--help"):
        print(
            "usage: python -m bondlab.real.vm COMMAND [ARG...]  (runs as root in a virtme-ng VM;"
            " the current directory is writable)"
        )
        return 2
    ok, reason = vm_prerequisites()
    if not ok:
        print(f"cannot run a VM: {reason}", file=sys.stderr)
        return 2
    return run_in_vm(argv, rwdirs=[Path.cwd()]).returncode


if __name__ == "__main__":
    sys.exit(main())
