"""The bonded receiver's network side, run inside the receiver namespace: read every librist
receiver context, stamp each payload's release on CLOCK_MONOTONIC, write arrivals.npy at SIGTERM.
Reads are batched in C (`RistReceiver.read_arrivals`): the TCG VM has no CPU for a Python object
per packet, and a reader that falls behind lets librist's output FIFO fill.

librist releases a packet on its own schedule (write time + the one-way delay at flow start +
`buffer`), so these times are librist's output times, not network arrivals. The run is judged
from the wire instead (real/capture.py records each packet's first arrival on the receiver's
veths); arrivals.npy says which packets librist delivered at all: a packet it never released is
not on time whatever the wire says. Its times only stand in for a packet the capture missed.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading

import numpy as np

from bondlab.real import librist
from bondlab.real.librist_arrivals import ArrivalBatch
from bondlab.real.proc import signal_ready, start_process

log = logging.getLogger("bondlab.real.receiver")
ARRIVAL_DTYPE = [("seq", "i8"), ("frame_id", "i8"), ("arrival", "f8"), ("link", "i2"), ("write_t", "f8")]


class RealReceiver:
    def __init__(self, listen_urls: list[str], one_context: bool) -> None:
        """One receiver context per link (rr, dwrr), or one with a peer per link (rist-weighted)."""
        self.contexts: list[librist.RistReceiver] = []
        if one_context:
            rx = librist.RistReceiver()
            for url in listen_urls:
                rx.add_peer(url)
            self.contexts.append(rx)
        else:
            for url in listen_urls:
                rx = librist.RistReceiver()
                rx.add_peer(url)
                self.contexts.append(rx)
        self.rows: list[tuple[int, int, float, int, float]] = []  # seq, frame_id, arrival, link, write_t
        self.bad = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._read, args=(rx,), daemon=True) for rx in self.contexts]

    def start(self) -> None:
        for rx in self.contexts:
            rx.start()
        for th in self._threads:
            th.start()

    def _read(self, rx: librist.RistReceiver) -> None:
        batch = ArrivalBatch()
        while not self._stop.is_set():
            n = rx.read_arrivals(batch, 50)
            if n:
                rows = batch.rows(n)
                with self._lock:
                    self.rows.extend(rows)
        with self._lock:
            self.bad += batch.bad

    def stop(self) -> None:
        self._stop.set()
        for th in self._threads:
            th.join(timeout=2.0)
        for rx in self.contexts:
            rx.close()

    def arrivals(self) -> np.ndarray:
        with self._lock:
            return np.array(self.rows, dtype=ARRIVAL_DTYPE)


def main(argv: list[str] | None = None) -> int:
    """`python -m bondlab.real.receiver CONFIG.json OUT_DIR`: receive until SIGTERM, then write arrivals."""
    args = sys.argv[1:] if argv is None else argv
    config, out = start_process(args, "receiver")
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    rx = RealReceiver(config["listen_urls"], config["scheduler"] == "rist-weighted")
    rx.start()
    signal_ready(out / "receiver.ready", "ok")
    done.wait(timeout=float(config.get("receiver_timeout_s", 3600)))
    rx.stop()
    np.save(out / "arrivals.npy", rx.arrivals())
    (out / "receiver.json").write_text(json.dumps({"payloads": len(rx.rows), "not_ours": rx.bad}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
