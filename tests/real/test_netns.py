"""bondlab.real.netns and .vm: namespaces, cleanup on every exit path, and netem inside a VM.

Needs root (skipped otherwise). The host tests need no netem; the VM test (marker `real`)
boots a virtme-ng VM where sch_netem exists and measures RTT through a shaped link.
This file doubles as the script the VM runs: `python test_netns.py vm-smoke OUT.json CODE`.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bondlab.real import netns, netns_cleanup, netns_commands
from bondlab.real.netns import Testbed
from bondlab.real.netns_cleanup import cleanup_stale, leftovers
from bondlab.real.netns_commands import IP, TC, NetnsError, call_in_netns

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")

ROOT = Path(__file__).resolve().parents[2]


def netns_list() -> set[str]:
    out = subprocess.run([IP, "netns", "list"], capture_output=True, text=True, check=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def mine(pid: int) -> list[str]:
    """Leftovers owned by `pid` (other runs may have testbeds open concurrently)."""
    return [item for item in leftovers() if item.split(":", 1)[1].startswith(f"{netns_cleanup.PREFIX}{pid}")]


def test_testbed_creates_and_removes_namespaces_and_veths() -> None:
    before = netns_list()
    with Testbed(["lte-a", "lte-b"]) as tb:
        assert {tb.sender_ns, tb.receiver_ns} <= netns_list() - before
        for i, name in enumerate(["lte-a", "lte-b"]):
            ends = tb.links[name]
            assert ends.index == i
            assert (ends.sender_ip, ends.receiver_ip) == (f"10.200.{i}.1", f"10.200.{i}.2")
            for ns, dev, ip in (
                (tb.sender_ns, ends.sender_dev, ends.sender_ip),
                (tb.receiver_ns, ends.receiver_dev, ends.receiver_ip),
            ):
                out = subprocess.run(
                    [IP, "-n", ns, "-br", "address", "show", "dev", dev],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
                assert "UP" in out and f"{ip}/30" in out
                assert "fe80" not in out  # no IPv6 chatter on the links
        host_links = os.listdir("/sys/class/net")
        assert not any(d.startswith(f"bl{os.getpid()}l") for d in host_links)  # veths live in the namespaces
        assert sorted(mine(os.getpid())) == sorted(f"netns:{n}" for n in (tb.sender_ns, tb.receiver_ns))
    assert netns_list() & {tb.sender_ns, tb.receiver_ns} == set()
    assert mine(os.getpid()) == []


def test_cleanup_when_body_raises() -> None:
    with pytest.raises(ZeroDivisionError):
        with Testbed(1) as tb:
            names = {tb.sender_ns, tb.receiver_ns}
            assert names <= netns_list()
            _ = 1 / 0
    assert names & netns_list() == set()
    tb.close()  # idempotent


def test_signal_handlers_installed_and_restored() -> None:
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    with Testbed(1):
        assert signal.getsignal(signal.SIGTERM) is not before[signal.SIGTERM]
    assert {sig: signal.getsignal(sig) for sig in before} == before


def test_traffic_crosses_each_link_and_processes_are_stopped() -> None:
    echo = textwrap.dedent("""
        import socket, sys
        socks = []
        for ip in sys.argv[1:]:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((ip, 7000)); socks.append(s)
        print("ready", flush=True)
        import selectors
        sel = selectors.DefaultSelector()
        for s in socks: sel.register(s, selectors.EVENT_READ)
        while True:
            for key, _ in sel.select():
                data, addr = key.fileobj.recvfrom(2048); key.fileobj.sendto(data, addr)
    """)
    with Testbed(["a", "b"]) as tb:
        ips = [e.receiver_ip for e in tb.links.values()]
        server = tb.popen("receiver", [sys.executable, "-c", echo, *ips], stdout=subprocess.PIPE, text=True)
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        for ends in tb.links.values():
            reply = tb.call("sender", udp_rtts, ends.receiver_ip, 7000, 3, timeout=30)
            assert len(reply) == 3
        # the sender namespace cannot reach the host's addresses: it has only the link subnets
        routes = tb.run(
            "sender", [IP, "-4", "route", "show"], capture_output=True, text=True, check=True
        ).stdout
        assert sorted(line.split()[0] for line in routes.splitlines()) == ["10.200.0.0/30", "10.200.1.0/30"]
    assert server.poll() is not None  # close() stopped it


def test_call_in_netns_result_exception_and_timeout() -> None:
    with Testbed(["x"]) as tb:
        names = tb.call("sender", lambda: sorted(n for _, n in socket.if_nameindex()))
        assert names == sorted(["lo", tb.links["x"].sender_dev])
        with pytest.raises(KeyError, match="boom"):
            tb.call("receiver", _raise_key_error)
        with pytest.raises(TimeoutError):
            call_in_netns(tb.receiver_ns, time.sleep, 30, timeout=0.5)


def _raise_key_error() -> None:
    raise KeyError("boom")


def htb_class(dev: str, rate: str, burst: int) -> list[str]:
    """The bottleneck class under a root htb (no netem above it on this host)."""
    where = f"class replace dev {dev} parent 10: classid 10:1 htb"
    return [TC, *where.split(), *f"rate {rate} ceil {rate} burst {burst} quantum 1514".split()]


def test_apply_and_sync_report_tc_failures() -> None:
    # htb and bfifo exist on the host kernel even where netem does not
    with Testbed(["a"]) as tb:
        dev = tb.links["a"].sender_dev
        tb.apply("a", [TC, "qdisc", "replace", "dev", dev, "root", "handle", "10:", "htb", "default", "1"])
        tb.apply("a", htb_class(dev, "5mbit", burst=6250))
        tb.apply(
            "a",
            [
                TC,
                "qdisc",
                "replace",
                "dev",
                dev,
                "parent",
                "10:1",
                "handle",
                "20:",
                "bfifo",
                "limit",
                "250000",
            ],
            wait=True,
        )
        shown = tb.qdiscs("a")
        assert "qdisc htb 10:" in shown and "bfifo 20:" in shown
        marks, before = [], time.monotonic()
        for rate in ("1mbit", "2mbit", "3mbit"):  # trace-like live rate changes, each marked
            tb.apply("a", htb_class(dev, rate, burst=1600))
            marks.append(tb.mark())
        tb.sync()
        # when tc got past each change: in order, after it was queued, before sync returned
        applied = [tb.applied_at(m) for m in marks]
        assert all(a is not None for a in applied), applied
        assert before <= applied[0] <= applied[1] <= applied[2] <= time.monotonic()
        classes = subprocess.run(
            [TC, "-n", tb.sender_ns, "class", "show", "dev", dev], capture_output=True, text=True, check=True
        ).stdout
        assert "rate 3Mbit" in classes
        tb.apply("a", [TC, "qdisc", "replace", "dev", dev, "parent", "10:1", "handle", "20:", "nosuchqdisc"])
        with pytest.raises(NetnsError, match="nosuchqdisc"):
            tb.sync()
        tb.sync()  # errors are reported once
        with pytest.raises(ValueError, match="not an end"):
            tb.apply("a", [TC, "qdisc", "show", "dev", "eth0"])


def test_shape_without_netem_fails_loudly_on_this_kernel() -> None:
    if netns.netem_available():
        pytest.skip("this kernel has netem")
    from bondlab.scenario import LinkSpec

    with Testbed(["a"]) as tb:
        with pytest.raises(NetnsError, match="netem"):
            tb.shape(LinkSpec(name="a", capacity_bps=5e6, delay_ms=20))


def test_netem_available_is_a_bool_and_leaves_nothing() -> None:
    assert isinstance(netns.netem_available(), bool)
    assert mine(os.getpid()) == []


CHILD = textwrap.dedent("""
    import json, sys, time
    from bondlab.real.netns import Testbed
    with Testbed(["a", "b"]) as tb:
        tb.popen("receiver", ["sleep", "300"])
        print(json.dumps([tb.sender_ns, tb.receiver_ns]), flush=True)
        while True:
            time.sleep(0.1)
""")


StartChild = Callable[[], tuple[subprocess.Popen[str], list[str]]]


@pytest.fixture
def start_child() -> Iterator[StartChild]:
    """Start a python child holding a Testbed; whatever a test leaves running is stopped after it."""
    children: list[subprocess.Popen[str]] = []

    def start() -> tuple[subprocess.Popen[str], list[str]]:
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT
        )
        children.append(child)
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line, child.stderr.read() if child.stderr else ""
        names = json.loads(line)
        assert set(names) <= netns_list()
        return child, names

    yield start
    for child in children:
        if child.poll() is None:
            child.terminate()  # SIGTERM: the child's Testbed cleans up
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
    cleanup_stale()


@pytest.mark.parametrize(
    "sig, code", [(signal.SIGINT, -signal.SIGINT), (signal.SIGTERM, 128 + signal.SIGTERM)]
)
def test_child_cleans_up_on_signal(start_child: StartChild, sig: int, code: int) -> None:
    child, names = start_child()
    child.send_signal(sig)
    assert child.wait(timeout=30) == code
    assert set(names) & netns_list() == set()
    assert mine(child.pid) == []


def test_cleanup_stale_after_sigkill(start_child: StartChild) -> None:
    child, names = start_child()
    deadline = time.monotonic() + 10
    while not (sleeper := netns_cleanup.netns_pids(names[1])) and time.monotonic() < deadline:
        time.sleep(0.05)  # `ip netns exec` enters the namespace, then execs sleep
    assert sleeper
    child.kill()
    child.wait(timeout=10)
    assert sorted(mine(child.pid)) == sorted(f"netns:{n}" for n in names)  # SIGKILL leaves them
    removed = cleanup_stale()
    assert set(f"netns:{n}" for n in names) <= set(removed)
    assert mine(child.pid) == []
    time.sleep(0.2)
    assert all(not Path(f"/proc/{p}").exists() or netns_cleanup._is_zombie(p) for p in sleeper)


def test_cleanup_stale_spares_live_owners() -> None:
    with Testbed(1) as tb:
        cleanup_stale()
        assert {tb.sender_ns, tb.receiver_ns} <= netns_list()


def udp_rtts(ip: str, port: int, count: int) -> list[float]:
    """Round-trip times (ms) of `count` UDP echoes, after one that may wait for ARP."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(2.0)
    deadline = time.monotonic() + 60
    while True:  # the echo server may still be starting
        sock.sendto(b"warmup", (ip, port))
        try:
            sock.recvfrom(2048)
            break
        except TimeoutError:
            if time.monotonic() > deadline:
                raise
    rtts = []
    for i in range(count):
        t0 = time.monotonic()
        sock.sendto(f"probe{i}".encode() * 50, (ip, port))
        while True:
            data, _ = sock.recvfrom(2048)
            if data.startswith(f"probe{i}".encode()):
                break
        rtts.append((time.monotonic() - t0) * 1000)
        time.sleep(0.02)
    return rtts


# -- inside a VM: netem works there -------------------------------------------------------------


ECHO = textwrap.dedent("""
    import socket, sys
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((sys.argv[1], int(sys.argv[2])))
    print("ready", flush=True)
    s.settimeout(120)
    while True:
        data, addr = s.recvfrom(2048)
        s.sendto(data, addr)
""")


def vm_smoke(out: Path, exit_code: int) -> int:
    """Runs inside the VM: a Testbed with one 50 ms link, RTT before/after a live change."""
    from bondlab.real.shaping import change_argvs
    from bondlab.scenario import LinkSpec

    t0 = time.monotonic()
    result: dict[str, object] = {"netem": netns.netem_available()}
    spec = LinkSpec(name="l0", capacity_bps=10_000_000, delay_ms=50)
    with Testbed(["l0"]) as tb:
        ends = tb.links["l0"]
        tb.shape(spec)
        result["qdiscs"] = tb.qdiscs("l0")
        server = tb.popen(
            "receiver",
            [sys.executable, "-c", ECHO, ends.receiver_ip, "7000"],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        result["rtts_ms"] = tb.call("sender", udp_rtts, ends.receiver_ip, 7000, 8, timeout=90)
        _, argvs = change_argvs(spec, {"delay_ms": 100}, ends.sender_dev, ends.receiver_dev)
        for argv in argvs:
            tb.apply("l0", argv)
        tb.sync()
        result["rtts_after_ms"] = tb.call("sender", udp_rtts, ends.receiver_ip, 7000, 4, timeout=90)
        result["names"] = [tb.sender_ns, tb.receiver_ns]
    result["leftovers"] = leftovers()
    result["netns_after"] = (
        sorted(os.listdir(netns_commands.NETNS_DIR)) if netns_commands.NETNS_DIR.is_dir() else []
    )
    result["inside_s"] = time.monotonic() - t0
    out.write_text(json.dumps(result))
    return exit_code


@pytest.mark.real
@pytest.mark.timeout(300)
def test_vm_netem_delay_rtt_and_exit_status(tmp_path: Path, vm_lock: None) -> None:
    from bondlab.real.vm import run_in_vm

    ok, reason = netns.can_run_vm()
    if not ok:
        pytest.skip(reason)
    out = tmp_path / "smoke.json"
    result = run_in_vm(
        [sys.executable, str(Path(__file__).resolve()), "vm-smoke", str(out), "23"],
        rwdirs=[tmp_path],
        timeout_s=240,
        cwd=ROOT,
    )
    print(f"VM run took {result.elapsed_s:.1f} s")
    assert result.returncode == 23, result.stderr[-2000:]  # the inner exit status comes back
    data = json.loads(out.read_text())  # written through --rwdir
    print(
        f"inside the VM: {data['inside_s']:.1f} s, RTTs {data['rtts_ms']}, "
        f"after the change {data['rtts_after_ms']}"
    )
    assert data["netem"] is True
    assert "netem 1:" in data["qdiscs"] and "delay 50ms" in data["qdiscs"] and "htb 10:" in data["qdiscs"]
    rtts = data["rtts_ms"]
    assert min(rtts) >= 99.0  # 50 ms each way
    assert statistics.median(rtts) < 180.0  # TCG adds some ms of processing, not tens
    after = data["rtts_after_ms"]
    assert min(after) >= 199.0 and statistics.median(after) < 290.0
    assert data["leftovers"] == [] and data["netns_after"] == []
    assert group_members(result.pgid) == []  # nothing of the VM (qemu) is left on the host


def group_members(pgid: int) -> list[int]:
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


def test_vm_timeout_kills_the_whole_process_group(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without booting: run_in_vm's timeout handling, with a stand-in for vng that has a child."""
    from bondlab.real import vm

    fake = tmp_path / "vng"
    fake.write_text("#!/bin/sh\necho booting\nsleep 300 &\nwait\n")  # the child plays qemu
    fake.chmod(0o755)
    monkeypatch.setattr(vm, "find_vng", lambda: str(fake))
    with pytest.raises(vm.VMTimeout) as info:
        vm.run_in_vm(["true"], timeout_s=1.0, forward_output=False)
    assert "booting" in str(info.value.output)
    assert info.value.pgid > 0 and group_members(info.value.pgid) == []


def test_a_stalled_boot_is_killed_and_said_and_a_started_one_runs_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The boot watchdog: a guest that never starts the command within boot_timeout_s is killed
    (VMBootStalled, a VMTimeout, the whole group gone); one that started is left to finish."""
    from bondlab.real import vm

    fake = tmp_path / "vng"
    fake.write_text("#!/bin/sh\nsleep 300 &\nsleep 1.5\nkill $!\n")  # qemu idle, then done at 1.5 s
    fake.chmod(0o755)
    monkeypatch.setattr(vm, "find_vng", lambda: str(fake))
    t = time.monotonic()
    with pytest.raises(vm.VMBootStalled) as info:
        vm.run_in_vm(
            ["true"], timeout_s=30.0, forward_output=False, started=lambda: False, boot_timeout_s=0.5
        )
    assert time.monotonic() - t < 1.4 and group_members(info.value.pgid) == []
    result = vm.run_in_vm(
        ["true"], timeout_s=30.0, forward_output=False, started=lambda: True, boot_timeout_s=0.5
    )
    assert result.returncode == 0 and result.elapsed_s >= 1.4


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "vm-smoke":
        sys.exit(vm_smoke(Path(sys.argv[2]), int(sys.argv[3])))
    print("usage: test_netns.py vm-smoke OUT.json EXIT_CODE", file=sys.stderr)
    sys.exit(2)
