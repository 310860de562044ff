"""CPU cost of the sender's per-packet write: the Python path (BondHeader + protocol.pack +
RistSender.write per packet, as real/sender.py once did) against RistSender.write_burst (header built
in C, one call per frame and link), side by side and interleaved in one run.

The receiver runs in a child process, as in a real run, so this process's CPU is the sender's
alone: the calling thread (the Python loop and the write calls) plus librist's own threads.

    pytest tests/real/test_write_burst_benchmark.py -m benchmark -s     (~10 s)
    python tests/real/test_write_burst_benchmark.py --seconds 10        (fuller report, VM-friendly)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

librist = pytest.importorskip("bondlab.real.librist", reason="librist binding not built")

from bondlab.real.protocol import BondHeader, pack  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PACKET = 1316
PACKETS_PER_FRAME = 25  # 8 Mbit/s at 30 fps is ~25 packets of 1316 bytes
LINK_PATTERN = [0, 0, 0, 0, 0, 1]  # 10 + 2 Mbit/s: one packet in six on the slow link

RX_SCRIPT = r"""
import sys, threading
from bondlab.real import librist
rxs = []
for port in sys.argv[1:]:
    rx = librist.RistReceiver("main")
    rx.add_peer(f"rist://@127.0.0.1:{port}?buffer=200")
    rx.start()
    rxs.append(rx)
stop = threading.Event()
counts = [0] * len(rxs)
def drain(i):
    while not stop.is_set():
        if rxs[i].read_block(50) is not None:
            counts[i] += 1
threads = [threading.Thread(target=drain, args=(i,)) for i in range(len(rxs))]
for t in threads:
    t.start()
print("ready", flush=True)
sys.stdin.read()
stop.set()
for t in threads:
    t.join()
print(sum(counts), flush=True)
"""


def _free_even_port() -> int:
    sys.path.insert(0, str(Path(__file__).parent))
    from test_librist_binding import free_even_port

    return free_even_port()


class Bench:
    """Two sender contexts (one per link, as rr/dwrr) to a receiver process on loopback."""

    def __init__(self, stats_interval_ms: int = 100) -> None:
        ports = [_free_even_port(), _free_even_port()]
        self.rx = subprocess.Popen(
            [sys.executable, "-c", RX_SCRIPT, *map(str, ports)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # librist's fifo-overflow lines when a reader lags
            text=True,
            cwd=ROOT,
        )
        assert self.rx.stdout is not None and self.rx.stdout.readline().strip() == "ready"
        self.ready = [threading.Event() for _ in ports]
        self.senders = []
        for i, port in enumerate(ports):
            tx = librist.RistSender(
                "main",
                stats_callback=lambda s, e=self.ready[i]: e.set() if s.cname else None,
                stats_interval_ms=stats_interval_ms,
            )
            tx.add_peer(f"rist://127.0.0.1:{port}?buffer=200")
            tx.start()
            self.senders.append(tx)
        for event in self.ready:
            assert event.wait(5.0), "sender never completed the RTCP handshake"
        self.seq = 0
        self.frame_id = 0

    def close(self) -> int:
        time.sleep(0.5)  # the receiver releases packets buffer=200 ms after they were written
        for tx in self.senders:
            tx.close()
        out, _ = self.rx.communicate("", timeout=10)
        return int(out.split()[-1])

    # -- one frame, two ways -------------------------------------------------------------------
    def frame_python(self) -> None:
        """The old sender path: a BondHeader, pack() and write() per packet."""
        n, fid, capture = PACKETS_PER_FRAME, self.frame_id, time.monotonic()
        seq = self.seq
        for idx in range(n):
            link = LINK_PATTERN[seq % 6]  # stands in for controller.pick, same in both paths
            header = BondHeader(seq, fid, capture, n, idx, False, link, n * PACKET)
            self.senders[link].write(pack(header, PACKET, time.monotonic()))
            seq += 1
        self.seq, self.frame_id = seq, fid + 1

    def frame_burst(self) -> None:
        """Packets grouped per link while picking, then one write_burst per link."""
        n, fid, capture = PACKETS_PER_FRAME, self.frame_id, time.monotonic()
        seq = self.seq
        groups: list[tuple[list[int], list[int], list[int]]] = [([], [], []), ([], [], [])]
        for idx in range(n):
            seqs, indices, sizes = groups[LINK_PATTERN[seq % 6]]
            seqs.append(seq)
            indices.append(idx)
            sizes.append(PACKET)
            seq += 1
        for link, (seqs, indices, sizes) in enumerate(groups):
            if seqs:
                self.senders[link].write_burst(seqs, indices, sizes, fid, capture, n, False, link, n * PACKET)
        self.seq, self.frame_id = seq, fid + 1

    def run(self, frame: Callable[[], None] | None, frames: int, period_s: float) -> dict[str, float]:
        """`frames` frames (none written when `frame` is None), one per `period_s`; CPU seconds of
        the calling thread and of the whole process (librist's threads included)."""
        thread0, proc0, wall0 = time.thread_time(), time.process_time(), time.monotonic()
        next_t = wall0
        for _ in range(frames):
            if frame is not None:
                frame()
            next_t += period_s
            delay = next_t - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        return {
            "thread_cpu_s": time.thread_time() - thread0,
            "process_cpu_s": time.process_time() - proc0,
            "wall_s": time.monotonic() - wall0,
        }


def per_packet_cost(bench: Bench, rounds: int, frames: int, period_s: float) -> dict[str, object]:
    """Interleaved rounds of both paths and of the pacing alone ("idle": the same sleeps, nothing
    written); CPU seconds per 1000 packets, gross and net of idle, and python / burst ratios."""
    modes: dict[str, Callable[[], None] | None] = {
        "python": bench.frame_python,
        "burst": bench.frame_burst,
        "idle": None,
    }
    rows: dict[str, list[dict[str, float]]] = {m: [] for m in modes}
    for r in range(rounds):
        order = list(modes) if r % 2 == 0 else list(reversed(modes))
        for mode in order:
            rows[mode].append(bench.run(modes[mode], frames, period_s))
    packets = frames * PACKETS_PER_FRAME
    out: dict[str, object] = {"packets_per_round": packets, "rounds": rounds}
    mean: dict[tuple[str, str], float] = {}
    for mode, runs in rows.items():
        for key in ("thread_cpu_s", "process_cpu_s"):
            per_k = [1000 * run[key] / packets for run in runs]
            mean[mode, key] = sum(per_k) / len(per_k)
            out[f"{mode}_{key}_per_1000"] = round(mean[mode, key], 5)
            out[f"{mode}_{key}_per_1000_rounds"] = [round(x, 5) for x in per_k]
    for key in ("thread_cpu_s", "process_cpu_s"):
        py, burst, idle = mean["python", key], mean["burst", key], mean["idle", key]
        out[f"{key}_ratio_python_over_burst"] = round(py / burst, 2)
        out[f"{key}_net_of_idle_ratio"] = round((py - idle) / max(burst - idle, 1e-9), 2)
    return out


def stream_cost(bench: Bench, seconds: float, modes: list[str]) -> dict[str, dict[str, float]]:
    """The seed case's rate (8 Mbit/s: 30 frames/s of 25 packets), `seconds` per mode, in cores."""
    funcs: dict[str, Callable[[], None] | None] = {
        "idle": None,
        "python": bench.frame_python,
        "burst": bench.frame_burst,
    }
    out = {}
    for mode in modes:
        run = bench.run(funcs[mode], round(30 * seconds), 1 / 30)
        out[mode] = {
            "process_cores": round(run["process_cpu_s"] / run["wall_s"], 4),
            "calling_thread_cores": round(run["thread_cpu_s"] / run["wall_s"], 4),
            "librist_threads_cores": round((run["process_cpu_s"] - run["thread_cpu_s"]) / run["wall_s"], 4),
            "wall_s": round(run["wall_s"], 2),
        }
    return out


@pytest.mark.benchmark
def test_write_burst_is_cheaper_than_python_path() -> None:
    bench = Bench()
    try:
        micro = per_packet_cost(bench, rounds=4, frames=80, period_s=0.005)
        stream = stream_cost(bench, 2.0, ["idle", "python", "burst"])
    finally:
        received = bench.close()
    print("\nwrite_burst benchmark:", json.dumps({"per_packet": micro, "8mbps": stream}, indent=1))
    assert received > 0.99 * bench.seq  # the packets really went through librist
    assert micro["python_thread_cpu_s_per_1000"] > micro["burst_thread_cpu_s_per_1000"]  # type: ignore[operator]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="per mode of the 8 Mbit/s stream")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--frames", type=int, default=80, help="frames per round of the per-packet test")
    parser.add_argument("--period", type=float, default=0.005, help="seconds between frames (per-packet)")
    parser.add_argument("--stats-ms", type=int, default=100, help="librist stats interval")
    parser.add_argument("--modes", default="idle,python,burst")
    args = parser.parse_args()
    bench = Bench(args.stats_ms)
    try:
        result: dict[str, object] = {"cpus": os.cpu_count(), "stats_interval_ms": args.stats_ms}
        if args.rounds:
            result["per_packet"] = per_packet_cost(bench, args.rounds, args.frames, args.period)
        if args.seconds:
            result["8mbps"] = stream_cost(bench, args.seconds, args.modes.split(","))
    finally:
        result["packets_written"] = bench.seq
        result["packets_received"] = bench.close()
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
